package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/engine"
)

func runServe(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (see examples/stocksync.yaml); required")
	brokers := fs.String("brokers", "", "comma-separated Kafka brokers; overrides kafka.brokers")
	httpAddr := fs.String("http", "", "HTTP listen address; overrides http.addr")
	data := fs.String("data", "", "directory of the local tables; overrides data_dir")
	if err := fs.Parse(args); err != nil {
		return err
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
	if err := settings.Validate(); err != nil {
		return fmt.Errorf("config %s with flags: %w", *path, err)
	}
	log.Warn("serve: the HTTP API is open (auth comes with the tokens file); listen on loopback or behind a gateway",
		"http", settings.HTTP.Addr)
	return run(ctx, log, settings, func(addr string, _ *engine.Engine) {
		log.Info("stocksync serving", "api", "http://"+addr+"/v1/", "metrics", "http://"+addr+"/metrics",
			"brokers", settings.Kafka.Brokers, "data", settings.DataDir)
	})
}
