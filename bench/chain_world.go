package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"gopkg.in/yaml.v3"

	"github.com/stocksync/stocksync/client"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/marketplace/mock"
	"github.com/stocksync/stocksync/sinks"
	"github.com/stocksync/stocksync/stock"
	"github.com/stocksync/stocksync/topology"
)

// chainChannels are the channels of every mode: the app (a webhook to the
// chain's own backend) and the three marketplaces, each showing all of its
// location's stock.
var chainChannels = []struct{ name, kind string }{
	{"app", marketplace.KindWebhook}, {"ozon", marketplace.KindOzon},
	{"wildberries", marketplace.KindWildberries}, {"yandex", marketplace.KindYandex},
}

// world is one mode's chain: its engine, its marketplaces (mocks that keep
// the last pushed stock and take orders against it), the ERP's book of
// what is available, and the counts of what customers saw.
type world struct {
	cfg     ChainConfig
	mode    string
	batch   time.Duration // the cron's interval; 0: stocksync pushes
	d       *demand
	clock   *simClock
	catalog *stock.Catalog
	mocks   map[string]*mock.Server
	cron    map[string]*sinks.Pusher // batch modes: the cron's pushers, one per channel

	url     string
	api     *client.HTTP
	feed    *kgo.Client
	topic   string
	reg     *prometheus.Registry
	marks   map[string]ackMark // change → ack per channel at the day's start, the promotion's and its end
	stop    context.CancelFunc
	running bool // the engine was started: close waits for it
	done    chan error
	wg      sync.WaitGroup // the cron
	busy    sync.WaitGroup // orders in flight
	sem     chan struct{}

	listed     atomic.Int64 // SKUs in the catalogue now
	feedErrors atomic.Int64
	mu         sync.Mutex
	avail      [][]int64 // [sku][loc]: the ERP's book, from the answers and its own movements
	supply     [][]int64 // start + restocks
	held       [][]int64 // units of accepted reserves
	orders     map[string]int
	cancelled  map[string]int
	notShown   map[string]int
	bins       []int
	unknown    int
}

// chainSettings is a real-time mode's engine configuration: the chain's
// locations and channels.
func chainSettings(cfg ChainConfig, mode, prefix, dataDir string) (*config.Config, error) {
	var locs []map[string]any
	for _, l := range chainLocations() {
		kind := "store"
		switch l {
		case chainWarehouse:
			kind = "warehouse"
		case chainDarkStore:
			kind = "darkstore"
		}
		locs = append(locs, map[string]any{"name": l, "kind": kind})
	}
	var chans []map[string]any
	for _, r := range chainRules(cfg, mode) {
		c := map[string]any{"name": r.Name, "marketplace": chainKind(r.Name), "locations": r.Locations,
			"safety_stock": r.SafetyStock, "endpoint": map[string]any{"mock": true}}
		if mode == ChainRealtimeAny {
			c["push_order"] = config.PushAnyOrder
		}
		chans = append(chans, c)
	}
	doc := map[string]any{
		"kafka":     map[string]any{"brokers": cfg.Brokers, "topic_prefix": prefix, "partitions": cfg.Partitions, "replication": 1},
		"http":      map[string]any{"addr": "127.0.0.1:0", "rate_per_s": 1e6, "max_in_flight": 100_000},
		"data_dir":  dataDir,
		"engine":    map[string]any{"sweep_interval": "1s", "write_timeout": "10s"},
		"locations": locs,
		"channels":  chans,
	}
	data, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	s, err := config.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("bench: chain engine settings: %w", err)
	}
	return s, nil
}

func chainKind(channel string) string {
	for _, c := range chainChannels {
		if c.name == channel {
			return c.kind
		}
	}
	return ""
}

// chainRules are the channels' rules in a mode: all of the location's
// stock, less the safety stock on the marketplaces in the safety mode.
func chainRules(cfg ChainConfig, mode string) []stock.ChannelRule {
	var out []stock.ChannelRule
	for _, c := range chainChannels {
		r := stock.ChannelRule{Name: c.name, Locations: []string{chainLocations()[chainChannelLocation(c.name)]}, Share: 1}
		if mode == ChainSafety && c.name != "app" {
			r.SafetyStock = cfg.SafetyStock
		}
		out = append(out, r)
	}
	return out
}

