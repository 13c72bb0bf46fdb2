package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/reconcile"
	"golang.org/x/term"
)

// exitDriftReported is the exit status of a reconciliation that ended with
// reported rows an operator has to decide on.
const exitDriftReported = 4

// errDriftReported says a run ended with rows for an operator.
var errDriftReported = errors.New("drift was reported: an operator applies or dismisses each row (docs/reconciliation.md)")

// runReconcile binds the flags of `stocksync reconcile`.
func runReconcile(ctx context.Context, getenv env, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	file := fs.String("file", "", "the ERP export (CSV with header sku,location,on_hand[,version], or JSON Lines); required")
	format := fs.String("format", "", "csv or jsonl; default from the extension (.jsonl, .ndjson: jsonl; else csv)")
	source := fs.String("source", "", "the export's snapshot source; default the instance's reconcile.source (erp)")
	version := fs.Int64("version", 0, "version of rows without a version column; 0: unknown (never stale)")
	locations := fs.String("locations", "", "comma-separated locations the export covers; default every configured one")
	api := fs.String("api", "http://127.0.0.1:8080", "base URL of a running instance; the token (stock:write, stock:read) comes from STOCKSYNC_TOKEN")
	cfgPath := fs.String("config", "", "reconcile against the deployment this config describes, reading the engine's table from Kafka, instead of --api")
	quiet := fs.Bool("quiet", false, "no progress")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *file == "" {
		return fmt.Errorf("reconcile needs --file FILE")
	}
	f := reconcile.File{Path: *file, Format: *format, Source: *source, Version: *version, Locations: splitList(*locations)}
	var progress io.Writer
	if out, ok := stderr.(*os.File); ok && !*quiet && term.IsTerminal(int(out.Fd())) {
		progress = stderr
	}
	apiSet := false
	fs.Visit(func(f *flag.Flag) { apiSet = apiSet || f.Name == "api" })
	var run reconcile.Run
	var err error
	switch {
	case *cfgPath != "" && apiSet:
		return fmt.Errorf("--api and --config exclude each other: reconcile through an instance or against Kafka")
	case *cfgPath != "":
		run, err = reconcileDirect(ctx, getenv.or(*cfgPath, envConfig), f, progress)
	default:
		remote := &reconcile.Remote{BaseURL: *api, Token: getenv("STOCKSYNC_TOKEN"), Client: &http.Client{Timeout: 10 * time.Minute}, Progress: progress}
		run, err = remote.Reconcile(ctx, f)
	}
	if run.ID == "" {
		return err
	}
	printRun(stdout, run)
	if err == nil && run.ReportedN > 0 {
		err = errDriftReported
	}
	return err
}

// printRun writes a run's figures and its first reported rows.
func printRun(w io.Writer, r reconcile.Run) {
	fmt.Fprintf(w, "run %s: %s; %d rows: %d in sync, %d drifted (%d fixed, %d reported), %d stale, %d in flight, %d bad; drift rate %.4f, %d units\n",
		r.ID, r.Status, r.Rows, r.InSync, r.Drifted, r.FixedN, r.ReportedN, r.Stale, r.InFlight, r.Bad, r.DriftRate, r.DriftedUnits)
	for i, row := range r.Reported {
		if i == 20 {
			fmt.Fprintf(w, "  … %d more: GET /v1/reconciliations/%s/report.csv\n", len(r.Reported)-i, r.ID)
			break
		}
		fmt.Fprintf(w, "  reported %s at %s: ERP %d, engine %d (reserved %d, committed %d), drift %+d: %s\n",
			row.SKU, row.Location, row.ERP, row.OnHand, row.Reserved, row.Committed, row.Drift, row.Reason)
	}
	for _, b := range r.BadRows {
		fmt.Fprintf(w, "  line %d: %s\n", b.Line, b.Reason)
	}
}

// reconcileDirect runs the reconciliation in this process against the
// deployment the config describes (reconcile.Direct).
func reconcileDirect(ctx context.Context, path string, f reconcile.File, progress io.Writer) (reconcile.Run, error) {
	settings, err := config.Load(path)
	if err != nil {
		return reconcile.Run{}, err
	}
	if err := backendFromEnv(os.Getenv, settings); err != nil {
		return reconcile.Run{}, err
	}
	if progress != nil {
		fmt.Fprintf(progress, "reconcile: reading the inventory table of %v to its end (the cut)…\n", settings.Kafka.Brokers)
	}
	return reconcile.Direct(ctx, settings, f, nil)
}
