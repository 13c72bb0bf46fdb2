// Package inventory is the engine's processor (docs/design.md, "The shape we
// are moving to"): partitioned by SKU, it keeps each SKU's stock and the
// orders routed to its partition, decides every order command where its
// stock is, and writes each changed key once per cycle. It runs on
// internal/txloop, which gives it one Kafka transaction per cycle.
//
// This first version decides orders whose partitions (the route SKU's, every
// line's and the order id's) are all owned by this instance: one instance
// owning every partition decides everything in one hop. Claims and holds
// between instances are the next step (docs/design.md, "Status").
package inventory

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/internal/txloop"
	"github.com/stocksync/stocksync/processors"
	"github.com/stocksync/stocksync/sinks"
	"github.com/stocksync/stocksync/state"
	"github.com/stocksync/stocksync/stock"
	"github.com/stocksync/stocksync/topology"
)

// Config is what the processor needs.
type Config struct {
	Names      topology.Names
	Partitions int32               // of every topic; required
	Catalog    *stock.Catalog      // locations and channel rules; required
	Metrics    *processors.Metrics // required
	Logger     *slog.Logger        // default slog.Default()
	Now        func() time.Time    // default time.Now
	// Pushers push each channel's new values to its marketplace, by
	// channel; none in tests that look at the table only.
	Pushers     map[string]*sinks.Pusher
	SinkMetrics *sinks.Metrics // with Pushers
	// Retention is how long a finished order (released, shipped, expired)
	// stays to answer repeats and lookups before it leaves the table as a
	// tombstone; default 24h.
	Retention time.Duration
	// OnAnswer, if set, sees every answer the processor gave, once the
	// cycle that decided it committed (an aborted cycle's answers were
	// never given): the ops console counts them here (opsui.Orders). It
	// runs on the loop's goroutine: it must be quick. Default none.
	OnAnswer func(contract.OrderResult)
	// HoldGrace is how long past its order's expiry a hold on a line
	// partition waits for the order's own settlement before it ends by
	// itself (an orphan: its order was lost); default 5m. Long, since a
	// settlement may wait for its partition's next owner.
	HoldGrace time.Duration
	// AckWriteDelay is how long a marketplace's acknowledgement waits to
	// be written, so that a SKU's acknowledgements from every channel, and
	// its next value, share one changelog record; default 1s. Until then
	// the stores (GET /v1/channels/{name}/stock/{sku}) show the
	// acknowledgement as not yet given, and a takeover pushes the value
	// again (harmless: marketplaces take absolute values).
	AckWriteDelay time.Duration
	// JSONOrderValues writes orders and directory entries as JSON, as
	// builds before 2026-12-02 did, so that such builds can still read
	// them during a rolling update (config: engine.order_values). Both
	// are read either way. Default binary.
	JSONOrderValues bool
}

// Processor implements txloop.Handler.
type Processor struct {
	cfg       Config
	log       *slog.Logger
	expiry    map[int32]*expiryQueue // reservations by expiry, per owned partition
	retention map[int32]*expiryQueue // finished orders by when they leave, per owned partition
	holds     map[int32]*expiryQueue // holds for orders routed elsewhere, by when they end on their own
	cur       cycleState
	// known holds, per owned partition, every order id with a key there (an
	// order or a directory entry): most reserves are of new ids, and a
	// lookup the filter rules out skips Pebble. It only grows between
	// restores; a false positive costs one read.
	known map[int32]*bloom.BloomFilter
	// ledgers caches committed ledgers, decoded (the loop is their only
	// writer): a cycle takes out those it reads, and flush hands them back
	// for when it commits.
	ledgers   map[string]*stock.SKU
	committed []cached[*stock.SKU] // the ledgers this cycle read or changed, back to the cache once it commits
	// chanCache caches committed push states, decoded, as ledgers does
	// ledgers: the pushers' acknowledgements read and write them all the
	// time. It holds the acknowledgements not yet written (unwritten), so
	// keep never drops those states.
	chanCache     map[string]*processors.ChannelsState
	chanCommitted []cached[*processors.ChannelsState]
	sweeps        map[string]map[int32]*sweep // per channel and partition: refill's pass over the push states
	rules         uint64                      // digest of the channel rules the values are computed under
	rulesCursor   map[int32][]byte            // restored partitions whose values are still being checked against them
	unparks       map[int32]map[string][]byte // per partition and channel: the DLQ replays in progress, each from its cursor
	verdicts      chan sinks.Verdict          // from the pushers, recorded by the next cycle
	offers        []offer                     // for the pushers once the cycle commits
	answers       []contract.OrderResult      // the cycle's answers, for Config.OnAnswer once it commits
	settled       []sinks.Verdict             // recorded verdicts, for the pushers once the cycle commits
	// unwritten holds the SKUs whose push state has acknowledgements its
	// changelog lacks, each with when they are written (Config.AckWriteDelay
	// after the first); unwrittenAt orders them by that time.
	unwritten   map[string]unwrittenAck
	unwrittenAt expiryQueue
	// commands holds the counters of stocksync_commands_total, found once
	// per label pair: a label lookup per order was 0.7 % of the engine's
	// CPU.
	commands map[[2]string]prometheus.Counter
}