// startWorld starts a mode's marketplaces, and its engine or its cron,
// loads the catalogue and waits until every marketplace shows all of it.
//
// A batch mode has no engine: the ERP's book decides its orders (accept
// when the location has the units: what stocksync decides for a one-line
// order at a named location), so three more engines on the same cores do
// not slow the real-time modes' down. The oversell check is stocksync's.
func startWorld(ctx context.Context, cfg ChainConfig, mode string, d *demand, clock *simClock) (*world, error) {
	interval, _ := chainBatchInterval(mode)
	w := &world{cfg: cfg, mode: mode, batch: interval, d: d, clock: clock, mocks: map[string]*mock.Server{},
		catalog: stock.NewCatalog(d.locs, chainRules(cfg, mode)), reg: prometheus.NewRegistry(), done: make(chan error, 1),
		sem: make(chan struct{}, 256), orders: map[string]int{}, cancelled: map[string]int{}, notShown: map[string]int{},
		bins: make([]int, int((cfg.Day+chainBin-1)/chainBin))}
	w.stop = func() {}
	w.avail, w.supply, w.held = make([][]int64, len(d.skus)), make([][]int64, len(d.skus)), make([][]int64, len(d.skus))
	for k := range d.skus {
		w.avail[k], w.supply[k], w.held[k] = append([]int64(nil), d.par[k]...), append([]int64(nil), d.par[k]...), make([]int64, len(d.locs))
	}
	endpoints := map[string]marketplace.Config{}
	for _, c := range chainChannels {
		m, err := mock.New(c.kind)
		if err != nil {
			return w, err
		}
		w.mocks[c.name] = m
		m.SetClock(clock.Now)
		endpoints[c.name] = w.endpoint(c.name)
	}
	if w.batch > 0 {
		w.listed.Store(int64(d.listed))
		w.startCron()
		return w, w.waitShown(ctx)
	}

	prefix := fmt.Sprintf("chain-%x-%s.", time.Now().UnixNano()/1e6%(1<<32), mode)
	settings, err := chainSettings(cfg, mode, prefix, filepath.Join(cfg.Dir, mode))
	if err != nil {
		return w, err
	}
	names := topology.New(prefix)
	w.topic = string(names.StockFeed)
	if err := createTopics(ctx, cfg.Brokers, names, cfg.Partitions); err != nil {
		return w, err
	}
	runCtx, stop := context.WithCancel(context.Background())
	w.stop, w.running = stop, true
	ready := make(chan string, 1)
	go func() {
		w.done <- RunEngine(runCtx, EngineConfig{Settings: settings, Backend: cfg.Backend, Registry: w.reg, Logger: cfg.Logger, Endpoints: endpoints,
			Ready: func(url string) { ready <- url }})
	}()
	select {
	case w.url = <-ready:
	case err := <-w.done:
		return w, fmt.Errorf("bench: the engine stopped before it listened: %w", err)
	case <-ctx.Done():
		return w, ctx.Err()
	}
	if err := waitReady(ctx, w.url, w.done, func() string { return "" }); err != nil {
		return w, err
	}
	if w.api, err = client.NewHTTP(client.HTTPConfig{BaseURL: w.url, Timeout: 30 * time.Second,
		HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}); err != nil {
		return w, err
	}
	if w.feed, err = kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.ProducerLinger(2*time.Millisecond),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil))); err != nil {
		return w, err
	}
	if err := w.load(ctx); err != nil {
		return w, err
	}
	return w, w.waitShown(ctx)
}

// load sends every row's starting stock as an ERP snapshot and waits until
// the engine shows the last SKUs of the catalogue.
func (w *world) load(ctx context.Context) error {
	w.list(0, w.d.listed)
	if err := w.feed.Flush(ctx); err != nil {
		return err
	}
	if n := w.feedErrors.Load(); n > 0 {
		return fmt.Errorf("bench: %d catalogue rows were not written to %s", n, w.topic)
	}
	return poll(ctx, 120*time.Second, "the engine shows the catalogue", func() (bool, error) {
		for k := w.d.listed - 1; k >= max(0, w.d.listed-20); k-- {
			var v contract.StockView
			if err := getJSON(ctx, w.url+"/v1/stock/"+w.d.skus[k], &v); err != nil || len(v.Locations) != len(w.d.locs) {
				return false, nil
			}
		}
		return true, nil
	})
}

