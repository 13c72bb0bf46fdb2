package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/processors"
	"github.com/stocksync/stocksync/sinks"
	"github.com/twmb/franz-go/pkg/kgo"
)

// channel is one sales channel's running parts.
type channel struct {
	name, marketplace string
	pusher            *sinks.Pusher
}

// defineChannels creates a pusher per channel and says how to build the
// channels processor, which feeds them.
func (e *Engine) defineChannels(opts func(group string) []goka.ProcessorOption) error {
	s := e.settings
	pushers := map[string]*sinks.Pusher{}
	for _, c := range s.Channels {
		adapter, err := e.adapter(c.Name, c.Marketplace)
		if err != nil {
			return err
		}
		ch := e.channels[c.Name]
		ch.pusher, err = sinks.New(sinks.Config{Channel: c.Name, Adapter: adapter, Metrics: e.sinkMetrics, Logger: e.log,
			Unordered: c.PushOrder == config.PushAnyOrder,
			Send:      e.sendVerdict})
		if err != nil {
			return fmt.Errorf("engine: channel %s: %w", c.Name, err)
		}
		pushers[c.Name] = ch.pusher
	}
	e.pushers.Store(&pushers)
	e.channelsProc = &processor{name: "channels", build: func() (*goka.Processor, error) {
		return processors.NewChannels(processors.ChannelsConfig{
			Names: e.names, Brokers: s.Kafka.Brokers, Partitions: s.Kafka.Partitions,
			Catalog: e.catalog, Pushers: pushers, Metrics: e.metrics, SinkMetrics: e.sinkMetrics, Logger: e.log,
		}, opts("channels")...)
	}}
	return nil
}

// adapter builds the marketplace adapter of a channel from its endpoint.
func (e *Engine) adapter(name, kind string) (marketplace.Adapter, error) {
	ep := e.endpoints[name]
	a, err := marketplace.New(kind, ep)
	if err != nil {
		return nil, fmt.Errorf("engine: channel %s: %w", name, err)
	}
	return a, nil
}

// sendVerdict produces a pusher's verdict to the sink verdicts stream,
// asynchronously: one marketplace batch ends in hundreds of them.
func (e *Engine) sendVerdict(ctx context.Context, v sinks.Verdict, done func(error)) {
	value, err := json.Marshal(v)
	if err != nil {
		done(err)
		return
	}
	e.producer.Produce(ctx, &kgo.Record{Topic: string(e.names.SinkVerdicts), Key: []byte(v.SKU), Value: value},
		func(_ *kgo.Record, err error) { done(err) })
}

// onChannelsRecovered seeds the pushers from a recovered partition of the
// channels table and asks for the rules check.
func (e *Engine) onChannelsRecovered(partition int32, st storage.Storage) {
	if pushers := e.pushers.Load(); pushers != nil {
		if err := processors.SeedPushers(*pushers, partition, st); err != nil {
			e.log.Error("channels: reading pending values of a recovered partition", "partition", partition, "err", err)
		}
	}
	select {
	case e.recompute <- struct{}{}:
	default:
	}
}

// runChannels runs the pushers and the reader of channel modes.
func (e *Engine) runChannels(ctx context.Context, run func(name string, f func(context.Context) error)) {
	for _, ch := range e.channels {
		run("pusher "+ch.name, ch.pusher.Run)
	}
	run("channel control", func(ctx context.Context) error {
		return e.modes.Run(ctx, append([]kgo.Opt{kgo.SeedBrokers(e.cfg.Brokers...)}, e.security...)...)
	})
}

