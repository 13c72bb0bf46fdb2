package processors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/sinks"
	"github.com/stocksync/stocksync/topology"
)

// SinkConfig is what one channel's sink processor needs.
type SinkConfig struct {
	Names       topology.Names
	Brokers     []string
	Partitions  int32         // required
	Channel     string        // required
	Pusher      *sinks.Pusher // pushes what the processor records as pending; required
	Metrics     *Metrics      // required
	SinkMetrics *sinks.Metrics
	Logger      *slog.Logger
}

// SinkState is a sink table's value for one SKU: the newest value projected
// for the channel and the newest the marketplace acknowledged.
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

// DecodeSinkState decodes a sink table value.
func DecodeSinkState(v []byte) (SinkState, error) {
	var s SinkState
	return s, json.Unmarshal(v, &s)
}

// UnparkAll is the visitor meta that releases every parked update of a sink
// for another try (the DLQ replay).
const UnparkAll = "unpark"

// NewSink builds the sink processor of one channel (key SKU): it records each
// new value of the channel's stock, hands it to the pusher, and records the
// pusher's verdicts: acknowledged, or parked in the DLQ.
func NewSink(cfg SinkConfig, opts ...goka.ProcessorOption) (*goka.Processor, error) {
	if cfg.Partitions <= 0 || cfg.Channel == "" || cfg.Pusher == nil || cfg.Metrics == nil || cfg.SinkMetrics == nil {
		return nil, fmt.Errorf("processors: sink needs Partitions > 0, a Channel, a Pusher and metrics")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &sink{
		base:    base{names: cfg.Names, partitions: cfg.Partitions, metrics: cfg.Metrics, log: cfg.Logger.With("processor", "sink", "channel", cfg.Channel), now: time.Now},
		channel: cfg.Channel,
		pusher:  cfg.Pusher,
		sm:      cfg.SinkMetrics,
		marker:  []byte(`"channel":` + strconv.Quote(cfg.Channel)),
	}
	return goka.NewProcessor(cfg.Brokers, cfg.Names.SinkGraph(cfg.Channel, p.stock, p.verdict, p.control), opts...)
}

type sink struct {
	base
	channel string
	pusher  *sinks.Pusher
	sm      *sinks.Metrics
	marker  []byte
}

func (p *sink) load(ctx goka.Context) SinkState {
	var s SinkState
	if v, _ := ctx.Value().([]byte); v != nil {
		var err error
		if s, err = DecodeSinkState(v); err != nil {
			ctx.Fail(fmt.Errorf("sink %s: state of SKU %q: %w", p.channel, ctx.Key(), err))
		}
	}
	return s
}

func (p *sink) offer(ctx goka.Context, s SinkState) {
	p.pusher.Offer(ctx.Partition(), marketplace.Update{SKU: ctx.Key(), Available: s.Want, Version: s.WantVersion})
}

func (p *sink) stock(ctx goka.Context, msg any) {
	raw, _ := msg.([]byte)
	if !bytes.Contains(raw, p.marker) {
		return // another channel's value: every sink reads channel.stock
	}
	if p.rerouted(ctx, raw) {
		return
	}
	var cs contract.ChannelStock
	if err := json.Unmarshal(raw, &cs); err != nil || cs.SKU != ctx.Key() || cs.Channel != p.channel {
		p.deadLetter(ctx, raw, fmt.Sprintf("not channel stock of %s for SKU %q: %v", p.channel, ctx.Key(), err))
		return
	}
	s := p.load(ctx)
	switch {
	case cs.Version < s.WantVersion:
		return
	case cs.Version == s.WantVersion:
		// A replay after a crash: persist again (the changelog write may be
		// lost) and make sure the value is pushed.
		ctx.SetValue(mustJSON(s))
		if s.Pending() {
			p.offer(ctx, s)
		}
		return
	}
	s.Want, s.WantVersion, s.Parked = cs.Available, cs.Version, ""
	s.WantAt = ctx.Timestamp().UnixMilli()
	if at, err := strconv.ParseInt(string(ctx.Headers()[HeaderAt]), 10, 64); err == nil && at > 0 {
		s.WantAt = at
	}
	ctx.SetValue(mustJSON(s))
	p.offer(ctx, s)
}

func (p *sink) verdict(ctx goka.Context, msg any) {
	var v sinks.Verdict
	raw, ok := p.accept(ctx, msg, &v, "sku", func() string { return v.SKU }, "sink verdict")
	if !ok {
		return
	}
	s := p.load(ctx)
	if v.OK {
		if v.Version > s.AckedVersion {
			s.Acked, s.AckedVersion, s.AckedAt = v.Available, v.Version, v.At
			ctx.SetValue(mustJSON(s))
			if v.Version == s.WantVersion {
				p.sm.E2E.WithLabelValues(p.channel).Observe(float64(v.At-s.WantAt) / 1000)
			}
		}
		p.pusher.Acked(ctx.Key(), v.Version)
		return
	}
	if v.Version >= s.WantVersion && s.Parked == "" {
		s.Parked = v.Reason
		ctx.SetValue(mustJSON(s))
		dl := DeadLetter{Topic: string(p.names.SinkVerdicts(p.channel)), Partition: ctx.Partition(), Offset: ctx.Offset(),
			Key: ctx.Key(), Value: string(raw), Reason: fmt.Sprintf("channel %s: the marketplace refused SKU %q: %s", p.channel, v.SKU, v.Reason),
			At: time.UnixMilli(v.At).UTC().Format(time.RFC3339Nano)}
		ctx.Emit(p.names.DLQ, ctx.Key(), mustJSON(dl))
		p.sm.DLQ.WithLabelValues(p.channel).Inc()
		p.log.Warn("update parked in the DLQ", "sku", v.SKU, "version", v.Version, "reason", v.Reason)
	}
	p.pusher.Dropped(ctx.Key(), v.Version)
}

// control is the visitor for operator commands over the whole table.
func (p *sink) control(ctx goka.Context, meta any) {
	if meta != UnparkAll {
		return
	}
	s := p.load(ctx)
	if s.Parked == "" || s.WantVersion <= s.AckedVersion {
		return
	}
	s.Parked = ""
	ctx.SetValue(mustJSON(s))
	p.offer(ctx, s)
}

// SeedSink hands a recovered partition's pending values to the pusher: its
// memory starts empty after a restart or a rebalance.
func SeedSink(pusher *sinks.Pusher, partition int32, st storage.Storage) error {
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
		s, err := DecodeSinkState(v)
		if err != nil || !s.Pending() {
			continue
		}
		pusher.Offer(partition, marketplace.Update{SKU: string(it.Key()), Available: s.Want, Version: s.WantVersion})
	}
	return it.Err()
}
