package processors

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/lovoo/goka"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/stock"
	"github.com/stocksync/stocksync/topology"
)

// HeaderAt carries, on channel.stock, the unix ms at which the command or
// feed message that changed the stock entered the engine: the start of the
// end-to-end latency the sinks measure at the marketplace's acknowledgement.
const HeaderAt = "stocksync-at"

// ChannelsConfig is what the channels processor needs.
type ChannelsConfig struct {
	Names      topology.Names
	Brokers    []string
	Partitions int32          // required
	Catalog    *stock.Catalog // the channel rules; required
	Metrics    *Metrics       // required
	Logger     *slog.Logger   // default slog.Default()
}

// NewChannels builds the channels processor (key SKU): it turns each stock
// change into every channel's available-to-sell and emits only real changes
// to channel.stock, with a version that grows with every new value of the SKU.
func NewChannels(cfg ChannelsConfig, opts ...goka.ProcessorOption) (*goka.Processor, error) {
	if cfg.Partitions <= 0 || cfg.Catalog == nil || cfg.Metrics == nil {
		return nil, fmt.Errorf("processors: channels needs Partitions > 0, a Catalog and Metrics")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &channels{
		base:    base{names: cfg.Names, partitions: cfg.Partitions, metrics: cfg.Metrics, log: cfg.Logger.With("processor", "channels"), now: time.Now},
		catalog: cfg.Catalog,
		rules:   cfg.Catalog.RulesDigest(),
	}
	return goka.NewProcessor(cfg.Brokers, cfg.Names.ChannelsGraph(p.change, p.recompute), opts...)
}

type channels struct {
	base
	catalog *stock.Catalog
	rules   uint64
}

// channelsState is the channels table's value for one SKU.
type channelsState struct {
	Seq       int64            `json:"seq"`
	At        int64            `json:"at"`
	Available map[string]int64 `json:"available"` // per location, from the last change
	ATS       map[string]int64 `json:"ats"`       // per channel, as last emitted
	Rules     uint64           `json:"rules"`     // digest of the rules ATS was computed with
	// Version of channel.stock for this SKU: bumped whenever a value is
	// emitted anew (a stock change or a rules change), so a sink can tell a
	// new value from a replayed one.
	Version int64 `json:"version"`
}

func (p *channels) load(ctx goka.Context) *channelsState {
	st := &channelsState{}
	if v, _ := ctx.Value().([]byte); v != nil {
		if err := json.Unmarshal(v, st); err != nil {
			ctx.Fail(fmt.Errorf("channels: state of SKU %q: %w", ctx.Key(), err))
		}
	}
	return st
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
		ctx.SetValue(mustJSON(st))
		p.emit(ctx, st, nil)
		return
	}
	prev := st.ATS
	st.Seq, st.At = c.Seq, c.At
	st.Available = make(map[string]int64, len(c.Locations))
	for _, l := range c.Locations {
		st.Available[l.Location] = l.Available
	}
	p.project(ctx, st, prev)
}

// recompute is the visitor run after the channel rules changed.
func (p *channels) recompute(ctx goka.Context, _ any) {
	st := p.load(ctx)
	if st.Rules == p.rules || st.Available == nil {
		return
	}
	p.project(ctx, st, st.ATS)
}

// project computes every channel's available-to-sell, saves it, and emits
// the channels whose value differs from prev.
func (p *channels) project(ctx goka.Context, st *channelsState, prev map[string]int64) {
	st.Rules = p.rules
	st.ATS = make(map[string]int64, len(p.catalog.Channels()))
	for _, ch := range p.catalog.Channels() {
		st.ATS[ch] = p.catalog.ChannelAvailableOf(ch, func(l string) int64 { return st.Available[l] })
	}
	for _, ch := range p.catalog.Channels() {
		if old, ok := prev[ch]; !ok || old != st.ATS[ch] {
			st.Version++
			break
		}
	}
	ctx.SetValue(mustJSON(st))
	p.emit(ctx, st, prev)
}

// emit sends channel.stock for every channel whose value differs from prev
// (all of them when prev is nil).
func (p *channels) emit(ctx goka.Context, st *channelsState, prev map[string]int64) {
	hdr := goka.WithCtxEmitHeaders(goka.Headers{HeaderAt: []byte(strconv.FormatInt(st.At, 10))})
	for _, ch := range p.catalog.Channels() {
		ats := st.ATS[ch]
		if old, ok := prev[ch]; ok && old == ats {
			continue
		}
		cs := contract.ChannelStock{Channel: ch, SKU: ctx.Key(), Available: ats, Version: st.Version}
		ctx.Emit(p.names.ChannelStock, ctx.Key(), mustJSON(cs), hdr)
	}
}
