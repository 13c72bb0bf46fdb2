package fraud

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/stocksync/stocksync/topology"
)

// Names are anti-fraud's topics and groups under a deployment's prefix.
type Names struct {
	Returns goka.Stream // <prefix>returns, key customer_id
	Loyalty goka.Stream // <prefix>loyalty, key customer_id
	Sales   goka.Stream // <prefix>sales, key customer_id (optional input)
	Refunds goka.Stream // <prefix>fraud.refunds, key store: accepted returns re-keyed for the stores group
	Alerts  goka.Stream // <prefix>fraud.alerts, key entity id
	Labels  goka.Stream // <prefix>fraud.labels, key alert id; compacted
	DLQ     goka.Stream // <prefix>dlq, shared with the engine

	Customers goka.Group // key customer_id
	Stores    goka.Group // key store
}

// NewNames returns the names for prefix ("" means topology.DefaultPrefix).
func NewNames(prefix string) Names {
	if prefix == "" {
		prefix = topology.DefaultPrefix
	}
	s := func(n string) goka.Stream { return goka.Stream(prefix + n) }
	return Names{Returns: s("returns"), Loyalty: s("loyalty"), Sales: s("sales"), Refunds: s("fraud.refunds"),
		Alerts: s("fraud.alerts"), Labels: s("fraud.labels"), DLQ: s("dlq"),
		Customers: goka.Group(prefix + "fraud.customers"), Stores: goka.Group(prefix + "fraud.stores")}
}

// deadLetter is a message on the DLQ: the shape the engine's processors
// use, so one consumer reads both.
type deadLetter struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Key       string `json:"key"`
	Value     string `json:"value"`
	Reason    string `json:"reason"`
	At        string `json:"at"`
}

// processor is what the two groups share.
type processor struct {
	names      Names
	partitions int32
	sc         *scoring
	log        *slog.Logger
}

// rerouted re-sends a message whose key does not hash (murmur2) to the
// partition it arrived on: one key, one writer.
func (p *processor) rerouted(ctx goka.Context, raw []byte) bool {
	if topology.PartitionOf(ctx.Key(), p.partitions) == ctx.Partition() {
		return false
	}
	ctx.Emit(goka.Stream(ctx.Topic()), ctx.Key(), raw)
	p.count(ctx, rerouted)
	return true
}

func (p *processor) deadLetter(ctx goka.Context, raw []byte, reason string) {
	dl := deadLetter{Topic: string(ctx.Topic()), Partition: ctx.Partition(), Offset: ctx.Offset(),
		Key: ctx.Key(), Value: string(raw), Reason: reason, At: p.sc.now().UTC().Format(time.RFC3339Nano)}
	b, _ := json.Marshal(dl) // strings and numbers only
	ctx.Emit(p.names.DLQ, ctx.Key(), b)
	p.count(ctx, invalid)
	p.log.Warn("fraud: message parked in the DLQ", "topic", ctx.Topic(), "partition", ctx.Partition(),
		"offset", ctx.Offset(), "key", ctx.Key(), "reason", reason)
}

func (p *processor) count(ctx goka.Context, o outcome) {
	p.sc.metrics.Events.WithLabelValues(string(ctx.Topic()), string(o)).Inc()
}

func (p *processor) emitAlert(ctx goka.Context, a *Alert) {
	b, _ := json.Marshal(a) // scores are clamped, never NaN or Inf
	ctx.Emit(p.names.Alerts, a.EntityID, b)
}

// customers is the group keyed by customer: returns, loyalty and sales.
type customers struct{ processor }

// newCustomersGraph is the customers group: three inputs, the re-keyed
// refunds, the alerts and the DLQ out, the customer's row as its table.
func newCustomersGraph(p processor) *goka.GroupGraph {
	c := &customers{p}
	in := func(k Kind) goka.ProcessCallback {
		return func(ctx goka.Context, msg any) { c.process(ctx, k, msg.([]byte)) }
	}
	return goka.DefineGroup(p.names.Customers,
		goka.Input(p.names.Returns, new(codec.Bytes), in(KindReturns)),
		goka.Input(p.names.Loyalty, new(codec.Bytes), in(KindLoyalty)),
		goka.Input(p.names.Sales, new(codec.Bytes), in(KindSales)),
		goka.Output(p.names.Refunds, new(codec.Bytes)),
		goka.Output(p.names.Alerts, new(codec.Bytes)),
		goka.Output(p.names.DLQ, new(codec.Bytes)),
		goka.Persist(customerCodec{}),
	)
}

