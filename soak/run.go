package soak

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stocksync/stocksync/client"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
)

// ErrFailed is returned by Run when a check failed; the report says which.
var ErrFailed = errors.New("soak: a check failed")

// Run starts the broker and the instances, runs the load and the faults
// for cfg.Duration, checks the history, writes the report, and stops
// everything it started. It returns ErrFailed when a check failed.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	log := cfg.Log
	dir := cfg.WorkDir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "stocksync-soak-"); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	keep := true // the work directory, for the logs, unless the run passes
	defer func() {
		if !keep && cfg.WorkDir == "" {
			os.RemoveAll(dir)
		}
	}()
	log.Info("soak: starting", "work_dir", dir, "duration", cfg.Duration, "fault_every", cfg.FaultEvery, "seed", cfg.Seed)
	example, err := config.Load(filepath.Join(cfg.Repo, "examples", "stocksync.yaml"))
	if err != nil {
		return nil, err
	}
	var locs []string
	for _, l := range example.Locations {
		locs = append(locs, l.Name)
	}

	b := newBroker(&cfg, dir)
	if err := b.up(ctx); err != nil {
		return nil, err
	}
	defer func() {
		if err := b.down(context.Background()); err != nil {
			log.Warn("soak: stopping the broker", "err", err)
		}
	}()

	bin := filepath.Join(cfg.Repo, "bin", "stocksync")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/stocksync")
	build.Dir = cfg.Repo
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/stocksync: %v: %s", err, out)
	}

	hc := &http.Client{Timeout: 2 * time.Second}
	insts := make([]*instance, cfg.Instances)
	for i := range insts {
		insts[i] = &instance{idx: i, bin: bin, config: filepath.Join(dir, fmt.Sprintf("instance-%d.yaml", i)),
			dataDir: filepath.Join(dir, fmt.Sprintf("data-%d", i)), logPath: filepath.Join(dir, fmt.Sprintf("instance-%d.log", i)),
			base: fmt.Sprintf("http://127.0.0.1:%d", cfg.HTTPPort+i), logLevel: cfg.LogLevel}
		if err := os.MkdirAll(insts[i].dataDir, 0o755); err != nil {
			return nil, err
		}
		if err := writeConfig(&cfg, insts[i]); err != nil {
			return nil, err
		}
	}
	diskIdx := len(insts) - 1
	diskSkip := mountTmpfs(insts[diskIdx].dataDir)
	if diskSkip != "" {
		log.Warn("soak: the full-disk fault will be skipped", "reason", diskSkip)
	} else {
		defer func() {
			if out, err := exec.Command("umount", "-l", insts[diskIdx].dataDir).CombinedOutput(); err != nil {
				log.Warn("soak: umount", "dir", insts[diskIdx].dataDir, "err", err, "out", string(out))
			}
		}()
	}
	defer func() {
		for _, in := range insts {
			in.stop(syscall.SIGTERM, 30*time.Second)
		}
	}()
	for _, in := range insts { // one at a time: the first creates the topics
		if err := in.start(); err != nil {
			return nil, err
		}
		rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		err := in.waitReady(rctx, hc)
		cancel()
		if err != nil {
			return nil, err
		}
		log.Info("soak: instance ready", "instance", in.idx, "api", in.base)
	}

	h := newHistory()
	l := &load{h: h, locs: locs, chans: example.Channels, seed: cfg.Seed,
		feeds: &feeder{h: h, hc: hc}, slow: stackDumper(insts, log.Info)}
	for _, in := range insts {
		l.feeds.bases = append(l.feeds.bases, in.base)
		c, err := client.NewHTTP(client.HTTPConfig{BaseURL: in.base, Timeout: 8 * time.Second})
		if err != nil {
			return nil, err
		}
		l.routes = append(l.routes, route{name: fmt.Sprintf("http-%d", in.idx), c: c})
	}
	kc, err := client.NewKafka(ctx, client.KafkaConfig{Brokers: []string{fmt.Sprintf("127.0.0.1:%d", cfg.KafkaPort)},
		TopicPrefix: topicPrefix, Timeout: 8 * time.Second, ClientID: "stocksync-soak"})
	if err != nil {
		return nil, err
	}
	defer kc.Close()
	l.routes = append(l.routes, route{name: "kafka", c: kc})
	if err := seed(ctx, l); err != nil {
		return nil, err
	}

	// The load, the pollers and the faults.
	start := time.Now()
	stop, stopLoad := context.WithTimeout(ctx, cfg.Duration)
	defer stopLoad()
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() { l.orderWorker(stop, w) })
	}
	wg.Go(func() { l.conflictWorker(stop) })
	wg.Go(func() { l.feedWorker(stop) })
	wg.Go(func() { l.clockWorker(stop) })
	for i := range insts {
		wg.Go(func() { l.pollWorker(stop, i) })
	}
	wg.Go(func() { l.expiryWatcher(stop) })
	f := &faulter{cfg: &cfg, broker: b, insts: insts, hc: hc, diskIdx: diskIdx, diskSkip: diskSkip, log: log.Info}
	var faults []Fault
	for k, slot := 0, 1; ; k, slot = k+1, slot+1 {
		next := start.Add(time.Duration(slot) * cfg.FaultEvery)
		for next.Before(time.Now()) { // a fault that outlasted its slot (a slow restart) pushes the next one to a later slot
			slot++
			next = start.Add(time.Duration(slot) * cfg.FaultEvery)
		}
		if next.After(start.Add(cfg.Duration - 10*time.Second)) { // no fault in the last 10 s
			break
		}
		sleep(stop, time.Until(next))
		if stop.Err() != nil {
			break
		}
		faults = append(faults, f.inject(ctx, k))
	}
	<-stop.Done()
	log.Info("soak: load stopped; waiting for the commands in flight and the expiries")
	wg.Wait()
	loadEnd := time.Now()      // the last fault may outlast the load: the report covers both
	for _, in := range insts { // every instance up for the final reads
		_ = in.signal(syscall.SIGCONT)
		if !in.running() {
			f.restart(ctx, in)
		}
	}
	fin, err := settle(ctx, l, insts)
	if err != nil {
		return nil, err
	}
	ck := newChecker(h, fin, locs, example.Channels, faults)
	rep := newReport(&cfg, h, ck.run(), faults, insts, start, loadEnd)
	if err := writeHistory(filepath.Join(dir, "history.json"), h); err != nil {
		log.Warn("soak: writing the history", "err", err)
	}
	if err := rep.write(&cfg, h); err != nil {
		return rep, err
	}
	log.Info("soak: report written", "markdown", cfg.Report, "plot", cfg.Plot, "pass", rep.Pass)
	if !rep.Pass {
		log.Warn("soak: kept the work directory: instance and broker logs, history.json", "dir", dir)
		return rep, ErrFailed
	}
	keep = false
	return rep, nil
}

