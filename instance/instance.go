// Package instance assembles one stocksync instance, the same way for
// `stocksync dev` and `serve`, the benchmark and every test harness:
// settings → the engine of the configured backend → the HTTP API (queries,
// orders, imports, reconciliations, ops console, anti-fraud when enabled) → WMS
// readers, reconciliation runs and the consumer lag metric → run, stop.
// Everything the API reads is built before the listener serves its first
// request.
package instance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/auth"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/engine"
	"github.com/stocksync/stocksync/enginev2"
	"github.com/stocksync/stocksync/internal/buildinfo"
	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/marketplace/mock"
	"github.com/stocksync/stocksync/opsui"
	"github.com/stocksync/stocksync/queryapi"
	"github.com/stocksync/stocksync/topology"
)

// Engine is what an instance runs, of either backend: every role the API
// and the ops console ask of it, plus what tools in the same process use.
type Engine interface {
	queryapi.StockReader
	queryapi.FeedSubmitter
	queryapi.OrderReader
	queryapi.OrderSubmitter
	queryapi.Catalogue
	queryapi.Readiness
	queryapi.ChannelOperator
	opsui.Engine
	Run(ctx context.Context) error
	Names() topology.Names
	Producer() *kgo.Client // for tools in the same process (dev's demo catalogue)
}

// Config is one instance's assembly.
type Config struct {
	// Settings is the validated configuration; its http.addr is where the
	// API listens (port 0 picks a free one). Required.
	Settings *config.Config
	// Backend overrides Settings.Engine.Backend when not empty, written as
	// $STOCKSYNC_ENGINE is (goka or v1, txloop or v2). Default "".
	Backend string
	// Registry receives every metric, plus the Go, process and build ones.
	// Default a new registry.
	Registry *prometheus.Registry
	// Logger; default slog.Default().
	Logger *slog.Logger
	// InstanceID names this instance's Kafka clients and the txloop
	// engine's transactional id; keep it stable across restarts. Default
	// the host name and a digest of the data directory.
	InstanceID string
	// Endpoints are each channel's marketplace settings. Default: from the
	// channels' endpoint settings, with an in-process mock marketplace
	// started (and closed with the instance) for each `mock: true`.
	Endpoints map[string]marketplace.Config
	// TuneMock, when set, adjusts each mock marketplace the instance starts
	// (limits, cooldowns) before the engine is built. Default none.
	TuneMock func(c config.Channel, m *mock.Server, ep *marketplace.Config)
	// Auth requires bearer tokens of this keyring on /v1. Default nil: /v1
	// is open (dev on loopback, serve --insecure-open, tests).
	Auth *auth.Keyring
	// ReadyGate also has to answer nil before /readyz answers 200 (dev
	// seeds its demo catalogue). Default none.
	ReadyGate func() error
	// LagInterval is how often the consumer lag metric is refreshed;
	// default 15s (admin.LagCollectorConfig).
	LagInterval time.Duration
}

// Instance is one running stocksync.
type Instance struct {
	settings *config.Config
	log      *slog.Logger
	eng      Engine
	reg      *prometheus.Registry
	url      string
	mocks    map[string]*mock.Server
	stop     context.CancelFunc
	done     chan struct{}
	err      error // of the run, once done is closed
}

// Start builds the instance and runs it until ctx ends, a part of it fails,
// or Stop. When Start returns, the API listens and the engine is starting:
// WaitReady waits until it is ready.
func Start(ctx context.Context, cfg Config) (*Instance, error) {
	if cfg.Settings == nil {
		return nil, errors.New("instance: Config.Settings is required")
	}
	s := *cfg.Settings // a copy: the backend override stays this instance's
	if cfg.Backend != "" {
		b, err := config.ParseBackend(cfg.Backend)
		if err != nil {
			return nil, err
		}
		s.Engine.Backend = b
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	reg := cfg.Registry
	for _, c := range []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return nil, fmt.Errorf("instance: metrics: %w", err)
		}
	}
	if err := buildinfo.Register(reg); err != nil {
		return nil, err
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = defaultID(s.DataDir)
	}
	in := &Instance{settings: &s, log: cfg.Logger, reg: reg, done: make(chan struct{})}
	endpoints := cfg.Endpoints
	if endpoints == nil {
		var err error
		if endpoints, in.mocks, err = channelEndpoints(s.Channels); err != nil {
			return nil, err
		}
		if cfg.TuneMock != nil {
			for _, c := range s.Channels {
				if m := in.mocks[c.Name]; m != nil {
					ep := endpoints[c.Name]
					cfg.TuneMock(c, m, &ep)
					endpoints[c.Name] = ep
				}
			}
		}
	}
	p, err := in.assemble(cfg, endpoints)
	if err != nil {
		closeMocks(in.mocks)
		return nil, err
	}
	runCtx, stop := context.WithCancel(ctx)
	in.stop = stop
	go func() {
		defer close(in.done)
		defer closeMocks(in.mocks)
		in.err = p.run(runCtx)
	}()
	return in, nil
}

