package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/stocksync/stocksync/auth"
	"github.com/stocksync/stocksync/config"
)

func runServe(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (see examples/stocksync.yaml); required")
	brokers := fs.String("brokers", "", "comma-separated Kafka brokers; overrides kafka.brokers")
	httpAddr := fs.String("http", "", "HTTP listen address; overrides http.addr")
	data := fs.String("data", "", "directory of the local tables; overrides data_dir")
	advertise := fs.String("advertise", "", "base URL other instances reach this one at; overrides http.advertise")
	tokensFile := fs.String("tokens-file", "", "YAML list of the API's bearer tokens {token, name, scopes, rate_per_s}; default $STOCKSYNC_TOKENS_FILE; required unless --insecure-open")
	insecureOpen := fs.Bool("insecure-open", false, "serve /v1 without authentication: anyone who reaches the port can read and change stock and orders")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tokensFile == "" {
		*tokensFile = os.Getenv("STOCKSYNC_TOKENS_FILE")
	}
	if *path == "" {
		return fmt.Errorf("serve needs --config FILE (try examples/stocksync.yaml)")
	}
	settings, err := config.Load(*path)
	if err != nil {
		return err
	}
	if *brokers != "" {
		settings.Kafka.Brokers = splitList(*brokers)
	}
	if *httpAddr != "" {
		settings.HTTP.Addr = *httpAddr
	}
	if *data != "" {
		settings.DataDir = *data
	}
	if *advertise != "" {
		settings.HTTP.Advertise = *advertise
	}
	if err := settings.Validate(); err != nil {
		return fmt.Errorf("config %s with flags: %w", *path, err)
	}
	var keyring *auth.Keyring
	switch {
	case *tokensFile != "" && *insecureOpen:
		return fmt.Errorf("--insecure-open and a tokens file (%s) exclude each other: drop one", *tokensFile)
	case *tokensFile != "":
		tokens, err := auth.LoadTokens(*tokensFile)
		if err != nil {
			return err
		}
		if keyring, err = auth.NewKeyring(tokens); err != nil {
			return err
		}
		log.Info("serve: the HTTP API requires bearer tokens", "tokens_file", *tokensFile, "tokens", keyring.Len())
	case *insecureOpen:
		log.Warn("serve: --insecure-open: the HTTP API is open, without auth; anyone who reaches it can change stock and orders",
			"http", settings.HTTP.Addr)
	default:
		return fmt.Errorf("serve needs --tokens-file FILE (or STOCKSYNC_TOKENS_FILE) naming the API's bearer tokens; " +
			"--insecure-open serves without auth")
	}
	return run(ctx, log, settings, keyring, func(inst instance) {
		addr := inst.addr
		log.Info("stocksync serving", "api", "http://"+addr+"/v1/", "ops", "http://"+addr+"/ops/", "metrics", "http://"+addr+"/metrics",
			"brokers", settings.Kafka.Brokers, "data", settings.DataDir, "mock_marketplaces", inst.mocks)
	})
}