// waitShown waits for the first sync: every marketplace shows every SKU.
func (w *world) waitShown(ctx context.Context) error {
	return poll(ctx, 300*time.Second, "every marketplace shows the catalogue", func() (bool, error) {
		for _, m := range w.mocks {
			for _, sku := range w.d.skus[:w.d.listed] {
				if _, ok := m.Stock(sku); !ok {
					return false, nil
				}
			}
		}
		return true, nil
	})
}

// list sends the starting stock of SKUs [from, to) as ERP snapshots (the
// rows that have any); they are in the catalogue, and the cron's sync,
// from then on.
func (w *world) list(from, to int) {
	for k := from; k < to; k++ {
		for j, loc := range w.d.locs {
			onHand := w.d.par[k][j]
			if onHand == 0 {
				continue
			}
			_ = w.produce(contract.FeedMessage{Type: contract.Snapshot, SKU: w.d.skus[k], Location: loc, OnHand: &onHand, Source: "erp", Version: 1})
		}
	}
	w.listed.Store(int64(to))
}

func (w *world) produce(msg contract.FeedMessage) error {
	if w.feed == nil {
		return nil // a batch mode: the book is all there is
	}
	v, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	w.feed.Produce(context.Background(), &kgo.Record{Topic: w.topic, Key: []byte(msg.SKU), Value: v}, func(_ *kgo.Record, err error) {
		if err != nil {
			w.feedErrors.Add(1)
		}
	})
	return nil
}

// handle applies one event of the day to this world.
func (w *world) handle(ctx context.Context, ev chainEvent) {
	switch ev.kind {
	case evOrder:
		w.order(ctx, ev)
	case evShelf:
		w.mu.Lock()
		sold := w.avail[ev.sku][ev.loc] >= ev.qty
		if sold {
			w.avail[ev.sku][ev.loc] -= ev.qty
		}
		w.mu.Unlock()
		if sold {
			_ = w.produce(contract.FeedMessage{Type: contract.Adjust, SKU: w.d.skus[ev.sku], Location: w.d.locs[ev.loc],
				Delta: -ev.qty, Reason: "sale", ID: fmt.Sprintf("s-%d", ev.id)})
		}
	case evListing:
		w.list(w.d.listed, len(w.d.skus))
	case evRestock:
		w.mu.Lock()
		var moves []contract.FeedMessage
		for k, sku := range w.d.skus[:w.listed.Load()] {
			for j, loc := range w.d.locs {
				if need := w.d.par[k][j] - w.avail[k][j]; need > 0 {
					w.avail[k][j] += need
					w.supply[k][j] += need
					moves = append(moves, contract.FeedMessage{Type: contract.Adjust, SKU: sku, Location: loc, Delta: need,
						Reason: "delivery", ID: fmt.Sprintf("r-%d-%d-%d", ev.id, k, j)})
				}
			}
		}
		w.mu.Unlock()
		for _, m := range moves {
			_ = w.produce(m)
		}
	}
}

