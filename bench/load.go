package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stocksync/stocksync/contract"
)

var (
	nan = math.NaN()
	inf = math.Inf(1)
)

// LoadConfig is one run of one workload against one system.
type LoadConfig struct {
	Workload WorkloadConfig
	// Rate is the open-loop target in commands per second; commands are
	// due on a fixed schedule whatever the answers do, and latency counts
	// from when a command was due (no coordinated omission). 0 runs closed
	// loop with Clients.
	Rate float64
	// Clients is the closed-loop concurrency: each client sends its next
	// command when the last one is answered. Default 64 when Rate is 0.
	Clients int
	// Duration of the load, warm-up included. Required.
	Duration time.Duration
	// Warmup is left out of the sustained rate. Default 10% of Duration.
	Warmup time.Duration
	// MaxInFlight caps the open loop's commands awaiting an answer; a due
	// command past it is counted as Dropped, not sent. Default 20,000.
	MaxInFlight int
	// Timeout bounds each command. Default 10s.
	Timeout time.Duration
	// Progress receives a line per second while the load runs; nil for none.
	Progress io.Writer
	// RunID makes order ids unique across runs on the same system.
	// Default the start time.
	RunID string
	// CPUProfile, when set, receives a pprof CPU profile of this process
	// over the load (not the loading of the catalogue): with an in-process
	// stocksync, the engine's hot path next to the generator's own costs.
	CPUProfile string
}

// Result is one run's figures.
type Result struct {
	System, Workload, Mode string
	Duration               time.Duration
	Sent, Answered, Errors int
	Dropped                int     // open loop: due but over MaxInFlight
	Decided                float64 // order commands answered per second, after the warm-up
	// Latency of order commands, command to answer, in seconds.
	P50, P95, P99, Max float64
	// Latencies of every answered order command, seconds, sorted; for the
	// plot.
	Latencies []float64
	// PerSecond is the order commands answered in each second of the run.
	PerSecond []int
	Verdict   Verdict
	// Usage of the system's processes during the load; the load
	// generator's own in Generator.
	Usage     map[string]Usage
	Generator Usage
	// Steal is the share of the host's CPU time its hypervisor took during
	// the load (/proc/stat): a run with steal is slower for reasons of the
	// machine, not of the system.
	Steal float64
	// E2E is stock change → marketplace ack per channel (stocksync only),
	// the histogram's growth during the load.
	E2E map[string]Histogram
	// Requests are the system's requests to the broker during the load,
	// by kind (RequestCounters; stocksync).
	Requests map[string]float64
	// FirstErrors are a few of the errors, for the report.
	FirstErrors []string
	// Runs is how many runs the suite made of this system × workload; this
	// is the median one. AllDecided are every run's Decided; OversoldAll
	// the oversold units over all of them.
	Runs        int
	AllDecided  []float64
	OversoldAll int64
}

