package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// System names a suite can run.
const (
	SysPostgres      = "postgres"        // the PostgreSQL baseline
	SysRedis         = "redis"           // the Redis baseline
	SysStocksync     = "stocksync"       // on the real broker, orders over Kafka (client.NewKafka)
	SysStocksyncHTTP = "stocksync-http"  // on the real broker, orders over the HTTP API (client.NewHTTP)
	SysStocksyncFake = "stocksync-kfake" // on kfake (reference: not durable), orders over Kafka
	SysKStreams      = "kstreams"        // the Kafka Streams peer, at-least-once, on the real broker
	SysKStreamsEOS   = "kstreams-eos"    // the Kafka Streams peer, exactly_once_v2, on the real broker
	SysFloor         = "floor"           // stocksync's transport with deciding made free (floor.go), on the real broker
)

// SuiteConfig runs every system with every workload, one after the other,
// in one process, and writes the results.
type SuiteConfig struct {
	// Systems to run, in order. Default all five.
	Systems []string
	// Workloads to run, each with its own catalogue. Default a flash sale
	// and a steady day with their defaults.
	Workloads []WorkloadConfig
	// Load is the template of every run (Workload is set per run).
	Load LoadConfig
	// Repeat runs each system × workload this many times and reports the
	// median run (by commands decided per second). Default 1.
	Repeat int
	// Dir holds the servers' data and the engine's tables. Required.
	Dir string
	// Brokers of the real Kafka broker (stocksync, stocksync-http).
	Brokers []string
	// BrokerPID is the real broker's process, counted with stocksync.
	BrokerPID int
	// Backend is stocksync's engine.backend (StocksyncConfig.Backend).
	// Default "": the config's default.
	Backend string
	// EngineCommand runs stocksync as a child process (StocksyncConfig.
	// Command). Empty: in-process.
	EngineCommand []string
	// FloorCommand runs the floor (SysFloor) as a child process: its argv,
	// to which --config FILE --http ADDR are appended (`stocksync-bench
	// floor`). Required for SysFloor.
	FloorCommand []string
	// KfakeCommand runs kfake as a child process; `--port N` is appended
	// and it must print its address on the first line. Empty: in-process.
	KfakeCommand []string
	// CPUProfile profiles the load generator's process during the first
	// run of each system × workload, to <CPUProfile>-<system>-<workload>.pprof:
	// with EngineCommand empty, stocksync's engine is in that process.
	CPUProfile string
	// PostgresConns is the PostgreSQL pool size (PostgresSystemConfig.Conns).
	PostgresConns int
	// ChannelsWait bounds stocksync's wait for the channels to push the
	// catalogue before the load (StocksyncConfig.ChannelsWait).
	ChannelsWait time.Duration
	// Partitions of stocksync's and the Kafka Streams peer's topics.
	// Default 12.
	Partitions int32
	// Instances of stocksync, each a child process; default 1.
	Instances int
	// KStreamsDir is the Kafka Streams peer's Maven module, built on first
	// use (BuildKStreams). Default "bench/peers/kstreams".
	KStreamsDir string
	// KStreamsCommitInterval is the peer's commit.interval.ms
	// (KStreamsConfig.CommitInterval); 0 keeps Kafka Streams' default.
	KStreamsCommitInterval time.Duration
	// Log receives progress lines.
	Log io.Writer
}

// RunSuite runs the suite and returns every result (the median of the
// repeats of each system × workload).
func RunSuite(ctx context.Context, cfg SuiteConfig) ([]*Result, error) {
	if cfg.Dir == "" {
		return nil, errors.New("bench: SuiteConfig.Dir is required")
	}
	if len(cfg.Systems) == 0 {
		cfg.Systems = []string{SysPostgres, SysRedis, SysStocksync, SysStocksyncHTTP, SysStocksyncFake}
	}
	if len(cfg.Workloads) == 0 {
		cfg.Workloads = []WorkloadConfig{{Kind: FlashSale}, {Kind: SteadyDay}}
	}
	cfg.Repeat = or(cfg.Repeat, 1)
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	var out []*Result
	for _, wl := range cfg.Workloads {
		cat, err := wl.Catalogue()
		if err != nil {
			return out, err
		}
		for _, name := range cfg.Systems {
			var runs []*Result
			for rep := range cfg.Repeat {
				fmt.Fprintf(cfg.Log, "== %s × %s (run %d of %d): starting, loading %d stock rows\n", name, wl.Kind, rep+1, cfg.Repeat, cat.Rows())
				res, err := runOne(ctx, cfg, name, wl, cat, rep)
				if err != nil {
					return out, fmt.Errorf("%s × %s: %w", name, wl.Kind, err)
				}
				fmt.Fprintf(cfg.Log, "== %s × %s: %.0f decided/s, p50 %s p99 %s, oversold %d, errors %d\n",
					name, wl.Kind, res.Decided, ms(res.P50), ms(res.P99), res.Verdict.OversoldUnits, res.Errors)
				runs = append(runs, res)
			}
			sort.Slice(runs, func(i, j int) bool { return runs[i].Decided < runs[j].Decided })
			med := runs[len(runs)/2]
			med.Runs = len(runs)
			for _, r := range runs {
				med.AllDecided = append(med.AllDecided, r.Decided)
				med.OversoldAll += r.Verdict.OversoldUnits
			}
			out = append(out, med)
		}
	}
	return out, nil
}

func ms(s float64) string { return fmt.Sprintf("%.1fms", s*1000) }

