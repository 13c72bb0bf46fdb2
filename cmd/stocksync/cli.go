package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/imports"
	"github.com/stocksync/stocksync/internal/buildinfo"
)

// Environment variables stocksync reads; a flag wins over its variable, the
// variable over the config file.
const (
	envConfig     = "STOCKSYNC_CONFIG"      // serve's and admin's --config
	envBrokers    = "STOCKSYNC_BROKERS"     // --brokers: comma-separated host:port
	envHTTP       = "STOCKSYNC_HTTP"        // --http: the API's listen address
	envTokensFile = "STOCKSYNC_TOKENS_FILE" // serve's --tokens-file
	envEngine     = config.EnvBackend       // engine.backend: txloop (v2, the default) or goka (v1)
	envLogLevel   = "STOCKSYNC_LOG_LEVEL"   // debug, info, warn, error; default info
	envLogFormat  = "STOCKSYNC_LOG_FORMAT"  // text or json; default text
)

// env is how a command reads the environment (os.Getenv; a map in tests).
type env func(key string) string

// or returns the flag's value when given, else the environment's.
func (e env) or(flagValue, key string) string {
	if flagValue != "" {
		return flagValue
	}
	return e(key)
}

// runMain runs the command line args (without the program name) and returns
// the exit status: 0 on success and for --help, 1 when the command fails,
// 2 for a usage error.
func runMain(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "version", "--version":
		fmt.Fprintln(stdout, buildinfo.Get())
		return 0
	}
	log, err := newLogger(getenv(envLogLevel), getenv(envLogFormat), stderr)
	if err != nil {
		fmt.Fprintf(stderr, "stocksync: %v\n", err)
		return 2
	}
	switch args[0] {
	case "dev":
		err = runDev(ctx, log, getenv, stdout, args[1:])
	case "serve":
		err = runServe(ctx, log, getenv, args[1:])
	case "admin":
		err = runAdmin(ctx, getenv, stdout, args[1:])
	case "import":
		err = runImport(ctx, getenv, stderr, args[1:])
	case "reconcile":
		err = runReconcile(ctx, getenv, stdout, stderr, args[1:])
	default:
		fmt.Fprintf(stderr, "stocksync: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	var fe *flagError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, imports.ErrBadRows):
		return exitBadRows // the bad rows were listed; the good ones were sent
	case errors.Is(err, errDriftReported):
		fmt.Fprintf(stderr, "stocksync: %v\n", err)
		return exitDriftReported
	case errors.As(err, &fe) && errors.Is(fe.err, flag.ErrHelp):
		fe.usage(stdout)
		return 0
	case errors.As(err, &fe):
		fmt.Fprintf(stderr, "stocksync %s: %v\n\n", fe.fs.Name(), fe.err)
		fe.usage(stderr)
		return 2
	default:
		fmt.Fprintf(stderr, "stocksync: %v\n", err)
		return 1
	}
}

// flagError is a command line that does not parse, or -h.
type flagError struct {
	fs  *flag.FlagSet
	err error
}

func (e *flagError) Error() string { return e.err.Error() }

func (e *flagError) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: stocksync %s [flags]\n\nFlags:\n", e.fs.Name())
	e.fs.SetOutput(w)
	e.fs.PrintDefaults()
	fmt.Fprint(w, "\nSee stocksync --help for the environment variables.\n")
}

// parseFlags parses args into fs; runMain prints the usage of a failure.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard) // runMain prints help to stdout, errors to stderr
	if err := fs.Parse(args); err != nil {
		return &flagError{fs: fs, err: err}
	}
	if fs.NArg() > 0 {
		return &flagError{fs: fs, err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// newLogger logs to w at level (default info) in format: text (default) or
// json, one object a line, for log collectors.
func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil || level == "" {
		l = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("%s=%q is neither text nor json", envLogFormat, format)
	}
}