// RunLoad runs cfg.Workload against sys, whose stock must already be
// loaded (Load with the workload's catalogue), and checks the outcome.
func RunLoad(ctx context.Context, sys System, cfg LoadConfig) (*Result, error) {
	if cfg.Duration <= 0 {
		return nil, errors.New("bench: LoadConfig.Duration is required")
	}
	if cfg.Rate < 0 {
		return nil, fmt.Errorf("bench: LoadConfig.Rate %g is negative", cfg.Rate)
	}
	cfg.Warmup = or(cfg.Warmup, cfg.Duration/10)
	cfg.MaxInFlight = or(cfg.MaxInFlight, 20_000)
	cfg.Timeout = or(cfg.Timeout, 10*time.Second)
	cfg.RunID = or(cfg.RunID, fmt.Sprintf("r%x", time.Now().UnixNano()/1e6%(1<<32)))
	if cfg.Rate == 0 {
		cfg.Clients = or(cfg.Clients, 64)
	}
	gen, err := newGenerator(cfg.Workload, cfg.RunID)
	if err != nil {
		return nil, err
	}
	cat, _ := cfg.Workload.Catalogue()
	wl := gen.cfg
	res := &Result{System: sys.Name(), Workload: wl.Kind, Duration: cfg.Duration, Usage: map[string]Usage{}}
	if cfg.Rate > 0 {
		res.Mode = fmt.Sprintf("open %g/s", cfg.Rate)
	} else {
		res.Mode = fmt.Sprintf("closed %d", cfg.Clients)
	}
	lat, _ := sys.(ChannelLatencies)
	var e2eBefore map[string]Histogram
	if lat != nil {
		if e2eBefore, err = lat.ChannelLatency(ctx); err != nil {
			return nil, fmt.Errorf("bench: %s: reading its latency histograms: %w", sys.Name(), err)
		}
	}
	reqs, _ := sys.(RequestCounters)
	var reqsBefore map[string]float64
	if reqs != nil {
		if reqsBefore, err = reqs.KafkaRequests(ctx); err != nil {
			return nil, fmt.Errorf("bench: %s: reading its request counters: %w", sys.Name(), err)
		}
	}
	meter := startMeter(sys.Processes())
	r := &runner{sys: sys, gen: gen, cfg: cfg, wl: wl, start: time.Now(), seconds: make([]atomic.Int64, int(cfg.Duration/time.Second)+2)}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	loadCtx, stopLoad := context.WithTimeout(ctx, cfg.Duration)
	stopProgress := r.progress(loadCtx)
	if cfg.Rate > 0 {
		r.idle, r.loadDone = make(chan task), loadCtx.Done()
		r.openLoop(loadCtx)
	} else {
		r.closedLoop(loadCtx)
	}
	stopLoad()
	r.wg.Wait()
	stopProgress()
	res.Usage, res.Generator, res.Steal = meter.stop()
	if lat != nil {
		after, err := lat.ChannelLatency(ctx)
		if err != nil {
			return nil, fmt.Errorf("bench: %s: reading its latency histograms: %w", sys.Name(), err)
		}
		res.E2E = map[string]Histogram{}
		for ch, h := range after {
			res.E2E[ch] = h.Sub(e2eBefore[ch])
		}
	}
	if reqs != nil {
		after, err := reqs.KafkaRequests(ctx)
		if err != nil {
			return nil, fmt.Errorf("bench: %s: reading its request counters: %w", sys.Name(), err)
		}
		res.Requests = map[string]float64{}
		for kind, n := range after {
			if d := n - reqsBefore[kind]; d > 0 {
				res.Requests[kind] = d
			}
		}
	}
	r.finish(res)
	res.Verdict = Check(cat, r.records.all())
	return res, nil
}

type runner struct {
	sys     System
	gen     *generator
	cfg     LoadConfig
	wl      WorkloadConfig
	start   time.Time
	wg      sync.WaitGroup
	mu      sync.Mutex
	records records
	errs    []string
	// idle hands open-loop commands to workers waiting for one; loadDone
	// ends their wait.
	idle     chan task
	loadDone <-chan struct{}

	sent, answered, failed, dropped, inflight atomic.Int64
	seconds                                   []atomic.Int64 // order answers per second of the run
}

