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

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/internal/txloop"
	"github.com/stocksync/stocksync/processors"
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
}

// Processor implements txloop.Handler.
type Processor struct {
	cfg    Config
	log    *slog.Logger
	expiry map[int32]*expiryQueue // per owned partition
	cur    cycleState
}

// cycleState is what one cycle has read and changed, written back once at
// its end: each changed key goes to the changelog once however many
// commands touched it.
type cycleState struct {
	skus  map[string]*skuEntry
	order []string // SKUs in the order they were first read, for stable output
}

type skuEntry struct {
	part    int32
	ledger  *stock.SKU
	ats     map[string]int64 // each channel's value when the cycle first read it
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
	p := &Processor{cfg: cfg, log: cfg.Logger.With("processor", "inventory"), expiry: map[int32]*expiryQueue{}}
	p.reset()
	return p, nil
}

func (p *Processor) reset() { p.cur = cycleState{skus: map[string]*skuEntry{}} }

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
		default:
			p.deadLetter(c, r, "not an input of the engine")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Tick expires what is due and writes back what the cycle changed.
func (p *Processor) Tick(c *txloop.Cycle, now time.Time) error {
	defer p.reset()
	for part, q := range p.expiry {
		if !c.Owned(part) {
			continue
		}
		for _, id := range q.due(now.UnixMilli()) {
			if err := p.expire(c, part, id, now); err != nil {
				return err
			}
		}
	}
	p.flush(c)
	return nil
}

// Ready rebuilds the partition's expiry queue from its orders.
func (p *Processor) Ready(part int32, st *state.Partition) {
	q := &expiryQueue{}
	err := st.Scan([]byte(orderPrefix), func(_, v []byte) bool {
		if o, err := decodeOrder(v); err == nil && o.State == Reserved {
			q.push(o.ID, o.ExpiresAt)
		}
		return true
	})
	if err != nil {
		p.log.Error("reading the reservations of a restored partition; they expire once touched", "partition", part, "err", err)
	}
	p.expiry[part] = q
}

// Gone forgets a partition.
func (p *Processor) Gone(part int32) { delete(p.expiry, part) }

// Committed has nothing to do yet (in-process answers and pushers come with
// the engine's wiring).
func (p *Processor) Committed(*txloop.Cycle) {}

// Aborted drops what the cycle queued: the expiry queues are rebuilt from
// the stores, which the aborted cycle never reached.
func (p *Processor) Aborted(c *txloop.Cycle) {
	p.reset()
	for part := range p.expiry {
		if st := c.Store(part); st != nil {
			p.Ready(part, st)
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
	raw, err := c.Get(part, sku)
	if err != nil {
		return nil, err
	}
	s := new(stock.SKU)
	if raw != nil {
		if *s, err = stock.UnmarshalSKU(raw); err != nil {
			return nil, fmt.Errorf("inventory: ledger of SKU %q: %w", sku, err)
		}
	}
	e := &skuEntry{part: part, ledger: s, ats: p.channelValues(s)}
	p.cur.skus[sku] = e
	p.cur.order = append(p.cur.order, sku)
	return e, nil
}

func (p *Processor) channelValues(s *stock.SKU) map[string]int64 {
	out := make(map[string]int64, len(p.cfg.Catalog.Channels()))
	for _, ch := range p.cfg.Catalog.Channels() {
		out[ch] = p.cfg.Catalog.ChannelAvailable(ch, s)
	}
	return out
}

func (e *skuEntry) touch(cause string, at int64) {
	e.changed, e.cause, e.at = true, cause, at
}

// flush writes every changed ledger once and tells the rest of the world:
// stock.changes with the SKU's quantities, channel.stock for each channel
// whose value moved.
func (p *Processor) flush(c *txloop.Cycle) {
	for _, sku := range p.cur.order {
		e := p.cur.skus[sku]
		if !e.changed {
			continue
		}
		c.Put(e.part, sku, e.ledger.AppendBinary(nil))
		c.Emit(&kgo.Record{Topic: string(p.cfg.Names.StockChanges), Key: []byte(sku),
			Value: mustJSON(e.ledger.Change(sku, e.cause, e.at))})
		now := p.channelValues(e.ledger)
		for _, ch := range p.cfg.Catalog.Channels() {
			if now[ch] != e.ats[ch] {
				c.Emit(&kgo.Record{Topic: string(p.cfg.Names.ChannelStock), Key: []byte(sku),
					Value: mustJSON(contract.ChannelStock{Channel: ch, SKU: sku, Available: now[ch], Version: e.ledger.Seq})})
			}
		}
	}
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
	p.cfg.Metrics.Commands.WithLabelValues(typ, outcome).Inc()
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

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("inventory: encoding an internal message: " + err.Error())
	}
	return b
}