// order is a customer's order in a channel: placed if the channel shows
// the stock, then sent to stocksync as a reserve; a refusal is an
// out-of-stock cancellation.
func (w *world) order(ctx context.Context, ev chainEvent) {
	sku, loc := w.d.skus[ev.sku], w.d.locs[ev.loc]
	if !w.mocks[ev.channel].Order(sku, ev.qty) {
		w.mu.Lock()
		if w.avail[ev.sku][ev.loc] >= ev.qty {
			w.notShown[ev.channel]++
		}
		w.mu.Unlock()
		return
	}
	w.mu.Lock()
	w.orders[ev.channel]++
	if w.batch > 0 {
		w.decided(ev, w.avail[ev.sku][ev.loc] >= ev.qty, true)
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	w.busy.Add(1)
	go func() {
		defer w.busy.Done()
		w.sem <- struct{}{}
		defer func() { <-w.sem }()
		res, err := w.api.Reserve(ctx, fmt.Sprintf("o-%d", ev.id), []contract.Line{{SKU: sku, Qty: ev.qty, Location: loc}},
			ev.channel, 24*time.Hour)
		w.mu.Lock()
		defer w.mu.Unlock()
		switch {
		case err == nil && res.Status == contract.StatusReserved:
			w.decided(ev, true, true)
		case err == nil && res.Error != nil && res.Error.Type == contract.ErrInsufficientStock:
			w.decided(ev, false, true)
		default:
			w.decided(ev, false, false)
		}
	}()
}

// decided books an order's answer: accepted, refused for want of stock (a
// cancellation), or unknown; w.mu is held.
func (w *world) decided(ev chainEvent, accepted, known bool) {
	switch {
	case !known:
		w.unknown++
	case accepted:
		w.avail[ev.sku][ev.loc] -= ev.qty
		w.held[ev.sku][ev.loc] += ev.qty
	default:
		w.cancelled[ev.channel]++
		if ev.channel != "app" {
			w.bins[min(int(ev.at/chainBin), len(w.bins)-1)]++
		}
	}
}

// startCron pushes the full catalogue every interval from the ERP's book,
// through the same adapters and the same pusher (batching, rate limits,
// retries) as stocksync, from the day's start (and once before it).
func (w *world) startCron() {
	ctx, stop := context.WithCancel(context.Background())
	w.stop = stop
	metrics := sinks.NewMetrics(prometheus.NewRegistry())
	w.cron = map[string]*sinks.Pusher{}
	for _, c := range chainChannels {
		adapter, err := marketplace.New(c.kind, w.endpoint(c.name))
		if err != nil {
			panic(err) // the mocks' own configs are valid
		}
		var p *sinks.Pusher
		p, _ = sinks.New(sinks.Config{Channel: c.name, Adapter: adapter, Metrics: metrics, Unordered: true,
			Send: func(_ context.Context, v sinks.Verdict, done func(error)) {
				done(nil)
				go func() {
					if v.OK {
						p.Acked(v.SKU, v.Version)
					} else {
						p.Dropped(v.SKU, v.Version)
					}
				}()
			}})
		w.cron[c.name] = p
		w.wg.Add(1)
		go func() { defer w.wg.Done(); _ = p.Run(ctx) }()
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.sync(1)
		for tick := int64(2); ; tick++ {
			// The first tick is the day's 0, once the day has begun.
			for w.clock.day0.Load() == 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
			// A simulated second past the tick: a delivery due on the
			// same minute is in the book, whichever goroutine the
			// machine ran first (else the cron's lost sales moved from
			// 10 to 800 with the load).
			if w.clock.sleepUntil(ctx, time.Duration(tick-2)*w.batch+time.Second) != nil {
				return
			}
			w.sync(tick)
		}
	}()
}

// endpoint is the adapter config of a channel's mock, its limits and the
// waits its throttled answers ask for scaled to the simulated clock.
func (w *world) endpoint(channel string) marketplace.Config {
	ep := w.mocks[channel].Config()
	ep.Channel = channel
	ep.Limits, _ = scaled(chainKind(channel), w.cfg.Speed) // the kinds of chainChannels are known
	ep.HTTPClient = &http.Client{Timeout: 5 * time.Second, Transport: wallWaits{http.DefaultTransport, w.clock}}
	return ep
}

// wallWaits turns the waits of a mock's answer from simulated into wall
// time: the mocks count them on the simulated clock (Retry-After and
// Wildberries' X-Ratelimit-Retry in seconds, Yandex's quota end as a
// date), the adapters wait on the wall's. Unscaled, a Wildberries 429's
// "1" second held every pending value for 20 simulated seconds.
type wallWaits struct {
	next  http.RoundTripper
	clock *simClock
}

func (t wallWaits) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	for _, h := range []string{"Retry-After", "X-Ratelimit-Retry"} {
		if v, err := strconv.ParseFloat(resp.Header.Get(h), 64); err == nil {
			resp.Header.Set(h, strconv.FormatFloat(v/t.clock.speed, 'f', 3, 64))
		}
	}
	const until = "X-RateLimit-Resource-Until"
	if at, err := http.ParseTime(resp.Header.Get(until)); err == nil {
		resp.Header.Set(until, t.clock.wall(at).UTC().Format(http.TimeFormat))
	}
	return resp, nil
}

