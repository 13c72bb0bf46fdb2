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
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/stocksync/stocksync/auth"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/instance"
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
  stocksync admin repartition --config FILE --to M [--abort] [--fence-timeout 2m]
      Grows the new engine's partitions to M while orders flow; resumable;
      --abort gives up one whose topics have not grown (docs/operations.md).
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

Signals: SIGTERM and SIGINT stop gracefully; SIGUSR1 writes every goroutine's
stack to stderr and carries on (for a process that seems stuck).

Environment (a flag wins over its variable, a variable over the config file):
  STOCKSYNC_CONFIG       --config of serve and admin
  STOCKSYNC_BROKERS      --brokers: comma-separated host:port (serve, admin)
  STOCKSYNC_HTTP         --http: the API's listen address (serve, dev)
  STOCKSYNC_TOKENS_FILE  --tokens-file of serve
  STOCKSYNC_LOG_LEVEL    debug, info, warn or error; default info
  STOCKSYNC_LOG_FORMAT   text or json (one object a line); default text
  STOCKSYNC_ENGINE       engine.backend (serve, dev, admin): txloop (or v2, the default) or goka (or v1)
  STOCKSYNC_TOKEN        import's and reconcile's bearer token for --api
                         (import: stock:write; reconcile: stock:write and stock:read)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go dumpStacksOn(syscall.SIGUSR1, os.Stderr)
	code := runMain(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run assembles the instance (package instance) and blocks until ctx ends
// or the instance fails. A nil keyring serves /v1 open (dev on loopback, or
// serve --insecure-open). readyGate, when not nil, holds /readyz at 503
// while it answers an error. ready is called once the API listens.
func run(ctx context.Context, log *slog.Logger, settings *config.Config, keyring *auth.Keyring, readyGate func() error, ready func(*instance.Instance)) error {
	in, err := instance.Start(ctx, instance.Config{Settings: settings, Logger: log,
		Auth: keyring, ReadyGate: readyGate})
	if err != nil {
		return err
	}
	if ready != nil {
		ready(in)
	}
	return in.Wait()
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
