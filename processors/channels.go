package processors

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/sinks"
	"github.com/stocksync/stocksync/stock"
	"github.com/stocksync/stocksync/topology"
)

// HeaderAt carries, on channel.stock, the unix ms at which the command or
// feed message that changed the stock entered the engine: the start of the
// end-to-end latency measured at the marketplace's acknowledgement.
const HeaderAt = "stocksync-at"

// ChannelsConfig is what the channels processor needs.
type ChannelsConfig struct {
	Names      topology.Names
	Brokers    []string
	Partitions int32          // required
	Catalog    *stock.Catalog // the channel rules; required
	// Pushers push each channel's new values to its marketplace, by channel
	// name; one for every channel of the catalog is required.
	Pushers     map[string]*sinks.Pusher
	Metrics     *Metrics       // required
	SinkMetrics *sinks.Metrics // required
	Logger      *slog.Logger   // default slog.Default()
}

// NewChannels builds the channels processor (key SKU). It turns each stock
// change into every channel's available-to-sell, emits only real changes to
// channel.stock with a version that grows with every new value of the SKU,
// hands those values to the channels' pushers, and records the pushers'
// verdicts: acknowledged, or parked in the DLQ.
//
// Projection and push state share one group (DESIGN.md had a sink group per
// channel reading channel.stock): both are keyed by SKU, and a group per
// channel made every channel.stock message be read and decoded once per
// channel and written to a sink table per channel.
func NewChannels(cfg ChannelsConfig, opts ...goka.ProcessorOption) (*goka.Processor, error) {
	if cfg.Partitions <= 0 || cfg.Catalog == nil || cfg.Metrics == nil || cfg.SinkMetrics == nil {
		return nil, fmt.Errorf("processors: channels needs Partitions > 0, a Catalog and metrics")
	}
	for _, ch := range cfg.Catalog.Channels() {
		if cfg.Pushers[ch] == nil {
			return nil, fmt.Errorf("processors: channels needs a pusher for channel %q", ch)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &channels{
		base:    base{names: cfg.Names, partitions: cfg.Partitions, metrics: cfg.Metrics, log: cfg.Logger.With("processor", "channels"), now: time.Now},
		catalog: cfg.Catalog,
		rules:   cfg.Catalog.RulesDigest(),
		pushers: cfg.Pushers,
		sm:      cfg.SinkMetrics,
	}
	return goka.NewProcessor(cfg.Brokers, cfg.Names.ChannelsGraph(p.change, p.verdict, p.recompute, p.unpark), opts...)
}

type channels struct {
	base
	catalog *stock.Catalog
	rules   uint64
	pushers map[string]*sinks.Pusher
	sm      *sinks.Metrics
}

// ChannelsState is the channels table's value for one SKU.
type ChannelsState struct {
	Seq       int64            `json:"seq"`
	At        int64            `json:"at"`        // unix ms the last change entered the engine
	Available map[string]int64 `json:"available"` // per location, from the last change
	ATS       map[string]int64 `json:"ats"`       // per channel, as last emitted
	Rules     uint64           `json:"rules"`     // digest of the rules ATS was computed with
	// Version of channel.stock for this SKU: bumped whenever a value is
	// emitted anew (a stock change or a rules change), so a value can be
	// told from a replayed one.
	Version int64 `json:"version"`
	// Sinks is, per channel, what was pushed and what the marketplace
	// acknowledged.
	Sinks map[string]*SinkState `json:"sinks,omitempty"`
}

// SinkState is one channel's push state for a SKU: the newest value
// projected for the channel and the newest the marketplace acknowledged.
type SinkState struct {
	Want         int64  `json:"want"`
	WantVersion  int64  `json:"want_version"`
	WantAt       int64  `json:"want_at"` // unix ms the change entered the engine
	Acked        int64  `json:"acked"`
	AckedVersion int64  `json:"acked_version"`
	AckedAt      int64  `json:"acked_at,omitempty"` // unix ms
	Parked       string `json:"parked,omitempty"`   // why the newest value is parked in the DLQ
}

// Pending reports whether the marketplace still lacks the newest value.
func (s *SinkState) Pending() bool { return s.WantVersion > s.AckedVersion && s.Parked == "" }

func (p *channels) load(ctx goka.Context) *ChannelsState {
	if v, _ := ctx.Value().([]byte); v != nil {
		st, err := DecodeChannelsState(v)
		if err != nil {
			ctx.Fail(fmt.Errorf("channels: state of SKU %q: %w", ctx.Key(), err))
		}
		return st
	}
	return &ChannelsState{}
}

func (p *channels) change(ctx goka.Context, msg any) {
	var c stock.Change
	if _, ok := p.accept(ctx, msg, &c, "sku", func() string { return c.SKU }, "stock change"); !ok {
		return
	}
	st := p.load(ctx)
	switch {
	case c.Seq < st.Seq:
		return // older than what was already projected
	case c.Seq == st.Seq && st.Rules == p.rules:
		// A replay: its first changelog write and emits may be lost;
		// downstream dedupes by version.
		ctx.SetValue(st.AppendBinary(nil))
		p.emit(ctx, st, p.catalog.Channels())
		for ch, s := range st.Sinks {
			p.offer(ctx, ch, s)
		}
		return
	}
	prev := st.ATS
	st.Seq, st.At = c.Seq, c.At
	if st.At == 0 {
		st.At = ctx.Timestamp().UnixMilli()
	}
	st.Available = make(map[string]int64, len(c.Locations))
	for _, l := range c.Locations {
		st.Available[l.Location] = l.Available
	}
	p.project(ctx, st, prev)
}

// recompute is the visitor run after the channel rules changed.
func (p *channels) recompute(ctx goka.Context, _ any) {
	st := p.load(ctx)
	if st.Rules == p.rules || st.Seq == 0 {
		return // computed under these rules, or never changed
	}
	p.project(ctx, st, st.ATS)
}

// project computes every channel's available-to-sell, records the changed
// ones as wanted by their marketplaces, saves the state, and emits and
// offers the channels whose value differs from prev.
func (p *channels) project(ctx goka.Context, st *ChannelsState, prev map[string]int64) {
	st.Rules = p.rules
	st.ATS = make(map[string]int64, len(p.catalog.Channels()))
	for _, ch := range p.catalog.Channels() {
		st.ATS[ch] = p.catalog.ChannelAvailableOf(ch, func(l string) int64 { return st.Available[l] })
	}
	moved := p.moved(prev, st.ATS)
	if len(moved) > 0 {
		st.Version++
	}
	if st.Sinks == nil {
		st.Sinks = make(map[string]*SinkState, len(st.ATS))
	}
	for _, ch := range moved {
		s := st.Sinks[ch]
		if s == nil {
			s = &SinkState{}
			st.Sinks[ch] = s
		}
		s.Want, s.WantVersion, s.WantAt, s.Parked = st.ATS[ch], st.Version, st.At, ""
	}
	ctx.SetValue(st.AppendBinary(nil))
	p.emit(ctx, st, moved)
	for _, ch := range moved {
		p.offer(ctx, ch, st.Sinks[ch])
	}
}

// moved lists, in catalogue order, the channels whose value differs from
// prev (all of them when prev is nil).
func (p *channels) moved(prev, now map[string]int64) []string {
	var out []string
	for _, ch := range p.catalog.Channels() {
		if old, ok := prev[ch]; !ok || old != now[ch] {
			out = append(out, ch)
		}
	}
	return out
}

// emit sends channel.stock for the channels named.
func (p *channels) emit(ctx goka.Context, st *ChannelsState, chans []string) {
	hdr := goka.WithCtxEmitHeaders(goka.Headers{HeaderAt: []byte(strconv.FormatInt(st.At, 10))})
	for _, ch := range chans {
		cs := contract.ChannelStock{Channel: ch, SKU: ctx.Key(), Available: st.ATS[ch], Version: st.Version}
		ctx.Emit(p.names.ChannelStock, ctx.Key(), mustJSON(cs), hdr)
	}
}

// offer hands a channel's value to its pusher if the marketplace lacks it.
func (p *channels) offer(ctx goka.Context, ch string, s *SinkState) {
	if pusher := p.pushers[ch]; pusher != nil && s != nil && s.Pending() {
		pusher.Offer(ctx.Partition(), marketplace.Update{SKU: ctx.Key(), Available: s.Want, Version: s.WantVersion})
	}
}

// verdict records what a marketplace made of a pushed value.
func (p *channels) verdict(ctx goka.Context, msg any) {
	var v sinks.Verdict
	raw, ok := p.accept(ctx, msg, &v, "sku", func() string { return v.SKU }, "sink verdict")
	if !ok {
		return
	}
	pusher := p.pushers[v.Channel]
	if pusher == nil {
		p.log.Warn("ignoring the verdict of a channel that is not configured", "channel", v.Channel, "sku", v.SKU)
		return
	}
	st := p.load(ctx)
	s := st.Sinks[v.Channel]
	if s == nil {
		s = &SinkState{}
		if st.Sinks == nil {
			st.Sinks = map[string]*SinkState{}
		}
		st.Sinks[v.Channel] = s
	}
	if v.OK {
		if v.Version > s.AckedVersion {
			first := s.AckedVersion == 0
			s.Acked, s.AckedVersion, s.AckedAt = v.Available, v.Version, v.At
			ctx.SetValue(st.AppendBinary(nil))
			if v.Version == s.WantVersion {
				p.sm.ObserveAck(v.Channel, first, float64(v.At-s.WantAt)/1000)
			}
		}
		pusher.Acked(ctx.Key(), v.Version)
		return
	}
	if v.Version >= s.WantVersion && s.Parked == "" {
		s.Parked = v.Reason
		ctx.SetValue(st.AppendBinary(nil))
		dl := DeadLetter{Topic: string(p.names.SinkVerdicts), Partition: ctx.Partition(), Offset: ctx.Offset(),
			Key: ctx.Key(), Value: string(raw), Reason: fmt.Sprintf("channel %s: the marketplace refused SKU %q: %s", v.Channel, v.SKU, v.Reason),
			At: time.UnixMilli(v.At).UTC().Format(time.RFC3339Nano)}
		ctx.Emit(p.names.DLQ, ctx.Key(), mustJSON(dl))
		p.sm.DLQ.WithLabelValues(v.Channel).Inc()
		p.log.Warn("update parked in the DLQ", "channel", v.Channel, "sku", v.SKU, "version", v.Version, "reason", v.Reason)
	}
	pusher.Dropped(ctx.Key(), v.Version)
}

// unpark is the visitor that releases every parked value of the channel
// named by meta for another try (the DLQ replay).
func (p *channels) unpark(ctx goka.Context, meta any) {
	ch, _ := meta.(string)
	st := p.load(ctx)
	s := st.Sinks[ch]
	if s == nil || s.Parked == "" || s.WantVersion <= s.AckedVersion {
		return
	}
	s.Parked = ""
	ctx.SetValue(st.AppendBinary(nil))
	p.offer(ctx, ch, s)
}

// SeedPushers hands a recovered partition's pending values to the channels'
// pushers: their memory starts empty after a restart or a rebalance.
func SeedPushers(pushers map[string]*sinks.Pusher, partition int32, st storage.Storage) error {
	it, err := st.Iterator()
	if err != nil {
		return err
	}
	defer it.Release()
	for it.Next() {
		v, err := it.Value()
		if err != nil {
			return err
		}
		s, err := DecodeChannelsState(v)
		if err != nil {
			continue
		}
		for ch, sk := range s.Sinks {
			if pusher := pushers[ch]; pusher != nil && sk.Pending() {
				pusher.Offer(partition, marketplace.Update{SKU: string(it.Key()), Available: sk.Want, Version: sk.WantVersion})
			}
		}
	}
	return it.Err()
}
