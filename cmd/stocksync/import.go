package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/imports"
	"github.com/stocksync/stocksync/topology"
	"golang.org/x/term"
)

// exitBadRows is the exit status of an import that sent the good rows of a
// file with bad rows.
const exitBadRows = 3

// runImport binds the flags of `stocksync import` to imports.Run.
func runImport(ctx context.Context, getenv env, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	file := fs.String("file", "", "the export file (CSV with header sku,location,on_hand[,version], or JSON Lines); required")
	format := fs.String("format", "", "csv or jsonl; default from the extension (.jsonl, .ndjson: jsonl; else csv)")
	source := fs.String("source", "erp", "the snapshots' source")
	version := fs.Int64("version", 0, "version of rows without a version column (larger is newer, e.g. the export's unix time)")
	api := fs.String("api", "http://127.0.0.1:8080", "base URL of a running instance; the token comes from STOCKSYNC_TOKEN")
	cfgPath := fs.String("config", "", "send straight to Kafka's stock.feed of the deployment this config describes, instead of --api")
	stateDir := fs.String("state-dir", "", "directory of the checkpoint; default beside the file")
	batch := fs.Int("batch", 5000, "rows sent and acknowledged at once; the checkpoint moves after each batch")
	quiet := fs.Bool("quiet", false, "no progress (a bar on a terminal, else a line every 10 s)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *file == "" {
		return fmt.Errorf("import needs --file FILE")
	}
	cfg := imports.Config{File: *file, Format: *format, Source: *source, Version: *version, StateDir: *stateDir,
		BatchRows: *batch, Report: stderr}
	if !*quiet {
		cfg.Progress = stderr
		if f, ok := stderr.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
			cfg.ProgressLines = 10 * time.Second // a log, not a terminal: a line now and then
		}
	}
	apiSet := false
	fs.Visit(func(f *flag.Flag) { apiSet = apiSet || f.Name == "api" })
	switch {
	case *cfgPath != "" && apiSet:
		return fmt.Errorf("--api and --config exclude each other: send through an instance or straight to Kafka")
	case *cfgPath != "":
		settings, err := config.Load(getenv.or(*cfgPath, envConfig))
		if err != nil {
			return err
		}
		security, err := settings.Kafka.FranzOpts()
		if err != nil {
			return err
		}
		cl, err := imports.NewKafkaClient(settings.Kafka.Brokers, security...)
		if err != nil {
			return fmt.Errorf("kafka client for %v: %w", settings.Kafka.Brokers, err)
		}
		defer cl.Close()
		locs := map[string]struct{}{}
		for _, l := range settings.Locations {
			locs[l.Name] = struct{}{}
		}
		cfg.Sender = &imports.KafkaSender{Client: cl, Topic: string(topology.New(settings.Kafka.TopicPrefix).StockFeed), Locations: locs}
	default:
		sender, err := imports.NewHTTPSender(*api, getenv("STOCKSYNC_TOKEN"), &http.Client{Timeout: 2 * time.Minute})
		if err != nil {
			return fmt.Errorf("--api: %w", err)
		}
		cfg.Sender = sender
	}
	sum, err := imports.Run(ctx, cfg)
	if sum.Rows > 0 || err == nil {
		fmt.Fprintf(stderr, "import: %d rows, %d sent, %d bad, in %s", sum.Rows, sum.Sent, sum.Bad, sum.Took.Round(time.Millisecond))
		if sum.Resumed > 0 {
			fmt.Fprintf(stderr, " (resumed after line %d)", sum.Resumed)
		}
		fmt.Fprintln(stderr)
	}
	return err
}
