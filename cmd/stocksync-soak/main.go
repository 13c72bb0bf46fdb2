// Command stocksync-soak runs the soak of package soak: its own Kafka
// broker, three `stocksync serve` instances, mixed load and a fault every
// 30 s, then a check of the whole history. `make soak` runs it for 10
// minutes, `make soak-ci` for 2. It exits 1 when a check fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/stocksync/stocksync/soak"
)

func main() {
	var cfg soak.Config
	flag.StringVar(&cfg.Repo, "repo", ".", "repository root (scripts/kafka.sh, cmd/stocksync, examples/stocksync.yaml)")
	flag.DurationVar(&cfg.Duration, "duration", 0, "how long the load runs (default 10m)")
	flag.DurationVar(&cfg.FaultEvery, "fault-every", 0, "time between faults (default 30s)")
	flag.IntVar(&cfg.Instances, "instances", 0, "instances of stocksync serve (default 3)")
	flag.IntVar(&cfg.KafkaPort, "kafka-port", 0, "the soak broker's port on 127.0.0.1 (default 19392)")
	flag.IntVar(&cfg.ControllerPort, "controller-port", 0, "the soak broker's controller port (default 19393)")
	flag.IntVar(&cfg.HTTPPort, "http-port", 0, "first instance's API port; the others follow (default 19400)")
	flag.StringVar(&cfg.KafkaCache, "kafka-cache", os.Getenv("KAFKA_CACHE"), "Kafka jar directory (default $KAFKA_CACHE, else the script's own)")
	flag.StringVar(&cfg.WorkDir, "work-dir", "", "where the broker's and instances' data and logs go (default a temporary directory, kept when a check fails)")
	flag.StringVar(&cfg.Report, "report", "", "markdown report (default docs/soak.md)")
	flag.StringVar(&cfg.JSON, "json", "", "JSON report (default docs/soak.json)")
	flag.StringVar(&cfg.Plot, "plot", "", "PNG plot (default docs/soak.png)")
	faults := flag.String("faults", strings.Join(soak.FaultKinds, ","), "the fault kinds that rotate, in order (one alone reproduces what it triggers more often)")
	flag.StringVar(&cfg.LogLevel, "log-level", "", "the instances' STOCKSYNC_LOG_LEVEL (debug adds franz-go's joins and transactions)")
	flag.Int64Var(&cfg.Seed, "seed", 0, "seed of the load's choices (default the time)")
	flag.Parse()
	cfg.Faults = strings.Split(*faults, ",")
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := soak.Run(ctx, cfg)
	if rep != nil {
		for _, c := range rep.Checks {
			fmt.Printf("%-52s pass=%-5v checked=%-6d violations=%d\n", c.Name, c.Pass, c.Checked, c.Violations)
		}
	}
	switch {
	case errors.Is(err, soak.ErrFailed):
		os.Exit(1)
	case err != nil:
		fmt.Fprintln(os.Stderr, "stocksync-soak:", err)
		os.Exit(2)
	}
}
