package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/stocksync/stocksync/marketplace"
)

// Modes of the chain simulation (issue #16): how the marketplaces learn the
// stock. A real-time mode runs a stocksync engine of its own; a batch mode
// is the ERP's book and a cron.
const (
	ChainRealtime    = "realtime"     // stocksync pushes every change; sell-outs and sharp drops first
	ChainRealtimeAny = "realtime-any" // the same, pending values in no particular order (as before issue 16)
	ChainSafety      = "safety"       // realtime, with safety stock on the marketplaces
	chainBatchPrefix = "batch-"       // batch-<interval>: a cron pushes the full catalogue every interval
)

// DefaultChainModes are the modes `make bench-chain` compares: three days
// (realtime, safety, the crons) fit in its 10 minutes; ChainRealtimeAny,
// for what the push order buys, is a day more.
var DefaultChainModes = []string{ChainRealtime, ChainSafety, "batch-1m", "batch-5m", "batch-15m"}

// ChainConfig is one simulated day of a chain. Zero fields take the defaults
// stated on them. Rates are per simulated minute outside the promotion.
type ChainConfig struct {
	// Brokers of the Kafka cluster; empty starts an embedded kfake.
	Brokers []string
	// Modes to run on the same demand; default DefaultChainModes.
	Modes []string
	// SideBySide runs every mode in one day, their engines sharing the
	// cores. Default false: a day per real-time mode, one after another,
	// each engine alone with the simulation, and one for the batch modes,
	// on the same demand.
	SideBySide bool
	// Backend is the engines' engine.backend, as $STOCKSYNC_ENGINE is
	// written (goka or v1, txloop or v2). Default "": the config default.
	Backend string
	// SKUs in the catalogue; default 2000.
	SKUs int
	// Day is the simulated time of each day; default 50m.
	Day time.Duration
	// Speed is simulated seconds per wall second; default 20.
	Speed float64
	// SpikeAt is when the promotion starts (simulated); default with the
	// first ERP delivery from half the day on (the shelves stocked for
	// it), or Day/2 when the promotion would not fit.
	SpikeAt time.Duration
	// SpikeFor is how long it lasts (simulated); default 10m.
	SpikeFor time.Duration
	// SpikeFactor multiplies every demand during the promotion; default 10.
	SpikeFactor float64
	// MarketplaceOrders per simulated minute over Ozon, Wildberries and
	// Yandex Market together; default 30.
	MarketplaceOrders float64
	// AppOrders per simulated minute in the chain's own app; default 10.
	AppOrders float64
	// ShelfSales per simulated minute over the shops; default 20.
	ShelfSales float64
	// NewSKUs are added to the catalogue when the promotion starts (its
	// assortment): their first values queue at every marketplace, behind
	// or after the promotion's sell-outs; default 5000, as the demo
	// catalogue (about 40 s of Ozon's rate). They are not sold.
	NewSKUs int
	// Restock is the ERP's delivery interval (simulated): every row below
	// its par is topped up; default 30m.
	Restock time.Duration
	// SafetyStock of each marketplace channel in the safety mode; default 1.
	SafetyStock int64
	// Partitions of every topic; default 4.
	Partitions int32
	// Dir holds the engines' tables; default a temporary directory, removed.
	Dir string
	// Seed makes the demand repeatable; default 1.
	Seed uint64
	// Logger gets the engines' warnings; default discarded.
	Logger *slog.Logger
	// Progress, when set, gets a line every simulated 10 minutes.
	Progress func(line string)
}

