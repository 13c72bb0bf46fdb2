// Command stocksync runs the stock engine.
//
//	stocksync dev   [--http ADDR] [--data DIR] [--kafka-port N] [--skus N]
//	stocksync serve --config FILE [--brokers LIST] [--http ADDR] [--data DIR]
//	                (--tokens-file FILE | --insecure-open)
//	stocksync admin --config FILE [--brokers LIST]
//	stocksync import --file F [--format csv|jsonl] [--source erp] [--version V]
//	                 [--api URL | --config FILE] [--state-dir DIR]
//	stocksync reconcile --file F [--format csv|jsonl] [--source erp] [--version V]
//	                 [--locations L1,L2] [--api URL | --config FILE]
//	stocksync version
//
// This is the only package that reads flags and the environment (cli.go
// lists the variables).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/stocksync/stocksync/admin"
	"github.com/stocksync/stocksync/auth"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/engine"
	"github.com/stocksync/stocksync/internal/buildinfo"
	"github.com/stocksync/stocksync/opsui"
	"github.com/stocksync/stocksync/processors/fraud"
	"github.com/stocksync/stocksync/queryapi"
	"github.com/stocksync/stocksync/reconcile"
	"github.com/stocksync/stocksync/topology"
	"github.com/stocksync/stocksync/wms"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const usage = `stocksync: a real-time stock engine for retail.

Usage:
  stocksync dev   [--http 127.0.0.1:8080] [--data DIR] [--kafka-port 29092] [--skus 5000]
      Everything in one process on an embedded Kafka, with a demo catalogue;
      /readyz answers 200 once the catalogue is applied.
  stocksync serve --config FILE [--brokers LIST] [--http ADDR] [--data DIR]
                  (--tokens-file FILE | --insecure-open)
      The engine against real Kafka brokers.
      The API needs bearer tokens from the tokens file (docs/api.md);
      --insecure-open serves it without auth.
  stocksync admin --config FILE [--brokers LIST]
      Topics against the config, which instance owns which partition, consumer lag.
  stocksync import --file F [--format csv|jsonl] [--source erp] [--version V]
                   [--api http://127.0.0.1:8080 | --config FILE] [--state-dir DIR]
      Sends an ERP export as snapshots, through an instance or straight to
      Kafka; resumes where an interrupted run stopped. Exit status 3: some
      rows were bad (listed by line), the others were sent.
  stocksync reconcile --file F [--format csv|jsonl] [--source erp] [--version V]
                   [--locations L1,L2] [--api http://127.0.0.1:8080 | --config FILE]
      Compares an ERP export with the engine: small drift is fixed as
      adjusts, larger drift reported (docs/reconciliation.md). Waits for the
      run and prints it. Exit status 4: drift was reported for an operator.

  stocksync version
      The version, revision and Go version of this binary.
  stocksync COMMAND --help
      The command's flags.

Environment (a flag wins over its variable, a variable over the config file):
  STOCKSYNC_CONFIG       --config of serve and admin
  STOCKSYNC_BROKERS      --brokers: comma-separated host:port (serve, admin)
  STOCKSYNC_HTTP         --http: the API's listen address (serve, dev)
  STOCKSYNC_TOKENS_FILE  --tokens-file of serve
  STOCKSYNC_LOG_LEVEL    debug, info, warn or error; default info
  STOCKSYNC_LOG_FORMAT   text or json (one object a line); default text
  STOCKSYNC_TOKEN        import's and reconcile's bearer token for --api
                         (import: stock:write; reconcile: stock:write and stock:read)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// instance is what a started stocksync shows its operator.
type instance struct {
	addr   string
	engine *engine.Engine
	mocks  map[string]string // channel → URL of its mock marketplace
}

// run starts the engine, its channels' mock marketplaces where the config
// asks for them, the consumer lag collector and the HTTP API, and blocks
// until ctx ends. A nil keyring serves /v1 open (dev on loopback, or serve
// --insecure-open). readyGate, when not nil, holds /readyz at 503 while it
// answers an error. ready is called once the API listens.
func run(ctx context.Context, log *slog.Logger, settings *config.Config, keyring *auth.Keyring, readyGate func() error, ready func(instance)) error {
	endpoints, mocks, err := channelEndpoints(settings.Channels)
	if err != nil {
		return err
	}
	defer func() {
		for _, m := range mocks {
			m.Close()
		}
	}()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := buildinfo.Register(reg); err != nil {
		return err
	}
	lag, closeLag, err := newLagCollector(settings, reg, log)
	if err != nil {
		return err
	}
	defer closeLag()
	orders, err := opsui.NewOrders(reg)
	if err != nil {
		return err
	}
	advertise := advertiseURL(settings.HTTP)
	eng, err := engine.New(engine.Config{Settings: settings, Registry: reg, Logger: log, Endpoints: endpoints,
		Advertise: advertise, OnResult: orders.Observe})
	if err != nil {
		return err
	}
	security, err := settings.Kafka.FranzOpts()
	if err != nil {
		return err
	}
	console, err := opsui.New(opsui.Config{Engine: eng, Orders: orders, Gatherer: reg, Brokers: settings.Kafka.Brokers, Opts: security,
		Names: topology.New(settings.Kafka.TopicPrefix), Instance: advertise})
	if err != nil {
		return err
	}
	defer console.Close()
	var antiFraud *fraud.Service // nil unless fraud.enabled
	var fraudRoutes queryapi.Fraud
	if settings.Fraud.Enabled {
		if antiFraud, err = fraud.New(fraud.Config{Settings: settings, Registry: reg, Logger: log}); err != nil {
			return err
		}
		fraudRoutes = antiFraud
	}
	recons, err := reconcile.New(reconcile.Config{Engine: eng, Kafka: &settings.Kafka, Settings: settings.Reconcile,
		Instance: advertise, Registry: reg, Logger: log})
	if err != nil {
		return err
	}
	api, err := queryapi.New(queryapi.Config{Engine: eng, Registry: reg, Gatherer: reg, Logger: log,
		WriteTimeout: settings.Engine.WriteTimeout.Duration, Auth: keyring, Open: keyring == nil,
		RatePerS: settings.HTTP.RatePerS, MaxInFlight: settings.HTTP.MaxInFlight, ReadyGate: readyGate, Fraud: fraudRoutes,
		Reconciliations: recons, Console: console, Instance: advertise})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", settings.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (is another stocksync running? pick another with --http): %w", settings.HTTP.Addr, err)
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	// The engine outlives the signal: requests in flight at SIGTERM still
	// need it to decide, so it stops only after the HTTP server drained.
	engineCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	errc := make(chan error, 6) // engine, HTTP server, WMS, anti-fraud, reconciliation: none may block on it
	go func() { errc <- eng.Run(engineCtx) }()
	go lag.Run(engineCtx)
	go console.Run(engineCtx)
	wmsDone := startWMS(engineCtx, log, settings, reg, errc)
	fraudDone := make(chan struct{}) // closed once anti-fraud closed its tables
	go func() {
		defer close(fraudDone)
		if err := antiFraud.Run(engineCtx); err != nil {
			errc <- err
		}
	}()
	reconDone := make(chan struct{}) // closed once a run going on has ended
	go func() {
		defer close(reconDone)
		if err := recons.Run(engineCtx); err != nil {
			errc <- err
		}
	}()
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	if ready != nil {
		inst := instance{addr: ln.Addr().String(), engine: eng, mocks: map[string]string{}}
		for name, m := range mocks {
			inst.mocks[name] = m.URL()
		}
		ready(inst)
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	log.Info("stopping: finishing in-flight requests, then closing tables")
	shutdown, done := context.WithTimeout(context.Background(), settings.Engine.WriteTimeout.Duration+2*time.Second)
	defer done()
	_ = srv.Shutdown(shutdown)
	cancel()
	if runErr == nil {
		runErr = <-errc
	}
	<-wmsDone
	<-fraudDone
	<-reconDone
	return runErr
}

// startWMS reads the config's WMS movements topics into stock.feed until
// ctx ends (then it closes the returned channel); a consumer that fails
// sends its error to errc.
func startWMS(ctx context.Context, log *slog.Logger, settings *config.Config, reg prometheus.Registerer, errc chan<- error) <-chan struct{} {
	done := make(chan struct{})
	if len(settings.WMS) == 0 {
		close(done)
		return done
	}
	names := topology.New(settings.Kafka.TopicPrefix)
	var locs []string
	for _, l := range settings.Locations {
		locs = append(locs, l.Name)
	}
	go func() {
		defer close(done)
		security, err := settings.Kafka.FranzOpts()
		if err == nil {
			err = wms.Run(ctx, wms.Config{Brokers: settings.Kafka.Brokers, Opts: security, Sources: settings.WMS, Locations: locs,
				FeedTopic: string(names.StockFeed), DLQTopic: string(names.DLQ), Registry: reg, Logger: log})
		}
		if err != nil {
			errc <- err
		}
	}()
	return done
}

// advertiseURL is the base URL other instances use to reach this one: the
// config's http.advertise, else the listen address when it names a host.
func advertiseURL(h config.HTTP) string {
	if h.Advertise != "" {
		return h.Advertise
	}
	host, port, err := net.SplitHostPort(h.Addr)
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		name, _ := os.Hostname()
		host = name
	}
	return "http://" + net.JoinHostPort(host, port)
}

// newLagCollector exports the consumer lag of every group (admin.Lag) on
// reg, through a Kafka client of its own; close releases the client.
func newLagCollector(settings *config.Config, reg prometheus.Registerer, log *slog.Logger) (*admin.LagCollector, func(), error) {
	security, err := settings.Kafka.FranzOpts()
	if err != nil {
		return nil, nil, err
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(settings.Kafka.Brokers...), kgo.ClientID("stocksync-lag")}, security...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("kafka client for the lag metric: %w", err)
	}
	c, err := admin.NewLagCollector(admin.LagCollectorConfig{Admin: kadm.NewClient(cl),
		Names: topology.New(settings.Kafka.TopicPrefix), Registry: reg, Logger: log})
	if err != nil {
		cl.Close()
		return nil, nil, err
	}
	return c, cl.Close, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