// defaultID is the host name and a digest of the data directory: stable
// across restarts of one instance, distinct between instances of a host.
func defaultID(dataDir string) string {
	host, _ := os.Hostname()
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	sum := sha256.Sum256([]byte(dataDir))
	return host + "-" + hex.EncodeToString(sum[:4])
}

// newEngine builds the engine of s.Engine.Backend; onResult sees every
// order answer (the console's order observer).
func newEngine(s *config.Config, cfg Config, advertise string, endpoints map[string]marketplace.Config,
	onResult func(contract.OrderResult)) (Engine, error) {
	switch s.Engine.Backend {
	case config.BackendTxloop:
		return enginev2.New(enginev2.Config{Settings: s, Registry: cfg.Registry, Logger: cfg.Logger, InstanceID: cfg.InstanceID,
			Advertise: advertise, Endpoints: endpoints, OnResult: onResult})
	case config.BackendGoka:
		return engine.New(engine.Config{Settings: s, Registry: cfg.Registry, Logger: cfg.Logger, InstanceID: cfg.InstanceID,
			Advertise: advertise, Endpoints: endpoints, OnResult: onResult})
	}
	return nil, fmt.Errorf("instance: engine.backend %q is not one of %s, %s", s.Engine.Backend, config.BackendGoka, config.BackendTxloop)
}

// URL is the API's base URL as this process reaches it (http://host:port).
func (in *Instance) URL() string { return in.url }

// Settings are the instance's settings, the backend override applied.
func (in *Instance) Settings() *config.Config { return in.settings }

// Engine is the instance's engine.
func (in *Instance) Engine() Engine { return in.eng }

// Registry holds the instance's metrics.
func (in *Instance) Registry() *prometheus.Registry { return in.reg }

// Mocks are the mock marketplaces the instance started, by channel.
func (in *Instance) Mocks() map[string]*mock.Server { return in.mocks }

// Done is closed once the instance stopped; Err then says why.
func (in *Instance) Done() <-chan struct{} { return in.done }

// Err is the run's error once Done is closed: nil after a clean stop.
func (in *Instance) Err() error {
	select {
	case <-in.done:
		return in.err
	default:
		return nil
	}
}

// Wait blocks until the instance stopped and returns Err.
func (in *Instance) Wait() error {
	<-in.done
	return in.err
}

// Stop stops the instance gracefully, as SIGTERM does (requests in flight
// are answered, then the engine closes its tables), and waits for it.
func (in *Instance) Stop() error {
	in.stop()
	return in.Wait()
}

// WaitReady waits until the engine is ready (its tables restored), the
// instance stops (its error), or ctx ends.
func (in *Instance) WaitReady(ctx context.Context) error {
	for {
		err := in.eng.Ready()
		if err == nil {
			return nil
		}
		select {
		case <-in.done:
			return fmt.Errorf("instance stopped before it was ready: %w", in.err)
		case <-ctx.Done():
			return fmt.Errorf("instance not ready: %w (last: %v)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// advertiseURL is the base URL other instances use to reach this one: the
// config's http.advertise, else the bound address when it names a host,
// else the host name.
func advertiseURL(h config.HTTP, bound net.Addr) string {
	if h.Advertise != "" {
		return h.Advertise
	}
	host, port, err := net.SplitHostPort(bound.String())
	if ip := net.ParseIP(host); err != nil || host == "" || ip != nil && ip.IsUnspecified() {
		host, _ = os.Hostname()
	}
	return "http://" + net.JoinHostPort(host, port)
}

// server is what serves the API.
func newServer(api http.Handler) *http.Server {
	return &http.Server{Handler: api, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
}
