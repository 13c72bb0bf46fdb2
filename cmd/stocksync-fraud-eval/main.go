// Command stocksync-fraud-eval is make fraud-eval: it runs a labelled
// synthetic stream through the anti-fraud processors and reports precision
// and recall per pattern, alert latency and a plot (docs/fraud.md).
//
//	stocksync-fraud-eval [--size small|full] [--brokers LIST] [--rate N] [--out DIR]
//	                     [--min-precision 0.9] [--min-recall 0.8]
//
// Without --brokers it runs on an embedded kfake. It exits 1 when a pattern
// misses the precision or recall asked.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/stocksync/stocksync/processors/fraud/fraudeval"
)

func main() {
	size := flag.String("size", "small", "stream size: small (CI, under a minute) or full (the one thresholds are chosen on)")
	brokers := flag.String("brokers", "", "comma-separated Kafka brokers; default an embedded kfake")
	rate := flag.Float64("rate", 1000, "events produced per second")
	out := flag.String("out", "bench/results/fraud", "directory for report.txt, report.json and plot.png")
	seed := flag.Uint64("seed", 1, "the stream's seed")
	minPrecision := flag.Float64("min-precision", 0.9, "fail when a pattern's precision is lower")
	minRecall := flag.Float64("min-recall", 0.8, "fail when a pattern's recall is lower")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "fraud-eval: --cpuprofile: %v\n", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*size, *brokers, *rate, *out, *seed, *minPrecision, *minRecall); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintf(os.Stderr, "fraud-eval: %v\n", err)
		os.Exit(1)
	}
}

func run(size, brokers string, rate float64, out string, seed uint64, minPrecision, minRecall float64) error {
	cfg := fraudeval.RunConfig{Rate: rate, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	switch size {
	case "small":
		cfg.Stream = fraudeval.Small
	case "full":
		cfg.Stream = fraudeval.Full
	default:
		return fmt.Errorf("--size %q is not small or full", size)
	}
	cfg.Stream.Seed = seed
	for _, b := range strings.Split(brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			cfg.Brokers = append(cfg.Brokers, b)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := fraudeval.Run(ctx, cfg)
	if err != nil {
		return err
	}
	r.Write(os.Stdout)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	var text strings.Builder
	r.Write(&text)
	js, _ := json.MarshalIndent(r, "", "  ")
	for name, data := range map[string][]byte{"report-" + size + ".txt": []byte(text.String()), "report-" + size + ".json": js} {
		if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
			return err
		}
	}
	plot := filepath.Join(out, "plot-"+size+".png")
	if err := fraudeval.WritePlot(plot, r); err != nil {
		return err
	}
	fmt.Printf("\nwrote %s\n", filepath.Join(out, "report-"+size+".{txt,json}")+", "+plot)
	if ok, why := r.Pass(minPrecision, minRecall); !ok {
		return fmt.Errorf("below precision %.2f / recall %.2f: %s", minPrecision, minRecall, why)
	}
	return nil
}