// SetChannelMode switches a channel to manual (nothing pushed; pending
// values kept) or auto, for every instance, and waits until this one applied it.
func (e *Engine) SetChannelMode(ctx context.Context, name string, mode contract.ChannelMode) (contract.ChannelInfo, error) {
	if _, ok := e.channels[name]; !ok {
		return contract.ChannelInfo{}, fmt.Errorf("%w: channel %q is not configured", contract.ErrNotFound, name)
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	if err := e.modes.Set(ctx, e.producer, name, mode); err != nil {
		return contract.ChannelInfo{}, err
	}
	return e.channelInfo(name), nil
}

func (e *Engine) channelInfo(name string) contract.ChannelInfo {
	ch := e.channels[name]
	info := contract.ChannelInfo{Name: name, Marketplace: ch.marketplace, Mode: e.modes.Mode(name), Circuit: contract.CircuitNone}
	if ch.pusher != nil {
		st := ch.pusher.Status()
		info.Circuit, info.Pending = st.Circuit, int64(st.Pending)
		if !st.LastAckAt.IsZero() {
			info.LastAckAt = st.LastAckAt.UTC().Format(time.RFC3339Nano)
		}
		if !st.LastErrorAt.IsZero() {
			info.LastError, info.LastErrorAt = st.LastError, st.LastErrorAt.UTC().Format(time.RFC3339Nano)
		}
	}
	return info
}

// ChannelStock answers GET /v1/channels/{name}/stock/{sku} from the local
// channels table: what was projected for the channel and what it acknowledged.
func (e *Engine) ChannelStock(ctx context.Context, name, sku string) (contract.ChannelStockView, error) {
	ch, ok := e.channels[name]
	if !ok {
		return contract.ChannelStockView{}, fmt.Errorf("%w: channel %q is not configured", contract.ErrNotFound, name)
	}
	if !e.started.Load() || !e.channelsProc.Recovered() {
		return contract.ChannelStockView{}, fmt.Errorf("%w: the channels table is still recovering", contract.ErrUnavailable)
	}
	v, err := e.channelsProc.Get(sku)
	if err != nil {
		return contract.ChannelStockView{}, e.channelOwners.NotLocal(sku, err)
	}
	raw, _ := v.([]byte)
	var s *processors.SinkState
	if raw != nil {
		st, err := processors.DecodeChannelsState(raw)
		if err != nil {
			return contract.ChannelStockView{}, fmt.Errorf("channels: state of SKU %q: %w", sku, err)
		}
		s = st.Sinks[ch.name]
	}
	if s == nil {
		return contract.ChannelStockView{}, fmt.Errorf("%w: channel %s has no value for SKU %q yet", contract.ErrNotFound, name, sku)
	}
	out := contract.ChannelStockView{Channel: name, SKU: sku, Projected: s.Want, Acknowledged: s.Acked, Version: s.WantVersion,
		AcknowledgedVersion: s.AckedVersion, Parked: s.Parked}
	if s.AckedAt > 0 {
		out.AcknowledgedAt = time.UnixMilli(s.AckedAt).UTC().Format(time.RFC3339Nano)
	}
	return out, nil
}

// PendingChannelStock lists the values a channel has not acknowledged yet
// (on this instance's partitions), for the ops UI and the CSV export.
func (e *Engine) PendingChannelStock(name string) ([]contract.PendingValue, error) {
	ch, ok := e.channels[name]
	if !ok {
		return nil, fmt.Errorf("%w: channel %q is not configured", contract.ErrNotFound, name)
	}
	if ch.pusher == nil {
		return nil, fmt.Errorf("%w: the channel's sink is still starting", contract.ErrUnavailable)
	}
	pending := ch.pusher.Pending()
	out := make([]contract.PendingValue, len(pending))
	for i, p := range pending {
		out[i] = contract.PendingValue{SKU: p.SKU, Available: p.Available, Version: p.Version,
			Since: p.Since.UTC().Format(time.RFC3339Nano), Attempts: p.Attempts, LastError: p.LastError}
	}
	return out, nil
}

// PushChannelNow pushes a channel's pending values once, even in manual mode.
func (e *Engine) PushChannelNow(name string) error {
	ch, ok := e.channels[name]
	if !ok {
		return fmt.Errorf("%w: channel %q is not configured", contract.ErrNotFound, name)
	}
	if ch.pusher == nil {
		return fmt.Errorf("%w: the channel's sink is still starting", contract.ErrUnavailable)
	}
	ch.pusher.PushNow()
	return nil
}

// ReplayChannelDLQ gives every parked update of a channel another try.
func (e *Engine) ReplayChannelDLQ(ctx context.Context, name string) error {
	if _, ok := e.channels[name]; !ok {
		return fmt.Errorf("%w: channel %q is not configured", contract.ErrNotFound, name)
	}
	if !e.started.Load() || !e.channelsProc.Recovered() {
		return fmt.Errorf("%w: the channels table is still recovering", contract.ErrUnavailable)
	}
	_, err := e.channelsProc.VisitAll(ctx, "unpark", name)
	return err
}
