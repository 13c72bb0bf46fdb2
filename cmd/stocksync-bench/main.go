// Command stocksync-bench runs the benchmark suite of bench/: stocksync
// against a PostgreSQL and a Redis baseline and a Kafka Streams peer, same
// machine, same run, same load generator. It only binds flags;
// bench/README.md has the commands.
//
//	stocksync-bench run    [flags]                       the suite; results in --out
//	stocksync-bench engine --config FILE --http ADDR     one stocksync instance (the suite's child process)
//	stocksync-bench kfake  --port N                      an embedded Kafka (the suite's child process)
//	stocksync-bench hop    [--brokers LIST] [--n 500]    one Kafka hop's latency (produce → consumer sees it)
//	stocksync-bench rebuild [--skus 1000000]             a cold rebuild of an instance from its changelogs
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rcrowley/go-metrics"

	"github.com/stocksync/stocksync/bench"
	"github.com/stocksync/stocksync/config"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: stocksync-bench run|engine|floor|kfake|hop|rebuild|chain [flags] (see bench/README.md)")
		os.Exit(2)
	}
	// Profiles of a running benchmark (STOCKSYNC_PPROF) and of its engine
	// child (STOCKSYNC_PPROF_ENGINE: the child inherits both, and the
	// parent holds the first address): go tool pprof http://ADDR/debug/pprof/profile
	addr := os.Getenv("STOCKSYNC_PPROF")
	if os.Args[1] == "engine" || os.Args[1] == "floor" {
		addr = os.Getenv("STOCKSYNC_PPROF_ENGINE")
	}
	if addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "run":
		err = run(ctx, os.Args[2:])
	case "engine":
		err = engine(ctx, os.Args[2:])
	case "floor":
		err = floor(ctx, os.Args[2:])
	case "kfake":
		err = kfake(ctx, os.Args[2:])
	case "hop":
		err = hop(ctx, os.Args[2:])
	case "rebuild":
		err = rebuild(ctx, os.Args[2:])
	case "chain":
		err = chain(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: run, engine, floor, kfake, hop, rebuild or chain", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "stocksync-bench: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	systems := fs.String("systems", "postgres,redis,stocksync,floor,stocksync-http,stocksync-kfake,kstreams,kstreams-eos", "systems to run, in order (floor: stocksync's transport with deciding made free)")
	workloads := fs.String("workloads", "flash,steady", "workloads to run: flash, steady, multi (two lines an order, 30% of them on two partitions)")
	rate := fs.Float64("rate", 0, "open loop: commands per second (0: closed loop with --clients)")
	clients := fs.Int("clients", 64, "closed loop: concurrent clients")
	duration := fs.Duration("duration", 30*time.Second, "load per system × workload, warm-up (10%) included")
	repeat := fs.Int("repeat", 1, "runs per system × workload; the median is reported")
	flashSKUs := fs.Int("flash-skus", 100_000, "flash sale catalogue")
	steadySKUs := fs.Int("steady-skus", 1_000_000, "steady day catalogue (× 3 locations)")
	hot := fs.Int("hot-skus", 300, "flash sale: hot SKUs")
	hotStock := fs.Int64("hot-stock", 50, "flash sale: units of each hot SKU")
	brokers := fs.String("brokers", "127.0.0.1:19092", "the real Kafka broker (scripts/kafka.sh up)")
	brokerPID := fs.String("broker-pid-file", ".cache/kafka/data/kafka.pid", "pid file of the real broker, to count its CPU and memory")
	engineCmd := fs.String("engine", "self", `how stocksync runs: "self" (a child: stocksync-bench engine), "inproc" (in this process; needed for --cpuprofile), or a command such as "bin/stocksync serve --insecure-open"`)
	cpuprofile := fs.String("cpuprofile", "", "with --engine inproc: write a pprof CPU profile of each stocksync run to FILE-<system>-<workload>.pprof")
	pgConns := fs.Int("pg-conns", 16, "PostgreSQL pool size")
	partitions := fs.Int("partitions", 12, "partitions of stocksync's and the Kafka Streams peer's topics")
	instances := fs.Int("instances", 1, "stocksync instances, each a child process (orders across partitions then cross instances)")
	kstreamsDir := fs.String("kstreams-dir", "bench/peers/kstreams", "the Kafka Streams peer's Maven module (systems kstreams, kstreams-eos)")
	kstreamsCommit := fs.Duration("kstreams-commit-interval", 0, "the Kafka Streams peer's commit.interval.ms (0: Kafka Streams' default, 30s at-least-once, 100ms exactly-once)")
	channelsWait := fs.Duration("channels-wait", 5*time.Minute, "stocksync: how long to let the channels push the catalogue before the load")
	out := fs.String("out", "bench/results", "directory for results.md, results.json and the PNG plots")
	dir := fs.String("dir", "", "working directory for the servers' data (default a new temporary one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cfg := bench.SuiteConfig{
		Systems: splitList(*systems), Repeat: *repeat, Brokers: splitList(*brokers), Log: os.Stderr,
		Load:                   bench.LoadConfig{Rate: *rate, Clients: *clients, Duration: *duration},
		KfakeCommand:           []string{self, "kfake"},
		FloorCommand:           []string{self, "floor"},
		CPUProfile:             *cpuprofile,
		PostgresConns:          *pgConns,
		Partitions:             int32(*partitions),
		Instances:              *instances,
		ChannelsWait:           *channelsWait,
		KStreamsDir:            *kstreamsDir,
		KStreamsCommitInterval: *kstreamsCommit,
		Backend:                os.Getenv(config.EnvBackend),
	}
	switch *engineCmd {
	case "self":
		cfg.EngineCommand = []string{self, "engine"}
	case "inproc":
	default:
		cfg.EngineCommand = strings.Fields(*engineCmd)
	}
	if b, err := os.ReadFile(*brokerPID); err == nil {
		cfg.BrokerPID, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	for _, w := range splitList(*workloads) {
		wl := bench.WorkloadConfig{Kind: w, HotSKUs: *hot, HotStock: *hotStock}
		switch w {
		case bench.FlashSale:
			wl.SKUs = *flashSKUs
		case bench.MultiLine:
			wl.SKUs, wl.Partitions = *flashSKUs, int32(*partitions)
		default:
			wl.SKUs = *steadySKUs
		}
		cfg.Workloads = append(cfg.Workloads, wl)
	}
	cfg.Dir = *dir
	if cfg.Dir == "" {
		if cfg.Dir, err = os.MkdirTemp("", "stocksync-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(cfg.Dir)
	}
	results, err := bench.RunSuite(ctx, cfg)
	if len(results) > 0 {
		if werr := bench.WriteResults(*out, results); werr != nil {
			return werr
		}
		_ = bench.WriteTable(os.Stdout, results)
		fmt.Println()
		bench.WriteE2E(os.Stdout, results)
		fmt.Println()
		bench.WriteRequests(os.Stdout, results)
		fmt.Fprintf(os.Stderr, "results in %s\n", filepath.Clean(*out))
	}
	return err
}

func engine(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("engine", flag.ContinueOnError)
	file := fs.String("config", "", "configuration file; required")
	httpAddr := fs.String("http", "", "HTTP listen address; overrides http.addr")
	throttle := fs.Bool("throttle", false, "keep the mock marketplaces' real rate limits")
	cpuprofile := fs.String("cpuprofile", "", "write a pprof CPU profile to FILE")
	saramaMetrics := fs.Bool("sarama-metrics", true, "false: turn off sarama's go-metrics (an experiment: what they cost)")
	viewers := fs.Int("console-viewers", 0, "simulate N open ops consoles on the live tab (with --cpuprofile: what they cost)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	metrics.UseNilMetrics = !*saramaMetrics
	s, err := config.Load(*file)
	if err != nil {
		return err
	}
	if *httpAddr != "" {
		s.HTTP.Addr = *httpAddr
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return bench.RunEngine(ctx, bench.EngineConfig{Settings: s, Backend: os.Getenv(config.EnvBackend), Throttle: *throttle, CPUProfile: *cpuprofile, Logger: log,
		ConsoleViewers: *viewers})
}

// floor runs the floor (bench/floor.go): stocksync's topics, client and
// broker with deciding made free, as the bench's system "floor".
func floor(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	file := fs.String("config", "", "configuration file; required")
	httpAddr := fs.String("http", "", "HTTP listen address; overrides http.addr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := config.Load(*file)
	if err != nil {
		return err
	}
	if *httpAddr != "" {
		s.HTTP.Addr = *httpAddr
	}
	return bench.RunFloor(ctx, bench.FloorConfig{Settings: s})
}

// chain runs a chain's simulated day against each way of syncing the
// marketplaces (issue 16; bench/README.md).
func chain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("chain", flag.ContinueOnError)
	var c bench.ChainConfig
	brokers := fs.String("brokers", "127.0.0.1:19092", `the Kafka broker; "kfake" for an embedded one`)
	modes := fs.String("modes", strings.Join(bench.DefaultChainModes, ","), "modes on the same demand: realtime, realtime-any, safety, batch-<interval>")
	fs.BoolVar(&c.SideBySide, "side-by-side", false, "every mode in one day, their engines sharing the cores (default: a day per real-time mode, one after another, and one for the batch modes)")
	fs.IntVar(&c.SKUs, "skus", 2000, "catalogue size")
	fs.DurationVar(&c.Day, "day", 50*time.Minute, "simulated time of each day")
	fs.Float64Var(&c.Speed, "speed", 20, "simulated seconds per wall second")
	fs.DurationVar(&c.SpikeAt, "spike-at", 0, "when the promotion starts, simulated (default with the first ERP delivery from half the day on)")
	fs.DurationVar(&c.SpikeFor, "spike-for", 10*time.Minute, "how long the promotion lasts, simulated")
	fs.Float64Var(&c.SpikeFactor, "spike-factor", 10, "demand multiplier during the promotion")
	fs.Float64Var(&c.MarketplaceOrders, "marketplace-orders", 30, "marketplace orders per simulated minute (three marketplaces together)")
	fs.Float64Var(&c.AppOrders, "app-orders", 10, "app orders per simulated minute")
	fs.Float64Var(&c.ShelfSales, "shelf-sales", 20, "shelf sales per simulated minute over the shops")
	fs.DurationVar(&c.Restock, "restock", 30*time.Minute, "ERP delivery interval, simulated")
	fs.IntVar(&c.NewSKUs, "new-skus", 5000, "SKUs listed when the promotion starts (their first sync queues at the marketplaces)")
	fs.Int64Var(&c.SafetyStock, "safety-stock", 1, "the safety mode's safety stock per marketplace")
	partitions := fs.Int("partitions", 4, "partitions of each engine's topics")
	fs.Uint64Var(&c.Seed, "seed", 1, "demand seed")
	out := fs.String("out", "bench/results/chain", "directory for results.md, results.json and chain.png")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *brokers != "kfake" {
		c.Brokers = splitList(*brokers)
	}
	c.Modes, c.Partitions = splitList(*modes), int32(*partitions)
	c.Backend = os.Getenv(config.EnvBackend)
	c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	c.Progress = func(line string) { fmt.Fprintln(os.Stderr, line) }
	res, err := bench.RunChain(ctx, c)
	if err != nil {
		return err
	}
	if err := bench.WriteChainReport(*out, res); err != nil {
		return err
	}
	bench.WriteChainTables(os.Stdout, res)
	return nil
}

func kfake(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("kfake", flag.ContinueOnError)
	port := fs.Int("port", 0, "port on 127.0.0.1 (0: a free one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return bench.RunKfake(ctx, *port, func(addr string) { fmt.Println(addr) })
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

func hop(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("hop", flag.ContinueOnError)
	brokers := fs.String("brokers", "127.0.0.1:19092", "brokers; \"kfake\" for an embedded one")
	n := fs.Int("n", 500, "records, one at a time")
	if err := fs.Parse(args); err != nil {
		return err
	}
	list := splitList(*brokers)
	if *brokers == "kfake" {
		kctx, cancel := context.WithCancel(ctx)
		defer cancel()
		addr := make(chan string, 1)
		go func() { _ = bench.RunKfake(kctx, 0, func(a string) { addr <- a }) }()
		list = []string{<-addr}
	}
	d, err := bench.KafkaHop(ctx, list, *n)
	if err != nil {
		return err
	}
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	fmt.Printf("kafka hop on %s, %d records: p50 %s  p90 %s  p99 %s  max %s\n", *brokers, len(d), q(.5), q(.9), q(.99), d[len(d)-1])
	return nil
}

// rebuild loads a catalogue into an instance (a child process), then
// removes the instance's data directory and starts it again: the time to
// ready and the peak memory of that cold rebuild from the changelogs.
func rebuild(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("rebuild", flag.ContinueOnError)
	skus := fs.Int("skus", 1_000_000, "catalogue SKUs (× 3 locations)")
	brokers := fs.String("brokers", "127.0.0.1:19092", "the real Kafka broker (scripts/kafka.sh up)")
	partitions := fs.Int("partitions", 12, "partitions of stocksync's topics")
	settle := fs.Duration("settle", 20*time.Second, "how long after ready to watch memory (the pushers take up what is pending)")
	dir := fs.String("dir", "", "working directory for the instance's data (default a new temporary one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if *dir == "" {
		if *dir, err = os.MkdirTemp("", "stocksync-rebuild-"); err != nil {
			return err
		}
		defer os.RemoveAll(*dir)
	}
	s, err := bench.NewStocksync(ctx, bench.StocksyncConfig{Brokers: splitList(*brokers), Dir: *dir, Partitions: int32(*partitions),
		Command: []string{self, "engine"}, Log: os.Stderr, ChannelsWait: time.Second})
	if err != nil {
		return err
	}
	defer s.Close()
	cat := bench.WorkloadConfig{Kind: bench.SteadyDay, SKUs: *skus}
	catalogue, err := cat.Catalogue()
	if err != nil {
		return err
	}
	began := time.Now()
	fmt.Fprintf(os.Stderr, "loading %d SKUs × %d locations …\n", catalogue.SKUs, len(catalogue.Locations))
	if err := s.Load(ctx, catalogue); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "loaded in %s; removing the data directory and starting again …\n", time.Since(began).Round(time.Second))
	took, ready, settled, err := s.Rebuild(ctx, *settle)
	if err != nil {
		return err
	}
	fmt.Printf("| %d × %d | %d | %.1f s | %d MiB | %d MiB |\n", catalogue.SKUs, len(catalogue.Locations), *partitions,
		took.Seconds(), ready>>20, settled>>20)
	return nil
}