// cycleState is what one cycle has read and changed, written back once at
// its end: each changed key goes to the changelog once however many
// commands touched it.
type cycleState struct {
	skus  map[string]*skuEntry
	order []string // SKUs in the order they were first read, for stable output
	chans map[string]*processors.ChannelsState
}

type skuEntry struct {
	part    int32
	ledger  *stock.SKU
	ats     []int64 // each channel's value when the cycle first read it (Catalog.ChannelValues)
	changed bool
	cause   string
	at      int64
}

var errRemote = errors.New("inventory: the partition is owned by another instance")

// New checks cfg.
func New(cfg Config) (*Processor, error) {
	if cfg.Partitions <= 0 || cfg.Catalog == nil || cfg.Metrics == nil {
		return nil, errors.New("inventory: Partitions, Catalog and Metrics are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Retention == 0 {
		cfg.Retention = 24 * time.Hour
	}
	if cfg.HoldGrace == 0 {
		cfg.HoldGrace = 5 * time.Minute
	}
	if cfg.AckWriteDelay == 0 {
		cfg.AckWriteDelay = time.Second
	}
	p := &Processor{cfg: cfg, log: cfg.Logger.With("processor", "inventory"), expiry: map[int32]*expiryQueue{},
		retention: map[int32]*expiryQueue{}, holds: map[int32]*expiryQueue{}, verdicts: make(chan sinks.Verdict, 1<<14),
		known: map[int32]*bloom.BloomFilter{}, ledgers: map[string]*stock.SKU{},
		chanCache: map[string]*processors.ChannelsState{},
		sweeps:    map[string]map[int32]*sweep{},
		rules:     cfg.Catalog.RulesDigest(), rulesCursor: map[int32][]byte{}, unparks: map[int32]map[string][]byte{},
		unwritten: map[string]unwrittenAck{}, commands: map[[2]string]prometheus.Counter{}}
	p.reset()
	return p, nil
}

func (p *Processor) reset() {
	p.cur = cycleState{skus: map[string]*skuEntry{}, chans: map[string]*processors.ChannelsState{}}
}

func (p *Processor) partition(key string) int32 { return topology.PartitionOf(key, p.cfg.Partitions) }

// Process decides one cycle's records.
func (p *Processor) Process(c *txloop.Cycle, recs []*kgo.Record) error {
	for _, r := range recs {
		var err error
		switch r.Topic {
		case string(p.cfg.Names.OrderCommands):
			err = p.command(c, r)
		case string(p.cfg.Names.StockFeed):
			err = p.feed(c, r)
		case string(p.cfg.Names.EngineMessages):
			err = p.message(c, r)
		default:
			p.deadLetter(c, r, "not an input of the engine")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Tick ends what is due (reservations past their expiry, finished orders
// past their retention, orphan holds) and writes back what the cycle
// changed.
func (p *Processor) Tick(c *txloop.Cycle, now time.Time) error {
	defer p.reset()
	if c.Fenced() { // a repartition: the next generation does what time decides
		return p.flush(c)
	}
	p.refill(c)
	if err := p.unpark(c); err != nil { // before the verdicts: a refusal recorded in this cycle stays parked
		return err
	}
	if err := p.recheckRules(c, now); err != nil {
		return err
	}
	for _, d := range []struct {
		queues map[int32]*expiryQueue
		end    func(*txloop.Cycle, int32, string, time.Time) error
	}{{p.expiry, p.expire}, {p.retention, p.forget}, {p.holds, p.endOrphan}} {
		for part, q := range d.queues {
			if !c.Owned(part) {
				continue
			}
			for _, id := range q.due(now.UnixMilli()) {
				if err := d.end(c, part, id, now); err != nil {
					return err
				}
			}
		}
	}
	if err := p.recordVerdicts(c, now); err != nil {
		return err
	}
	if err := p.writeAcks(c, now); err != nil { // after the verdicts: a new one shares the write
		return err
	}
	return p.flush(c)
}

// forget removes a finished order past its retention, and its directory
// entry: tombstones in the changelog, so a rebuild reads the live set.
func (p *Processor) forget(c *txloop.Cycle, home int32, id string, now time.Time) error {
	o, err := p.loadOrder(c, home, id)
	if err != nil || o == nil || !o.State.final() || o.FinishedAt+p.cfg.Retention.Milliseconds() > now.UnixMilli() {
		return err
	}
	c.Put(home, orderKey(id), nil)
	return p.unclaim(c, home, o)
}

// finished records that an order reached a final state now.
func (p *Processor) finished(home int32, o *order, now time.Time) {
	o.FinishedAt = now.UnixMilli()
	queue(p.retention, home).push(o.ID, o.FinishedAt+p.cfg.Retention.Milliseconds())
}

// Ready rebuilds the partition's expiry and retention queues from its
// orders.
func (p *Processor) Ready(part int32, st *state.Partition) {
	exp, ret, holds := &expiryQueue{}, &expiryQueue{}, &expiryQueue{}
	known := bloom.NewWithEstimates(knownCapacity, 0.01)
	_ = st.Scan([]byte(dirPrefix), func(k, _ []byte) bool {
		known.AddString(string(k[len(dirPrefix):]))
		return true
	})
	err := st.Scan([]byte(orderPrefix), func(k, v []byte) bool {
		known.AddString(string(k[len(orderPrefix):]))
		o, err := decodeOrder(v)
		switch {
		case err != nil:
		case o.State == Reserved || o.State == Pending:
			exp.push(o.ID, o.ExpiresAt)
		case o.State.final():
			ret.push(o.ID, o.FinishedAt+p.cfg.Retention.Milliseconds())
		}
		return true
	})
	if err != nil {
		p.log.Error("reading the orders of a restored partition; their expiry waits for the next restore", "partition", part, "err", err)
	}
	err = st.Scan([]byte(holdPrefix), func(k, v []byte) bool {
		var h hold
		if json.Unmarshal(v, &h) == nil && !h.Confirmed {
			holds.push(string(k[len(holdPrefix):]), h.Until)
		}
		return true
	})
	if err != nil {
		p.log.Error("reading the holds of a restored partition; orphans among them end at the next restore", "partition", part, "err", err)
	}
	p.expiry[part], p.retention[part], p.holds[part], p.known[part] = exp, ret, holds, known
	p.loadUnparks(part, st)
	p.seedPushers(part)
}

// Gone forgets a partition.
func (p *Processor) Gone(part int32) {
	delete(p.expiry, part)
	delete(p.retention, part)
	delete(p.holds, part)
	delete(p.known, part)
	delete(p.rulesCursor, part)
	delete(p.unparks, part)
	// A partition that comes back may have been changed elsewhere: nothing
	// cached is kept, nor what a cycle that ended without a commit (it had
	// nothing to commit) handed back for the cache.
	clear(p.ledgers)
	for sku := range p.chanCache { // but the acknowledgements other partitions have not written yet
		if u, ok := p.unwritten[sku]; !ok || u.part == part {
			delete(p.chanCache, sku)
		}
	}
	p.committed, p.chanCommitted = p.committed[:0], p.chanCommitted[:0]
	for _, sweeps := range p.sweeps {
		delete(sweeps, part)
	}
	for sku, u := range p.unwritten {
		if u.part == part {
			delete(p.unwritten, sku)
		}
	}
	for _, pu := range p.cfg.Pushers {
		pu.Forget(part)
	}
}

// Committed keeps the cycle's ledgers, now committed, hands the new
// channel values to the pushers and the answers to Config.OnAnswer.
func (p *Processor) Committed(*txloop.Cycle) {
	p.committed = keep(p.ledgers, p.committed, nil)
	p.chanCommitted = keep(p.chanCache, p.chanCommitted, p.unwritten)
	p.afterCommit()
	for _, a := range p.answers {
		p.cfg.OnAnswer(a)
	}
	clear(p.answers)
	p.answers = p.answers[:0]
}

// keep moves a cycle's committed values into a bounded cache. It never
// drops the keys of pinned: their cached values are the only copy of
// something the changelog lacks yet (acknowledgements not yet written).
// It returns committed emptied.
func keep[V any](cache map[string]V, committed []cached[V], pinned map[string]unwrittenAck) []cached[V] {
	for _, c := range committed {
		if len(cache) >= maxCached && !has(cache, c.key) {
			for old := range cache { // drop any one: a map's order is random enough
				if _, ok := pinned[old]; !ok {
					delete(cache, old)
					break
				}
			}
		}
		cache[c.key] = c.value
	}
	clear(committed)
	return committed[:0]
}

func has[V any](m map[string]V, key string) bool {
	_, ok := m[key]
	return ok
}

// cached is a value for a cache, with its key. A cycle's values are kept
// in a slice rather than a map: a map keeps the capacity of its largest
// cycle (a catalogue's first sync), and ranging over it costs that
// capacity every cycle (5 % of the engine's CPU in the flash sale).
type cached[V any] struct {
	key   string
	value V
}

// knownCapacity sizes each partition's filter of order ids (about 1.2 MB at
// 1% false positives); past it the false positives grow, until the next
// restore sizes it anew.
const knownCapacity = 1_000_000

// maxCached bounds each cache of decoded values kept between cycles
// (ledgers about 200 bytes each with three locations, push states about
// 500 with four channels): enough for any sale's hot SKUs, while a
// catalogue's first sync, which touches every SKU once, gains nothing from
// more. The push states with acknowledgements not yet written stay past it
// (at most a second's acknowledgements). A variable for the tests.
var maxCached = 50_000

// Aborted drops what the cycle queued: the expiry queues are rebuilt from
// the stores, which the aborted cycle never reached.
func (p *Processor) Aborted(c *txloop.Cycle) {
	p.reset()
	for _, v := range p.settled {
		p.requeue(v) // recorded again by the next cycle
	}
	p.offers, p.settled = p.offers[:0], p.settled[:0]
	clear(p.answers)
	p.answers = p.answers[:0]
	p.committed, p.chanCommitted = p.committed[:0], p.chanCommitted[:0]
	for part := range p.expiry {
		if st := c.Store(part); st != nil {
			p.Ready(part, st) // both queues
		}
	}
}

// ledger returns the SKU's ledger for this cycle, reading it once.
func (p *Processor) ledger(c *txloop.Cycle, sku string) (*skuEntry, error) {
	if e, ok := p.cur.skus[sku]; ok {
		return e, nil
	}
	part := p.partition(sku)
	if !c.Owned(part) {
		return nil, errRemote
	}
	var s *stock.SKU
	if cached, ok := p.ledgers[sku]; ok {
		// The cycle's own now, without a copy: flush gives it back once
		// the cycle is done with it; an aborted cycle drops it, changes
		// and all, and the next one reads the store.
		s = cached
		delete(p.ledgers, sku)
	} else {
		raw, err := c.Get(part, sku)
		if err != nil {
			return nil, err
		}
		s = new(stock.SKU)
		if raw != nil {
			if *s, err = stock.UnmarshalSKU(raw); err != nil {
				return nil, fmt.Errorf("inventory: ledger of SKU %q: %w", sku, err)
			}
		}
	}
	e := &skuEntry{part: part, ledger: s, ats: p.cfg.Catalog.ChannelValues(s)}
	p.cur.skus[sku] = e
	p.cur.order = append(p.cur.order, sku)
	return e, nil
}

func (e *skuEntry) touch(cause string, at int64) {
	e.changed, e.cause, e.at = true, cause, at
}

// flush writes every changed ledger once and tells the rest of the world:
// stock.changes with the SKU's quantities, channel.stock for each channel
// whose value moved.
func (p *Processor) flush(c *txloop.Cycle) error {
	for _, sku := range p.cur.order {
		e := p.cur.skus[sku]
		p.committed = append(p.committed, cached[*stock.SKU]{sku, e.ledger}) // cached again once the cycle commits
		if !e.changed {
			continue
		}
		c.Put(e.part, sku, e.ledger.AppendBinary(nil))
		c.Emit(&kgo.Record{Topic: string(p.cfg.Names.StockChanges), Key: []byte(sku),
			Value: must(contract.Marshal(e.ledger.Change(sku, e.cause, e.at)))})
		if err := p.project(c, sku, e); err != nil {
			return err
		}
	}
	for sku, st := range p.cur.chans { // read or changed: cached again once the cycle commits
		p.chanCommitted = append(p.chanCommitted, cached[*processors.ChannelsState]{sku, st})
	}
	return nil
}

// feed applies a snapshot or an adjust.
func (p *Processor) feed(c *txloop.Cycle, r *kgo.Record) error {
	if p.rerouted(c, r) {
		return nil
	}
	f, err := contract.DecodeFeed(r.Value)
	if err == nil && f.SKU != string(r.Key) {
		err = fmt.Errorf("message key %q differs from its sku %q", r.Key, f.SKU)
	}
	if err == nil && !p.cfg.Catalog.Known(f.Location) {
		err = fmt.Errorf("unknown location %q (configured: %v)", f.Location, p.cfg.Catalog.Locations())
	}
	if err != nil {
		p.deadLetter(c, r, err.Error())
		return nil
	}
	e, err := p.ledger(c, f.SKU)
	if err != nil {
		return err
	}
	var eff stock.Effect
	if f.Type == contract.Snapshot {
		eff = e.ledger.Snapshot(f)
	} else {
		eff = e.ledger.Adjust(f)
	}
	p.count(f.Type, eff)
	if eff.Changed {
		e.touch(f.Type, r.Timestamp.UnixMilli())
	}
	if eff.Shortage != nil {
		c.Emit(&kgo.Record{Topic: string(p.cfg.Names.StockShortages), Key: r.Key, Value: mustJSON(eff.Shortage)})
		p.cfg.Metrics.Shortages.WithLabelValues(eff.Shortage.Location).Inc()
	}
	return nil
}

func (p *Processor) count(typ string, eff stock.Effect) {
	outcome := "accepted"
	switch {
	case eff.Stale && !eff.Duplicate:
		outcome = "stale"
	case eff.Duplicate:
		outcome = "duplicate"
	case !eff.Changed:
		outcome = "ignored"
	}
	p.countCommand(typ, outcome)
}

// countCommand counts a command (or a message) by type and outcome.
func (p *Processor) countCommand(typ, outcome string) {
	c, ok := p.commands[[2]string{typ, outcome}]
	if !ok {
		c = p.cfg.Metrics.Commands.WithLabelValues(typ, outcome)
		p.commands[[2]string{typ, outcome}] = c
	}
	c.Inc()
}

// rerouted re-sends a record whose key does not hash to the partition it
// arrived on (invariant 6), and reports whether it did.
func (p *Processor) rerouted(c *txloop.Cycle, r *kgo.Record) bool {
	if p.partition(string(r.Key)) == r.Partition {
		return false
	}
	c.Emit(&kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: r.Headers})
	p.cfg.Metrics.Rerouted.WithLabelValues(r.Topic).Inc()
	return true
}

func (p *Processor) deadLetter(c *txloop.Cycle, r *kgo.Record, reason string) {
	dl := processors.DeadLetter{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: string(r.Key),
		Value: string(r.Value), Reason: reason, At: p.cfg.Now().UTC().Format(time.RFC3339Nano)}
	c.Emit(&kgo.Record{Topic: string(p.cfg.Names.DLQ), Key: r.Key, Value: mustJSON(dl)})
	p.cfg.Metrics.DLQ.WithLabelValues(r.Topic).Inc()
	p.log.Warn("message parked in the DLQ", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "reason", reason)
}

func mustJSON(v any) []byte { return must(json.Marshal(v)) }

// must returns an encoding of the processor's own values, which cannot
// fail.
func must(b []byte, err error) []byte {
	if err != nil {
		panic("inventory: encoding an internal message: " + err.Error())
	}
	return b
}
