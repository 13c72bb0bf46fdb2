// Command stocksync runs the stock engine.
//
//	stocksync dev   [--http ADDR] [--data DIR] [--kafka-port N] [--skus N]
//	stocksync serve --config FILE [--brokers LIST] [--http ADDR] [--data DIR]
//	                (--tokens-file FILE | --insecure-open)
//	stocksync admin --config FILE [--brokers LIST]
//
// This is the only package that reads flags and the environment.
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
	"github.com/stocksync/stocksync/auth"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/engine"
	"github.com/stocksync/stocksync/processors/fraud"
	"github.com/stocksync/stocksync/queryapi"
)

const usage = `stocksync: a real-time stock engine for retail.

Usage:
  stocksync dev   [--http 127.0.0.1:8080] [--data DIR] [--kafka-port 29092] [--skus 5000]
      Everything in one process on an embedded Kafka, with a demo catalogue.
  stocksync serve --config FILE [--brokers LIST] [--http ADDR] [--data DIR]
                  (--tokens-file FILE | --insecure-open)
      The engine against real Kafka brokers; the flags override the file.
      The API needs bearer tokens from the tokens file (docs/api.md);
      --insecure-open serves it without auth.
  stocksync admin --config FILE [--brokers LIST]
      Topics against the config, which instance owns which partition, consumer lag.

Environment: STOCKSYNC_LOG_LEVEL (debug, info, warn, error; default info);
STOCKSYNC_TOKENS_FILE (serve's --tokens-file when the flag is not given).
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := newLogger(os.Getenv("STOCKSYNC_LOG_LEVEL"))
	var err error
	switch os.Args[1] {
	case "dev":
		err = runDev(ctx, log, os.Args[2:])
	case "serve":
		err = runServe(ctx, log, os.Args[2:])
	case "admin":
		err = runAdmin(ctx, os.Stdout, os.Args[2:])
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "stocksync: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "stocksync: %v\n", err)
		os.Exit(1)
	}
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil || level == "" {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// instance is what a started stocksync shows its operator.
type instance struct {
	addr   string
	engine *engine.Engine
	mocks  map[string]string // channel → URL of its mock marketplace
}

// run starts the engine, its channels' mock marketplaces where the config
// asks for them, and the HTTP API, and blocks until ctx ends. A nil keyring
// serves /v1 open (dev on loopback, or serve --insecure-open). ready is
// called once the API listens.
func run(ctx context.Context, log *slog.Logger, settings *config.Config, keyring *auth.Keyring, ready func(instance)) error {
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
	eng, err := engine.New(engine.Config{Settings: settings, Registry: reg, Logger: log, Endpoints: endpoints,
		Advertise: advertiseURL(settings.HTTP)})
	if err != nil {
		return err
	}
	var antiFraud *fraud.Service // nil unless fraud.enabled
	var fraudRoutes queryapi.Fraud
	if settings.Fraud.Enabled {
		if antiFraud, err = fraud.New(fraud.Config{Settings: settings, Registry: reg, Logger: log}); err != nil {
			return err
		}
		fraudRoutes = antiFraud
	}
	api, err := queryapi.New(queryapi.Config{Engine: eng, Registry: reg, Gatherer: reg, Logger: log,
		WriteTimeout: settings.Engine.WriteTimeout.Duration, Auth: keyring, Open: keyring == nil,
		RatePerS: settings.HTTP.RatePerS, MaxInFlight: settings.HTTP.MaxInFlight, Fraud: fraudRoutes})
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
	errc := make(chan error, 3)
	go func() { errc <- eng.Run(engineCtx) }()
	fraudDone := make(chan struct{}) // closed once anti-fraud closed its tables
	go func() {
		defer close(fraudDone)
		if err := antiFraud.Run(engineCtx); err != nil {
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
	<-fraudDone
	return runErr
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

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