// sync offers every SKU's value of every channel, as the book has it now.
func (w *world) sync(version int64) {
	w.mu.Lock()
	values := map[string][]int64{}
	for _, c := range chainChannels {
		v := make([]int64, w.listed.Load())
		for k := range v {
			v[k] = w.catalog.ChannelAvailableOf(c.name, func(loc string) int64 { return w.avail[k][w.locIndex(loc)] })
		}
		values[c.name] = v
	}
	w.mu.Unlock()
	for ch, v := range values {
		for k, val := range v {
			w.cron[ch].Offer(0, marketplace.Update{SKU: w.d.skus[k], Available: val, Version: version})
		}
	}
}

func (w *world) locIndex(loc string) int {
	for j, l := range w.d.locs {
		if l == loc {
			return j
		}
	}
	return -1
}

// mark keeps the propagation histograms as they are at the day's start,
// the promotion's and its end.
func (w *world) mark(at string) {
	if w.batch > 0 {
		return
	}
	if w.marks == nil {
		w.marks = map[string]ackMark{}
	}
	w.marks[at] = w.acks()
}

// ackMark is the engine's change → ack histograms per channel: every
// value, and the SKUs' first values at the channel.
type ackMark struct{ all, first map[string]Histogram }

func (w *world) acks() ackMark {
	all, _ := gatherHistograms(w.reg, e2eMetric, "channel", "")
	first, _ := gatherHistograms(w.reg, firstMetric, "channel", "")
	return ackMark{all, first}
}

// changes is the values of SKUs the channel already showed, from b to a.
func changes(a, b ackMark, ch string) Histogram {
	return a.all[ch].Sub(b.all[ch]).Sub(a.first[ch].Sub(b.first[ch]))
}

// Marks of the propagation histograms.
const (
	markDay       = "day"
	markPromotion = "promotion"
	markAfter     = "after"
)

// drain waits for the orders in flight, a minute at most.
func (w *world) drain() {
	done := make(chan struct{})
	go func() { w.busy.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
	}
}

func (w *world) counts() (orders, cancelled int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range marketplaceChannels {
		orders += w.orders[ch]
		cancelled += w.cancelled[ch]
	}
	return orders, cancelled
}

// result is what the mode's customers saw, and the oversell check: for
// every row, units of accepted reserves never exceed its start plus
// restocks (reserves are only at the warehouse and the dark store, where
// nothing else takes stock).
func (w *world) result(day time.Duration) *ModeResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := &ModeResult{Mode: w.mode, Orders: maps.Clone(w.orders), Cancelled: maps.Clone(w.cancelled), NotShown: maps.Clone(w.notShown),
		Bins: append([]int(nil), w.bins...), Unknown: w.unknown + int(w.feedErrors.Load()), Pushes: map[string]int{}}
	for k := range w.held {
		for j := range w.held[k] {
			r.OversoldUnits += max(0, w.held[k][j]-w.supply[k][j])
		}
	}
	for ch, m := range w.mocks {
		r.Pushes[ch] = m.Requests()
	}
	if w.batch == 0 {
		// Outside the promotion: from the day's start (the catalogue's own
		// first sync before it is not the day's) to the promotion, and from
		// its end; the promotion (and its listing) on its own.
		end := w.acks()
		start, spike, after := w.marks[markDay], w.marks[markPromotion], w.marks[markAfter]
		r.Latency, r.PromotionLatency, r.Listing = map[string]Histogram{}, map[string]Histogram{}, map[string]Histogram{}
		for ch := range end.all {
			r.Latency[ch] = changes(end, after, ch).Add(changes(spike, start, ch))
			r.PromotionLatency[ch] = changes(after, spike, ch)
			r.Listing[ch] = end.first[ch].Sub(start.first[ch])
		}
	}
	return r
}

func (w *world) close() {
	if w.feed != nil {
		w.feed.Close()
	}
	w.stop()
	if w.running {
		select {
		case <-w.done:
		case <-time.After(30 * time.Second):
		}
	}
	for _, m := range w.mocks {
		m.Close()
	}
}

// poll calls cond every 100 ms until it is true, fails, or timeout passes.
func poll(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		switch {
		case err != nil:
			return err
		case ok:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("bench: not within %s: %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