func (c *ChainConfig) fill() error {
	if len(c.Modes) == 0 {
		c.Modes = DefaultChainModes
	}
	c.SKUs = or(c.SKUs, 2000)
	c.Day = or(c.Day, 50*time.Minute)
	c.Speed = or(c.Speed, 20)
	c.SpikeFor = or(c.SpikeFor, 10*time.Minute)
	c.SpikeFactor = or(c.SpikeFactor, 10)
	c.MarketplaceOrders = or(c.MarketplaceOrders, 30)
	c.AppOrders = or(c.AppOrders, 10)
	c.ShelfSales = or(c.ShelfSales, 20)
	c.NewSKUs = or(c.NewSKUs, 5000)
	c.Restock = or(c.Restock, 30*time.Minute)
	if c.SpikeAt == 0 {
		c.SpikeAt = (c.Day/2 + c.Restock - 1) / c.Restock * c.Restock
		if c.SpikeAt+c.SpikeFor > c.Day {
			c.SpikeAt = c.Day / 2
		}
	}
	c.SafetyStock = or(c.SafetyStock, 1)
	c.Partitions = or(c.Partitions, 4)
	c.Seed = or(c.Seed, 1)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	seen := map[string]bool{}
	for _, m := range c.Modes {
		if _, err := chainBatchInterval(m); err != nil {
			errs = append(errs, err)
		}
		if seen[m] {
			errs = append(errs, fmt.Errorf("bench: chain mode %q is listed twice", m))
		}
		seen[m] = true
	}
	if c.SKUs < 10 {
		errs = append(errs, fmt.Errorf("bench: chain SKUs %d: want at least 10", c.SKUs))
	}
	if c.Speed < 1 {
		errs = append(errs, fmt.Errorf("bench: chain Speed %g: want ≥ 1 (simulated seconds per wall second)", c.Speed))
	}
	if c.SpikeAt+c.SpikeFor > c.Day {
		errs = append(errs, fmt.Errorf("bench: the promotion (%s from %s) ends after the day (%s)", c.SpikeFor, c.SpikeAt, c.Day))
	}
	return errors.Join(errs...)
}

// chainBatchInterval is a mode's cron interval, 0 for a real-time mode.
func chainBatchInterval(mode string) (time.Duration, error) {
	switch mode {
	case ChainRealtime, ChainRealtimeAny, ChainSafety:
		return 0, nil
	}
	if s, ok := strings.CutPrefix(mode, chainBatchPrefix); ok {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			return d, nil
		}
	}
	return 0, fmt.Errorf("bench: chain mode %q is not %s, %s, %s or batch-<interval> such as batch-5m",
		mode, ChainRealtime, ChainRealtimeAny, ChainSafety)
}

// ChainResult is what RunChain measured.
type ChainResult struct {
	Config ChainConfig   `json:"-"`
	Modes  []*ModeResult `json:"modes"`
	// Minute is the width of a bin of ModeResult.Cancelled, simulated.
	Bin time.Duration `json:"bin_ns"`
	// Wall is how long the run took, every day and its setup.
	Wall time.Duration `json:"wall_ns"`
}

// ModeResult is one mode's day.
type ModeResult struct {
	Mode string `json:"mode"`
	// Orders counts, per channel, the customer orders the marketplace or
	// app accepted against the stock it showed; Cancelled those stocksync
	// then refused (out of stock).
	Orders    map[string]int `json:"orders"`
	Cancelled map[string]int `json:"cancelled"`
	// NotShown counts the orders a customer could not place because the
	// channel showed less than asked while the location had it: sales lost
	// to a stale or held-back value.
	NotShown map[string]int `json:"not_shown"`
	// Bins counts marketplace cancellations per Bin of simulated time.
	Bins []int `json:"bins"`
	// OversoldUnits is Σ over rows of max(0, held − supply), from the
	// simulation's own record of stocksync's answers: must be 0.
	OversoldUnits int64 `json:"oversold_units"`
	// Unknown counts orders without an answer (transport errors).
	Unknown int `json:"unknown"`
	// Latency is stock change → acknowledgement per channel (the
	// engine's stocksync_sink_e2e_latency_seconds less its
	// stocksync_sink_first_latency_seconds: SKUs the channel already
	// shows; wall seconds) outside the promotion, PromotionLatency
	// during it; Listing is the first values over the day (the
	// promotion's new SKUs); real-time modes.
	Latency          map[string]Histogram `json:"latency,omitempty"`
	PromotionLatency map[string]Histogram `json:"promotion_latency,omitempty"`
	Listing          map[string]Histogram `json:"listing_latency,omitempty"`
	// Pushes counts the requests the marketplaces received, per channel.
	Pushes map[string]int `json:"pushes"`
	// Load is the machine's 1-minute load average over the mode's day
	// (the mean of a sample every 10 simulated minutes); 0 where
	// /proc/loadavg cannot be read.
	Load float64 `json:"load_avg"`
}

