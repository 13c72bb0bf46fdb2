// Command stocksync runs the stock engine.
//
//	stocksync dev   [--http ADDR] [--data DIR] [--kafka-port N] [--skus N]
//	stocksync serve --config FILE [--brokers LIST] [--http ADDR] [--data DIR]
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
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/engine"
	"github.com/stocksync/stocksync/queryapi"
)

const usage = `stocksync: a real-time stock engine for retail.

Usage:
  stocksync dev   [--http 127.0.0.1:8080] [--data DIR] [--kafka-port 29092] [--skus 5000]
      Everything in one process on an embedded Kafka, with a demo catalogue.
  stocksync serve --config FILE [--brokers LIST] [--http ADDR] [--data DIR]
      The engine against real Kafka brokers; the flags override the file.

Environment: STOCKSYNC_LOG_LEVEL (debug, info, warn, error; default info).
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

// run starts the engine and its HTTP API and blocks until ctx ends. ready is
// called once the API listens.
func run(ctx context.Context, log *slog.Logger, settings *config.Config, ready func(addr string, eng *engine.Engine)) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	eng, err := engine.New(engine.Config{Settings: settings, Registry: reg, Logger: log})
	if err != nil {
		return err
	}
	api, err := queryapi.New(queryapi.Config{Engine: eng, Registry: reg, Gatherer: reg, Logger: log,
		WriteTimeout: settings.Engine.WriteTimeout.Duration, Open: true})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", settings.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (is another stocksync running? pick another with --http): %w", settings.HTTP.Addr, err)
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- eng.Run(ctx) }()
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	if ready != nil {
		ready(ln.Addr().String(), eng)
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	log.Info("stopping: finishing in-flight requests and closing tables")
	shutdown, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	_ = srv.Shutdown(shutdown)
	cancel()
	if runErr == nil {
		runErr = <-errc
	}
	return runErr
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
