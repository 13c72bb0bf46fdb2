package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stocksync/stocksync/admin"
	"github.com/stocksync/stocksync/client"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/processors"
	"github.com/stocksync/stocksync/stock"
	"github.com/twmb/franz-go/pkg/kgo"
)

// What the HTTP API asks of the engine (the roles of queryapi.Config).

// Ready is nil once the processors have recovered their tables.
func (e *Engine) Ready() error {
	if !e.started.Load() {
		return errors.New("still starting: creating or checking the topics")
	}
	var missing []string
	if !e.inventory.Recovered() {
		missing = append(missing, "inventory table")
	}
	if !e.orders.Recovered() {
		missing = append(missing, "orders table")
	}
	if !e.channelsProc.Recovered() {
		missing = append(missing, "channels table")
	}
	if len(missing) > 0 {
		return fmt.Errorf("still starting: waiting for %s", strings.Join(missing, ", "))
	}
	return nil
}

// ledger reads a SKU's ledger from the local inventory table.
func (e *Engine) ledger(sku string) (*stock.SKU, error) {
	if !e.started.Load() || !e.inventory.Recovered() {
		return nil, fmt.Errorf("%w: the inventory table is still recovering", contract.ErrUnavailable)
	}
	v, err := e.inventory.Get(sku)
	if err != nil {
		// goka: the partition is not (or no longer) assigned to this instance.
		return nil, e.stockOwners.NotLocal(sku, err)
	}
	raw, _ := v.([]byte)
	if raw == nil {
		return nil, nil
	}
	s, err := stock.UnmarshalSKU(raw)
	if err != nil {
		return nil, fmt.Errorf("ledger of SKU %q: %w", sku, err)
	}
	return &s, nil
}

// Stock answers GET /v1/stock/{sku} from the local Pebble table.
func (e *Engine) Stock(ctx context.Context, sku string) (contract.StockView, error) {
	s, err := e.ledger(sku)
	if err != nil {
		return contract.StockView{}, err
	}
	if s == nil {
		return contract.StockView{}, fmt.Errorf("%w: SKU %q has no stock record", contract.ErrNotFound, sku)
	}
	return e.view(sku, s), nil
}

func (e *Engine) view(sku string, s *stock.SKU) contract.StockView { return e.catalog.View(sku, s) }

// Order answers GET /v1/orders/{order_id} from the local orders table.
func (e *Engine) Order(ctx context.Context, orderID string) (contract.OrderView, error) {
	if !e.started.Load() || !e.orders.Recovered() {
		return contract.OrderView{}, fmt.Errorf("%w: the orders table is still recovering", contract.ErrUnavailable)
	}
	v, err := e.orders.Get(orderID)
	if err != nil {
		return contract.OrderView{}, e.orderOwners.NotLocal(orderID, err)
	}
	raw, _ := v.([]byte)
	if raw == nil {
		return contract.OrderView{}, fmt.Errorf("%w: order %q was never reserved", contract.ErrNotFound, orderID)
	}
	return processors.DecodeOrderView(raw)
}

// SubmitOrder sends an order command and waits for the engine's decision.
func (e *Engine) SubmitOrder(ctx context.Context, cmd contract.OrderCommand) (contract.OrderResult, error) {
	if err := cmd.Validate(); err != nil {
		return contract.OrderResult{}, err
	}
	if cmd.Type == contract.Expire {
		return contract.OrderResult{}, &contract.InvalidError{Field: "type", Reason: "expire is the engine's own command"}
	}
	if !e.started.Load() {
		return contract.OrderResult{}, fmt.Errorf("%w: the engine is still starting", contract.ErrUnavailable)
	}
	res, err := e.commands.Submit(ctx, cmd)
	return res, client.AsAPIError(err, e.timeout, cmd)
}

// SubmitFeed sends a snapshot or adjust and waits until the local table shows
// it applied (or ignored); past the write timeout it answers "accepted".
func (e *Engine) SubmitFeed(ctx context.Context, msg contract.FeedMessage) (contract.FeedAnswer, error) {
	if err := msg.Validate(); err != nil {
		return contract.FeedAnswer{}, err
	}
	if !e.catalog.Known(msg.Location) {
		return contract.FeedAnswer{}, &contract.InvalidError{Field: "location",
			Reason: fmt.Sprintf("%q is not configured (known: %s)", msg.Location, strings.Join(e.catalog.Locations(), ", "))}
	}
	before, err := e.ledger(msg.SKU)
	if err != nil && !errors.Is(err, contract.ErrUnavailable) {
		return contract.FeedAnswer{}, err
	}
	if before.Applied(msg) {
		return contract.FeedAnswer{Status: contract.FeedApplied, Ignored: true, Stock: e.viewOf(msg.SKU, before)}, nil
	}
	value, err := json.Marshal(msg)
	if err != nil {
		return contract.FeedAnswer{}, err
	}
	ctx, stop := context.WithTimeout(ctx, e.timeout)
	defer stop()
	rec := &kgo.Record{Topic: string(e.names.StockFeed), Key: []byte(msg.SKU), Value: value}
	if err := e.producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return contract.FeedAnswer{}, fmt.Errorf("%w: sending the feed message to Kafka: %v", contract.ErrUnavailable, err)
	}
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return contract.FeedAnswer{Status: contract.FeedAccepted}, nil
		case <-tick.C:
			if s, err := e.ledger(msg.SKU); err == nil && s.Applied(msg) {
				return contract.FeedAnswer{Status: contract.FeedApplied, Stock: e.viewOf(msg.SKU, s)}, nil
			}
		}
	}
}

func (e *Engine) viewOf(sku string, s *stock.SKU) *contract.StockView {
	v := e.view(sku, s)
	return &v
}

// Locations lists the configured locations.
func (e *Engine) Locations() []contract.LocationInfo {
	out := make([]contract.LocationInfo, 0, len(e.settings.Locations))
	for _, l := range e.settings.Locations {
		out = append(out, contract.LocationInfo{Name: l.Name, Kind: l.Kind})
	}
	return out
}

// Channels lists the configured channels with their mode, circuit and
// backlog (this instance's partitions).
func (e *Engine) Channels() []contract.ChannelInfo {
	out := make([]contract.ChannelInfo, 0, len(e.settings.Channels))
	for _, c := range e.settings.Channels {
		out = append(out, e.channelInfo(c.Name))
	}
	return out
}

// ConsumerGroups are the engine's goka groups with their input topics, for
// the ops console's cluster view (opsui.Engine).
func (e *Engine) ConsumerGroups() []admin.GroupInputs {
	return admin.Inputs(e.names, config.BackendGoka)
}