// marketplaceChannels are the channels whose cancellations are the
// headline; the app is reported beside them.
var marketplaceChannels = []string{"ozon", "wildberries", "yandex"}

// PerThousand is marketplace cancellations per 1,000 marketplace orders.
func (m *ModeResult) PerThousand() float64 {
	var orders, cancelled int
	for _, ch := range marketplaceChannels {
		orders += m.Orders[ch]
		cancelled += m.Cancelled[ch]
	}
	if orders == 0 {
		return math.NaN()
	}
	return 1000 * float64(cancelled) / float64(orders)
}

// RunChain runs the day once in every mode, on the same demand: a day per
// real-time mode one after another, or with SideBySide all in one, and
// returns what each mode's customers saw, in the order of cfg.Modes.
func RunChain(ctx context.Context, cfg ChainConfig) (*ChainResult, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if len(cfg.Brokers) == 0 {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			return nil, fmt.Errorf("bench: start kfake: %w", err)
		}
		defer c.Close()
		cfg.Brokers = c.ListenAddrs()
	}
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "stocksync-chain-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		cfg.Dir = dir
	}
	demand := newDemand(cfg)
	res := &ChainResult{Config: cfg, Bin: chainBin}
	began := time.Now()
	for _, modes := range chainDays(cfg) {
		got, err := runDay(ctx, cfg, modes, demand)
		if err != nil {
			return nil, err
		}
		res.Modes = append(res.Modes, got...)
	}
	res.Wall = time.Since(began)
	slices.SortStableFunc(res.Modes, func(a, b *ModeResult) int {
		return slices.Index(cfg.Modes, a.Mode) - slices.Index(cfg.Modes, b.Mode)
	})
	return res, nil
}

// chainDays groups the modes into the days that run one after another:
// a day per real-time mode, each alone with its engine, and one for the
// batch modes, which have no engine but whose crons push the whole
// catalogue to four channels every interval (beside an engine they cost
// it its promotion); or with SideBySide one day for all.
func chainDays(cfg ChainConfig) [][]string {
	if cfg.SideBySide {
		return [][]string{cfg.Modes}
	}
	var days [][]string
	var batches []string
	for _, m := range cfg.Modes {
		if d, _ := chainBatchInterval(m); d > 0 {
			batches = append(batches, m)
		} else {
			days = append(days, []string{m})
		}
	}
	if len(batches) > 0 {
		days = append(days, batches)
	}
	return days
}