// runOne starts the system, loads the catalogue, runs the load, stops it.
func runOne(ctx context.Context, cfg SuiteConfig, name string, wl WorkloadConfig, cat *Catalogue, rep int) (*Result, error) {
	dir, err := os.MkdirTemp(cfg.Dir, name+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var sys System
	switch name {
	case SysPostgres:
		srv, err := StartPostgres(ctx, PostgresConfig{Dir: filepath.Join(dir, "pg")})
		if err != nil {
			return nil, err
		}
		defer srv.Stop()
		sys, err = NewPostgres(ctx, PostgresSystemConfig{Server: srv, Conns: cfg.PostgresConns})
		if err != nil {
			return nil, err
		}
	case SysRedis:
		srv, err := StartRedis(ctx, RedisConfig{Dir: dir})
		if err != nil {
			return nil, err
		}
		defer srv.Stop()
		if sys, err = NewRedis(ctx, RedisSystemConfig{Server: srv}); err != nil {
			return nil, err
		}
	case SysStocksync, SysStocksyncHTTP, SysStocksyncFake, SysFloor:
		sc := StocksyncConfig{Brokers: cfg.Brokers, Transport: OverKafka, Partitions: cfg.Partitions, Dir: dir,
			Command: cfg.EngineCommand, Name: name, Broker: Process{Name: "kafka", PID: cfg.BrokerPID}, Log: cfg.Log,
			ChannelsWait: cfg.ChannelsWait, Instances: cfg.Instances, Backend: cfg.Backend}
		if name == SysStocksyncHTTP {
			sc.Transport = OverHTTP
		}
		if name == SysFloor {
			if len(cfg.FloorCommand) == 0 {
				return nil, errors.New("the floor runs as a child process: set SuiteConfig.FloorCommand (stocksync-bench floor)")
			}
			sc.Command, sc.Instances, sc.ChannelsWait = cfg.FloorCommand, 1, time.Second
		}
		if name == SysStocksyncFake {
			brokers, proc, stop, err := startKfake(ctx, cfg.KfakeCommand, filepath.Join(dir, "kfake.log"))
			if err != nil {
				return nil, err
			}
			defer stop()
			sc.Brokers, sc.Broker = brokers, proc
		}
		if len(sc.Brokers) == 0 {
			return nil, errors.New("no brokers for stocksync: start one (scripts/kafka.sh up) and pass them")
		}
		if sys, err = NewStocksync(ctx, sc); err != nil {
			return nil, err
		}
	case SysKStreams, SysKStreamsEOS:
		if len(cfg.Brokers) == 0 {
			return nil, errors.New("no brokers for the Kafka Streams peer: start one (scripts/kafka.sh up) and pass them")
		}
		jar, err := BuildKStreams(ctx, or(cfg.KStreamsDir, "bench/peers/kstreams"), cfg.Log)
		if err != nil {
			return nil, err
		}
		kc := KStreamsConfig{Brokers: cfg.Brokers, Jar: jar, Guarantee: AtLeastOnce, Partitions: cfg.Partitions, Dir: dir,
			Name: name, Broker: Process{Name: "kafka", PID: cfg.BrokerPID}, Log: cfg.Log, CommitInterval: cfg.KStreamsCommitInterval}
		if name == SysKStreamsEOS {
			kc.Guarantee = ExactlyOnceV2
		}
		if sys, err = NewKStreams(ctx, kc); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown system %q (known: %s)", name, strings.Join([]string{SysPostgres, SysRedis,
			SysStocksync, SysStocksyncHTTP, SysStocksyncFake, SysKStreams, SysKStreamsEOS, SysFloor}, ", "))
	}
	defer sys.Close()
	began := time.Now()
	if err := sys.Load(ctx, cat); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	fmt.Fprintf(cfg.Log, "   loaded in %s\n", time.Since(began).Round(time.Millisecond))
	lc := cfg.Load
	lc.Workload = wl
	if cfg.CPUProfile != "" && rep == 0 && (len(cfg.EngineCommand) == 0 || !strings.HasPrefix(name, "stocksync")) {
		lc.CPUProfile = strings.TrimSuffix(cfg.CPUProfile, ".pprof") + "-" + name + "-" + wl.Kind + ".pprof"
	}
	lc.Progress = cfg.Log
	return RunLoad(ctx, sys, lc)
}

// startKfake starts kfake as a child (command) or in this process.
func startKfake(ctx context.Context, command []string, logFile string) ([]string, Process, func(), error) {
	if len(command) == 0 {
		kctx, cancel := context.WithCancel(ctx)
		addr, done := make(chan string, 1), make(chan error, 1)
		go func() { done <- RunKfake(kctx, 0, func(a string) { addr <- a }) }()
		select {
		case a := <-addr:
			return []string{a}, Process{}, func() { cancel(); <-done }, nil
		case err := <-done:
			cancel()
			return nil, Process{}, nil, err
		}
	}
	port, err := freePort(0)
	if err != nil {
		return nil, Process{}, nil, err
	}
	cmd := exec.Command(command[0], append(command[1:len(command):len(command)], "--port", fmt.Sprint(port))...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	logf, err := os.Create(logFile)
	if err != nil {
		return nil, Process{}, nil, err
	}
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, Process{}, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, Process{}, nil, err
	}
	stop := func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait(); logf.Close() }
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		return nil, Process{}, nil, fmt.Errorf("kfake child: %w", err)
	}
	return []string{strings.TrimSpace(line)}, Process{Name: "kfake", PID: cmd.Process.Pid}, stop, nil
}
