package queryapi

import (
	"context"
	"fmt"

	"github.com/stocksync/stocksync/contract"
)

// The fake's channels: "ozon" exists, with one pending value for SKU "A";
// a SKU "owned-elsewhere" answers with the owner set in notOwner.

func (e *fakeEngine) channel(name string) (*contract.ChannelInfo, error) {
	for i := range e.chans {
		if e.chans[i].Name == name {
			return &e.chans[i], nil
		}
	}
	return nil, fmt.Errorf("%w: channel %q is not configured", contract.ErrNotFound, name)
}

func (e *fakeEngine) ChannelStock(ctx context.Context, name, sku string) (contract.ChannelStockView, error) {
	if err := e.special(ctx, sku); err != nil {
		return contract.ChannelStockView{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.channel(name); err != nil {
		return contract.ChannelStockView{}, err
	}
	if sku == "owned-elsewhere" && e.notOwner != "" {
		return contract.ChannelStockView{}, &contract.NotOwnerError{Key: sku, Partition: 3, Owner: e.notOwner}
	}
	if sku != "A" {
		return contract.ChannelStockView{}, contract.ErrNotFound
	}
	return contract.ChannelStockView{Channel: name, SKU: sku, Projected: 5, Acknowledged: 4, Version: 9, AcknowledgedVersion: 8,
		AcknowledgedAt: "2025-01-01T00:00:00Z"}, nil
}

func (e *fakeEngine) SetChannelMode(ctx context.Context, name string, mode contract.ChannelMode) (contract.ChannelInfo, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.channel(name)
	if err != nil {
		return contract.ChannelInfo{}, err
	}
	if err := mode.Validate(); err != nil {
		return contract.ChannelInfo{}, err
	}
	c.Mode = mode
	return *c, nil
}

func (e *fakeEngine) PendingChannelStock(name string) ([]contract.PendingValue, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.channel(name); err != nil {
		return nil, err
	}
	if e.pending != nil {
		return e.pending, nil
	}
	return []contract.PendingValue{{SKU: "A", Available: 5, Version: 9, Since: "2025-01-01T00:00:00Z", Attempts: 2, LastError: "503, retrying"}}, nil
}

func (e *fakeEngine) PushChannelNow(name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, err := e.channel(name)
	if err == nil {
		e.pushed++
	}
	return err
}

func (e *fakeEngine) ReplayChannelDLQ(ctx context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, err := e.channel(name)
	if err == nil {
		e.replayed++
	}
	return err
}