func (c *customers) process(ctx goka.Context, kind Kind, raw []byte) {
	if c.rerouted(ctx, raw) {
		return
	}
	e, err := DecodeEvent(kind, raw)
	if err == nil && e.CustomerID != ctx.Key() {
		err = fmt.Errorf("the key %q is not the customer_id %q; key events by customer_id", ctx.Key(), e.CustomerID)
	}
	if err != nil {
		c.deadLetter(ctx, raw, err.Error())
		return
	}
	st, _ := ctx.Value().(*customerState)
	if st == nil {
		st = &customerState{}
	}
	st.init()
	o := admitID(st.Seen, &st.Newest, e.ID(), e.TS.UnixMilli(), c.sc.windows.dedupe)
	c.count(ctx, o)
	if o != applied {
		if o == duplicate && e.Type == TypeReturn {
			// goka is at-least-once: the first delivery's re-keyed copy
			// may not have been sent; the stores group drops a second one.
			ctx.Emit(c.names.Refunds, e.Store, raw)
		}
		return
	}
	feats, ids := st.apply(&e, c.sc.windows)
	var alert *Alert
	if len(feats) > 0 {
		alert = c.sc.score(EntityCustomer, e.CustomerID, e.ID(), e.TS, feats, st.Own, st.Alerted,
			func(rule string) string { return rule })
	}
	ctx.SetValue(st)
	if e.Type == TypeReturn {
		ctx.Emit(c.names.Refunds, e.Store, raw)
	}
	if alert != nil {
		alert.EventIDs = ids
		c.emitAlert(ctx, alert)
	}
}

// stores is the group keyed by store: each cashier's share of the refunds.
type stores struct{ processor }

// newStoresGraph is the stores group: the re-keyed refunds in, alerts and
// the DLQ out, the store's row as its table.
func newStoresGraph(p processor) *goka.GroupGraph {
	s := &stores{p}
	return goka.DefineGroup(p.names.Stores,
		goka.Input(p.names.Refunds, new(codec.Bytes), func(ctx goka.Context, msg any) { s.process(ctx, msg.([]byte)) }),
		goka.Output(p.names.Alerts, new(codec.Bytes)),
		goka.Output(p.names.DLQ, new(codec.Bytes)),
		goka.Persist(storeCodec{}),
	)
}

func (s *stores) process(ctx goka.Context, raw []byte) {
	if s.rerouted(ctx, raw) {
		return
	}
	e, err := DecodeEvent(KindReturns, raw)
	if err == nil && e.Store != ctx.Key() {
		err = fmt.Errorf("the key %q is not the store %q", ctx.Key(), e.Store)
	}
	if err != nil {
		s.deadLetter(ctx, raw, err.Error())
		return
	}
	st, _ := ctx.Value().(*storeState)
	if st == nil {
		st = &storeState{}
	}
	st.init()
	o := admitID(st.Seen, &st.Newest, e.ReturnID, e.TS.UnixMilli(), s.sc.windows.dedupe)
	s.count(ctx, o)
	if o != applied {
		return
	}
	feats, ids := st.apply(&e, s.sc.windows, s.sc.cfg.MinStoreRefunds)
	own := st.Own[e.Cashier]
	if own == nil {
		own = map[string]*EWMA{}
		st.Own[e.Cashier] = own
	}
	entity := e.Store + "/" + e.Cashier
	alert := s.sc.score(EntityCashier, entity, e.ReturnID, e.TS, feats, own, st.Alerted,
		func(rule string) string { return e.Cashier + "\x00" + rule })
	ctx.SetValue(st)
	if alert != nil {
		alert.EventIDs = ids
		s.emitAlert(ctx, alert)
	}
}
