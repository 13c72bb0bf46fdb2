package enginev2

import (
	"context"
	"fmt"
	"time"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/processors/inventory"
	"github.com/stocksync/stocksync/sinks"
)

// Channels lists the configured channels with their mode, circuit and
// backlog (this instance's partitions).
func (e *Engine) Channels() []contract.ChannelInfo {
	out := make([]contract.ChannelInfo, 0, len(e.s.Channels))
	for _, c := range e.s.Channels {
		out = append(out, e.channelInfo(c.Name, c.Marketplace))
	}
	return out
}

func (e *Engine) channelInfo(name, market string) contract.ChannelInfo {
	info := contract.ChannelInfo{Name: name, Marketplace: market, Mode: e.modes.Mode(name), Circuit: contract.CircuitNone}
	if pu := e.pushers[name]; pu != nil {
		st := pu.Status()
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

func (e *Engine) pusher(name string) (*sinks.Pusher, error) {
	if pu := e.pushers[name]; pu != nil {
		return pu, nil
	}
	return nil, fmt.Errorf("%w: channel %q is not configured", contract.ErrNotFound, name)
}

// ChannelStock answers GET /v1/channels/{name}/stock/{sku}.
func (e *Engine) ChannelStock(_ context.Context, name, sku string) (contract.ChannelStockView, error) {
	if _, err := e.pusher(name); err != nil {
		return contract.ChannelStockView{}, err
	}
	st, err := e.store(sku)
	if err != nil {
		return contract.ChannelStockView{}, err
	}
	s, err := inventory.ChannelStock(st, name, sku)
	if err != nil {
		return contract.ChannelStockView{}, err
	}
	if s == nil {
		return contract.ChannelStockView{}, fmt.Errorf("%w: channel %s has no value for SKU %q yet", contract.ErrNotFound, name, sku)
	}
	v := contract.ChannelStockView{Channel: name, SKU: sku, Projected: s.Want, Acknowledged: s.Acked, Version: s.WantVersion,
		AcknowledgedVersion: s.AckedVersion, Parked: s.Parked}
	if s.AckedAt > 0 {
		v.AcknowledgedAt = time.UnixMilli(s.AckedAt).UTC().Format(time.RFC3339Nano)
	}
	return v, nil
}

// SetChannelMode records a channel's mode for every instance and waits until
// this one applied it.
func (e *Engine) SetChannelMode(ctx context.Context, name string, mode contract.ChannelMode) (contract.ChannelInfo, error) {
	if _, err := e.pusher(name); err != nil {
		return contract.ChannelInfo{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	if err := e.modes.Set(ctx, e.producer, name, mode); err != nil {
		return contract.ChannelInfo{}, err
	}
	return e.channelInfo(name, e.marketOf(name)), nil
}

func (e *Engine) marketOf(name string) string {
	for _, c := range e.s.Channels {
		if c.Name == name {
			return c.Marketplace
		}
	}
	return ""
}

// PendingChannelStock lists what a channel's marketplace lacks (this
// instance's partitions).
func (e *Engine) PendingChannelStock(name string) ([]contract.PendingValue, error) {
	pu, err := e.pusher(name)
	if err != nil {
		return nil, err
	}
	pending := pu.Pending()
	out := make([]contract.PendingValue, len(pending))
	for i, p := range pending {
		out[i] = contract.PendingValue{SKU: p.SKU, Available: p.Available, Version: p.Version,
			Since: p.Since.UTC().Format(time.RFC3339Nano), Attempts: p.Attempts, LastError: p.LastError}
	}
	return out, nil
}

// PushChannelNow pushes a channel's pending values once, even in manual mode.
func (e *Engine) PushChannelNow(name string) error {
	pu, err := e.pusher(name)
	if err != nil {
		return err
	}
	pu.PushNow()
	return nil
}

// ReplayChannelDLQ releases a channel's parked values for another push, on
// every partition, whichever instance owns it: it sends each partition an
// unpark message (inventory.UnparkRecords), which the partition's owner
// applies in its next cycles. It returns once Kafka holds them, not once
// the values are pushed.
func (e *Engine) ReplayChannelDLQ(ctx context.Context, name string) error {
	if _, err := e.pusher(name); err != nil {
		return err
	}
	if !e.started.Load() {
		return fmt.Errorf("%w: the engine is still starting", contract.ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	recs := inventory.UnparkRecords(e.names, e.s.Kafka.Partitions, name)
	if err := e.producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("%w: sending the replay of channel %s to Kafka (%s): %v; send it again", contract.ErrUnavailable, name, e.names.EngineMessages, err)
	}
	return nil
}
