package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/stocksync/stocksync/auth"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/instance"
)

func runServe(ctx context.Context, log *slog.Logger, getenv env, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var o overrides
	fs.StringVar(&o.config, "config", "", "configuration file (see examples/stocksync.yaml); default $"+envConfig+"; required")
	fs.StringVar(&o.brokers, "brokers", "", "comma-separated Kafka brokers; default $"+envBrokers+", else kafka.brokers")
	fs.StringVar(&o.http, "http", "", "HTTP listen address; default $"+envHTTP+", else http.addr")
	fs.StringVar(&o.data, "data", "", "directory of the local tables; overrides data_dir")
	fs.StringVar(&o.advertise, "advertise", "", "base URL other instances reach this one at; overrides http.advertise")
	tokensFile := fs.String("tokens-file", "", "YAML list of the API's bearer tokens {token, name, scopes, rate_per_s}; default $"+envTokensFile+"; required unless --insecure-open")
	insecureOpen := fs.Bool("insecure-open", false, "serve /v1 without authentication: anyone who reaches the port can read and change stock and orders")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	*tokensFile = getenv.or(*tokensFile, envTokensFile)
	settings, err := loadSettings("serve", getenv, o)
	if err != nil {
		return err
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
		return fmt.Errorf("serve needs --tokens-file FILE (or $STOCKSYNC_TOKENS_FILE) naming the API's bearer tokens; " +
			"--insecure-open serves without auth")
	}
	return run(ctx, log, settings, keyring, nil /* readyGate */, func(in *instance.Instance) {
		mocks := map[string]string{}
		for name, m := range in.Mocks() {
			mocks[name] = m.URL()
		}
		u := in.URL()
		log.Info("stocksync serving", "api", u+"/v1/", "ops", u+"/ops/", "metrics", u+"/metrics", "backend", in.Settings().Engine.Backend,
			"brokers", settings.Kafka.Brokers, "data", settings.DataDir, "mock_marketplaces", mocks)
	})
}

// overrides are the settings a command line may give over the config file.
type overrides struct {
	config, brokers, http, data, advertise string
}

// loadSettings reads the config file and applies the overrides, then
// validates: a flag wins over its environment variable (STOCKSYNC_CONFIG,
// STOCKSYNC_BROKERS, STOCKSYNC_HTTP), the variable over the file;
// STOCKSYNC_ENGINE wins over engine.backend.
func loadSettings(cmd string, getenv env, o overrides) (*config.Config, error) {
	path := getenv.or(o.config, envConfig)
	if path == "" {
		return nil, fmt.Errorf("%s needs --config FILE or $%s (try examples/stocksync.yaml)", cmd, envConfig)
	}
	settings, err := config.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if b := getenv.or(o.brokers, envBrokers); b != "" {
		settings.Kafka.Brokers = splitList(b)
	}
	if a := getenv.or(o.http, envHTTP); a != "" {
		settings.HTTP.Addr = a
	}
	if o.data != "" {
		settings.DataDir = o.data
	}
	if o.advertise != "" {
		settings.HTTP.Advertise = o.advertise
	}
	if err := backendFromEnv(getenv, settings); err != nil {
		return nil, err
	}
	if err := settings.Validate(); err != nil {
		return nil, fmt.Errorf("config %s with flags and environment: %w", path, err)
	}
	return settings, nil
}

// backendFromEnv applies $STOCKSYNC_ENGINE, when set, to engine.backend.
func backendFromEnv(getenv env, settings *config.Config) error {
	v := getenv(envEngine)
	if v == "" {
		return nil
	}
	b, err := config.ParseBackend(v)
	if err != nil {
		return err
	}
	settings.Engine.Backend = b
	return nil
}
