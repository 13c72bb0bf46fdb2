package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kfake"
	"gopkg.in/yaml.v3"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/engine"
	"github.com/stocksync/stocksync/enginev2"
	"github.com/stocksync/stocksync/examples"
	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/marketplace/mock"
	"github.com/stocksync/stocksync/opsui"
	"github.com/stocksync/stocksync/queryapi"
	"github.com/stocksync/stocksync/reconcile"
	"github.com/stocksync/stocksync/topology"
)

// EngineSettings is examples/stocksync.yaml (its locations and channels)
// pointed at brokers, with a topic prefix, partitions, data directory and
// HTTP address of the run's own, and the API's limits lifted for a load
// generator. It returns the YAML too, for a child process's --config.
func EngineSettings(brokers []string, prefix string, partitions int32, dataDir, httpAddr string) (*config.Config, []byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(examples.Config, &doc); err != nil {
		return nil, nil, fmt.Errorf("bench: examples/stocksync.yaml: %w", err)
	}
	doc["kafka"] = map[string]any{"brokers": brokers, "topic_prefix": prefix, "partitions": partitions, "replication": 1}
	doc["http"] = map[string]any{"addr": httpAddr, "rate_per_s": 1e6, "max_in_flight": 100_000}
	doc["data_dir"] = dataDir
	doc["engine"] = map[string]any{"sweep_interval": "1s", "write_timeout": "10s"}
	data, err := yaml.Marshal(doc)
	if err != nil {
		return nil, nil, err
	}
	s, err := config.Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("bench: engine settings: %w", err)
	}
	return s, data, nil
}

// EngineConfig runs one stocksync instance inside this process: the engine
// and the HTTP API, assembled as `stocksync serve --insecure-open` does,
// with an in-process mock marketplace per channel.
type EngineConfig struct {
	// Settings of the instance (EngineSettings or config.Load). Required.
	Settings *config.Config
	// Registry receives the metrics. Default a new one.
	Registry *prometheus.Registry
	// Throttle keeps the mock marketplaces' real rate limits (Ozon: 80
	// requests a minute, …). Default off: the bench measures stocksync's
	// pipeline, not the marketplaces' quotas.
	Throttle bool
	// Endpoints, when set, are the channels' marketplaces by channel name,
	// instead of the mocks RunEngine starts (Throttle is then unused): a
	// caller that reads what the marketplaces show starts its own.
	Endpoints map[string]marketplace.Config
	// CPUProfile, when set, receives a pprof CPU profile of the whole run.
	CPUProfile string
	// Logger; default warnings to stderr.
	Logger *slog.Logger
	// Ready is called with the API's base URL once it listens.
	Ready func(url string)
	// ConsoleViewers is how many open ops consoles to simulate: each asks
	// for what the console's live tab refreshes (ConsoleViewer). The
	// console itself runs always, as in `stocksync serve`. Default 0.
	ConsoleViewers int
}

// RunEngine runs the instance until ctx ends.
func RunEngine(ctx context.Context, cfg EngineConfig) error {
	if cfg.Settings == nil {
		return errors.New("bench: EngineConfig.Settings is required")
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
		cfg.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s := cfg.Settings
	endpoints := cfg.Endpoints
	if endpoints == nil {
		endpoints = map[string]marketplace.Config{}
		for _, c := range s.Channels {
			m, err := mock.New(c.Marketplace)
			if err != nil {
				return err
			}
			defer m.Close()
			m.Throttle(cfg.Throttle)
			if !cfg.Throttle {
				m.SetCooldown(0) // Ozon's once-per-30s per item
			}
			ep := m.Config()
			ep.Channel = c.Name
			endpoints[c.Name] = ep
		}
	}
	var eng interface {
		queryapi.Engine
		opsui.Engine
		Run(context.Context) error
	}
	orders, err := opsui.NewOrders(cfg.Registry)
	if err != nil {
		return err
	}
	if os.Getenv("STOCKSYNC_ENGINE") == "v2" {
		// The new engine (docs/design.md), while it grows; no pushers yet.
		eng, err = enginev2.New(enginev2.Config{Settings: s, Registry: cfg.Registry, Logger: cfg.Logger, Endpoints: endpoints,
			InstanceID: fmt.Sprintf("bench-%d", os.Getpid()), OnResult: orders.Observe})
	} else {
		eng, err = engine.New(engine.Config{Settings: s, Registry: cfg.Registry, Logger: cfg.Logger, Endpoints: endpoints,
			InstanceID: fmt.Sprintf("bench-%d", os.Getpid()), OnResult: orders.Observe})
	}
	if err != nil {
		return err
	}
	recons, err := reconcile.New(reconcile.Config{Engine: eng, Kafka: &s.Kafka, Settings: s.Reconcile,
		Instance: fmt.Sprintf("bench-%d", os.Getpid()), Registry: cfg.Registry, Logger: cfg.Logger})
	if err != nil {
		return err
	}
	security, err := s.Kafka.FranzOpts()
	if err != nil {
		return err
	}
	console, err := opsui.New(opsui.Config{Engine: eng, Orders: orders, Gatherer: cfg.Registry, Brokers: s.Kafka.Brokers, Opts: security,
		Names: topology.New(s.Kafka.TopicPrefix), Instance: fmt.Sprintf("bench-%d", os.Getpid())})
	if err != nil {
		return err
	}
	defer console.Close()
	api, err := queryapi.New(queryapi.Config{Engine: eng, Registry: cfg.Registry, Gatherer: cfg.Registry, Logger: cfg.Logger,
		WriteTimeout: s.Engine.WriteTimeout.Duration, Open: true, RatePerS: s.HTTP.RatePerS, MaxInFlight: s.HTTP.MaxInFlight,
		Reconciliations: recons, Console: console})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.HTTP.Addr)
	if err != nil {
		return err
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			ln.Close()
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			ln.Close()
			f.Close()
			return err
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	go func() { errc <- eng.Run(ctx) }()
	reconDone := make(chan struct{})
	go func() {
		defer close(reconDone)
		if err := recons.Run(ctx); err != nil {
			errc <- err
		}
	}()
	go console.Run(ctx)
	for range cfg.ConsoleViewers {
		go ConsoleViewer(ctx, "http://"+ln.Addr().String())
	}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	if cfg.Ready != nil {
		cfg.Ready("http://" + ln.Addr().String())
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	shutdown, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	_ = srv.Shutdown(shutdown)
	cancel()
	if runErr == nil {
		runErr = <-errc
	}
	<-reconDone
	return runErr
}

// RunKfake serves an embedded Kafka (kfake, one broker) on addr until ctx
// ends: stocksync's reference backend, not durable. ready gets its address.
func RunKfake(ctx context.Context, port int, ready func(addr string)) error {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port))
	if err != nil {
		return err
	}
	defer c.Close()
	if ready != nil {
		ready(c.ListenAddrs()[0])
	}
	<-ctx.Done()
	return nil
}