// mountTmpfs mounts a tmpfs of 1 GiB at dir (the engine preallocates about 12 MiB of WAL per Pebble store, some 430 MiB in all) for the full-disk fault; it
// returns why it could not, or "".
func mountTmpfs(dir string) string {
	if os.Geteuid() != 0 {
		return "not root: mounting a tmpfs needs root"
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1g", "tmpfs", dir).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("mount -t tmpfs refused: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return ""
}

// seed sets every SKU's stock at every location (snapshot version 1) and
// the clock.
func seed(ctx context.Context, l *load) error {
	for _, sku := range append([]string{clockSKU}, skus...) {
		for _, loc := range l.locs {
			v := int64(initialStock)
			if sku == clockSKU {
				v = 1
			}
			for attempt := 0; ; attempt++ {
				rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				rec := l.feeds.feed(rctx, attempt%len(l.feeds.bases), contract.FeedMessage{Type: contract.Snapshot, SKU: sku, Location: loc, OnHand: &v, Source: "erp", Version: 1})
				cancel()
				if rec.Err == "" {
					break
				}
				if attempt == 10 {
					return fmt.Errorf("soak: seeding %s at %s: %s", sku, loc, rec.Err)
				}
				time.Sleep(time.Second)
			}
		}
	}
	return nil
}