// runDay starts a world per mode, plays the day's events to all of them
// at their simulated time, and returns the modes' results.
func runDay(ctx context.Context, cfg ChainConfig, modes []string, demand *demand) ([]*ModeResult, error) {
	clock := newSimClock(cfg.Speed)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	worlds := make([]*world, len(modes))
	errc := make(chan error, len(modes))
	var wg sync.WaitGroup
	for i, mode := range modes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := startWorld(ctx, cfg, mode, demand, clock)
			if err != nil {
				if w != nil {
					w.close()
				}
				errc <- fmt.Errorf("mode %s: %w", mode, err)
				return
			}
			worlds[i] = w
		}()
	}
	wg.Wait()
	defer func() {
		for _, w := range worlds {
			if w != nil {
				w.close()
			}
		}
	}()
	select {
	case err := <-errc:
		return nil, err
	default:
	}

	// The day: every event at its simulated time, to every world.
	clock.start()
	marks := []struct {
		at   time.Duration
		name string
	}{{0, markDay}, {cfg.SpikeAt, markPromotion}, {cfg.SpikeAt + cfg.SpikeFor, markAfter}}
	var load loadSampler
	var next time.Duration
	for _, ev := range demand.events {
		if err := clock.sleepUntil(ctx, ev.at); err != nil {
			return nil, err
		}
		for len(marks) > 0 && ev.at >= marks[0].at {
			for _, w := range worlds {
				w.mark(marks[0].name)
			}
			marks = marks[1:]
		}
		for _, w := range worlds {
			w.handle(ctx, ev)
		}
		if ev.at >= next {
			load.sample()
			if cfg.Progress != nil {
				cfg.Progress(progressLine(ev.at, worlds))
			}
			next += 10 * time.Minute
		}
	}
	if err := clock.sleepUntil(ctx, cfg.Day); err != nil {
		return nil, err
	}
	load.sample()
	for _, w := range worlds {
		w.drain()
	}
	var out []*ModeResult
	for _, w := range worlds {
		r := w.result(cfg.Day)
		r.Load = load.mean()
		out = append(out, r)
	}
	return out, nil
}

func progressLine(at time.Duration, worlds []*world) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%6s", at.Truncate(time.Minute))
	for _, w := range worlds {
		orders, cancelled := w.counts()
		fmt.Fprintf(&b, "  %s %d/%d", w.mode, cancelled, orders)
	}
	return b.String() + " (cancelled/marketplace orders)"
}

// chainBin is the width of a bin of cancellations over time.
const chainBin = 5 * time.Minute

// simClock maps wall time to simulated time: speed simulated seconds per
// wall second. It never goes back: the mock marketplaces' limits run on it
// from the start, the day's 0 is set once every world is loaded.
type simClock struct {
	speed float64
	t0    time.Time
	day0  atomic.Int64 // simulated ns since t0 when the day began
}

func newSimClock(speed float64) *simClock { return &simClock{speed: speed, t0: time.Now()} }

func (c *simClock) total() time.Duration { return time.Duration(float64(time.Since(c.t0)) * c.speed) }

// start makes now the simulated day's 0.
func (c *simClock) start() { c.day0.Store(int64(c.total())) }

// Since is the simulated time since the day's start.
func (c *simClock) Since() time.Duration { return c.total() - time.Duration(c.day0.Load()) }

// Now is the simulated wall clock the mock marketplaces' limits run on.
func (c *simClock) Now() time.Time { return c.t0.Add(c.total()) }

// wall is the wall time at which Now reads at.
func (c *simClock) wall(at time.Time) time.Time {
	return c.t0.Add(time.Duration(float64(at.Sub(c.t0)) / c.speed))
}

func (c *simClock) sleepUntil(ctx context.Context, at time.Duration) error {
	d := time.Duration(float64(at-c.Since()) / c.speed)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// scaled are a marketplace's limits in wall time when simulated time runs
// speed times faster: rates times speed, the per-item cooldown divided.
func scaled(kind string, speed float64) (marketplace.Limits, error) {
	l, err := marketplace.DefaultLimits(kind)
	if err != nil {
		return l, err
	}
	l.Rate *= speed
	if l.ItemCooldown > 0 {
		l.ItemCooldown = time.Duration(float64(l.ItemCooldown) / speed)
	}
	return l, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// loadSampler averages the machine's 1-minute load average: the engines
// share the cores with whatever else runs, and a figure means little
// without it.
type loadSampler struct {
	sum float64
	n   int
}

func (l *loadSampler) sample() {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return
	}
	var v float64
	if _, err := fmt.Sscan(string(b), &v); err == nil {
		l.sum, l.n = l.sum+v, l.n+1
	}
}

func (l *loadSampler) mean() float64 {
	if l.n == 0 {
		return 0
	}
	return l.sum / float64(l.n)
}