func (r *runner) openLoop(ctx context.Context) {
	interval := float64(time.Second) / r.cfg.Rate
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for i := 0; ; {
		// Send every command due by now, then sleep a millisecond.
		for ; ; i++ {
			due := r.start.Add(time.Duration(float64(i) * interval))
			if due.After(time.Now()) {
				break
			}
			if ctx.Err() != nil {
				return
			}
			r.launch(due)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (r *runner) launch(due time.Time) {
	op := r.gen.Next()
	if r.inflight.Load() >= int64(r.cfg.MaxInFlight) {
		r.dropped.Add(1)
		if isOrder(op.Kind) {
			r.gen.Done(op, contract.OrderResult{}, errors.New("dropped"))
		}
		return
	}
	r.inflight.Add(1)
	select {
	case r.idle <- task{op, due}: // a worker that waits takes it
	default:
		r.wg.Add(1)
		go r.work(task{op, due})
	}
}

// task is one open-loop command and when it was due.
type task struct {
	op  Op
	due time.Time
}

// work sends t, then waits for more while the load lasts. A goroutine per
// command grew a fresh stack for each (8 % of the generator's CPU at
// 5,000 orders/s); a worker keeps its stack.
func (r *runner) work(t task) {
	defer r.wg.Done()
	for {
		r.do(t.op, t.due)
		r.inflight.Add(-1)
		select {
		case t = <-r.idle:
		case <-r.loadDone:
			return
		}
	}
}

func (r *runner) closedLoop(ctx context.Context) {
	for range r.cfg.Clients {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for ctx.Err() == nil {
				op := r.gen.Next()
				r.inflight.Add(1)
				r.do(op, time.Now())
				r.inflight.Add(-1)
			}
		}()
	}
	<-ctx.Done()
}

// do sends one command and records it. Commands due before the end are
// answered even after it (they are in the record either way).
func (r *runner) do(op Op, due time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	r.sent.Add(1)
	var res contract.OrderResult
	var err error
	switch op.Kind {
	case OpReserve:
		res, err = r.sys.Reserve(ctx, op.OrderID, op.Lines, r.wl.Channel, r.wl.TTL)
	case OpConfirm:
		res, err = r.sys.Confirm(ctx, op.OrderID)
	case OpRelease:
		res, err = r.sys.Release(ctx, op.OrderID)
	case OpShip:
		res, err = r.sys.Ship(ctx, op.OrderID)
	case OpSnapshot:
		err = r.sys.Snapshot(ctx, op.Key, op.OnHand, op.Version)
	case OpAdjust:
		err = r.sys.Adjust(ctx, op.Key, op.Delta, op.ID)
	}
	now := time.Now()
	rec := Record{Op: op, Sent: int64(due.Sub(r.start)), Latency: int64(now.Sub(due)), Result: res, Err: err != nil}
	if err != nil {
		r.failed.Add(1)
	} else {
		r.answered.Add(1)
		if isOrder(op.Kind) {
			if s := int(now.Sub(r.start) / time.Second); s < len(r.seconds) {
				r.seconds[s].Add(1)
			}
		}
	}
	if op.Kind != OpSnapshot && op.Kind != OpAdjust {
		r.gen.Done(op, res, err)
	}
	r.mu.Lock()
	r.records.add(rec)
	if err != nil && len(r.errs) < 5 {
		r.errs = append(r.errs, err.Error())
	}
	r.mu.Unlock()
}

// records keeps a run's records in chunks: one growing slice of them
// copied itself over and over as it grew (12 % of the generator's CPU in
// closed loop, and collections with it), which the report charges to
// the system under test's CPU per order.
type records struct{ chunks [][]Record }

const recordsChunk = 4096

func (rs *records) add(rec Record) {
	if n := len(rs.chunks); n == 0 || len(rs.chunks[n-1]) == recordsChunk {
		rs.chunks = append(rs.chunks, make([]Record, 0, recordsChunk))
	}
	last := &rs.chunks[len(rs.chunks)-1]
	*last = append(*last, rec)
}

// all is every record in one slice, once the load is over.
func (rs *records) all() []Record {
	if len(rs.chunks) == 1 {
		return rs.chunks[0]
	}
	out := make([]Record, 0, len(rs.chunks)*recordsChunk)
	for _, c := range rs.chunks {
		out = append(out, c...)
	}
	rs.chunks = [][]Record{out}
	return out
}

func isOrder(kind string) bool { return kind != OpSnapshot && kind != OpAdjust }

// progress prints a line a second until the returned stop is called.
func (r *runner) progress(ctx context.Context) (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			ans := r.answered.Load()
			fmt.Fprintf(r.cfg.Progress, "  %-8s %-6s %4.0fs  sent %8d  answered %8d (%6d/s)  in flight %6d  errors %d  dropped %d\n",
				r.sys.Name(), r.wl.Kind, time.Since(r.start).Seconds(), r.sent.Load(), ans, ans-last,
				r.inflight.Load(), r.failed.Load(), r.dropped.Load())
			last = ans
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (r *runner) finish(res *Result) {
	res.Sent, res.Answered = int(r.sent.Load()), int(r.answered.Load())
	res.Errors, res.Dropped = int(r.failed.Load()), int(r.dropped.Load())
	res.FirstErrors = r.errs
	warm := int64(r.cfg.Warmup)
	end := int64(r.cfg.Duration)
	var decided int
	all := r.records.all()
	for i := range all {
		rec := &all[i]
		if rec.Err || !isOrder(rec.Op.Kind) {
			continue
		}
		res.Latencies = append(res.Latencies, float64(rec.Latency)/1e9)
		if at := rec.Sent + rec.Latency; at >= warm && at < end {
			decided++
		}
	}
	res.Decided = float64(decided) / (float64(end-warm) / 1e9)
	slices.Sort(res.Latencies)
	res.P50, res.P95, res.P99 = quantile(res.Latencies, .5), quantile(res.Latencies, .95), quantile(res.Latencies, .99)
	res.Max = nan
	if n := len(res.Latencies); n > 0 {
		res.Max = res.Latencies[n-1]
	}
	secs := int(r.cfg.Duration / time.Second)
	for i := 0; i < secs && i < len(r.seconds); i++ {
		res.PerSecond = append(res.PerSecond, int(r.seconds[i].Load()))
	}
}

// quantile of sorted values (nearest rank).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return nan
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
