package processors

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/lovoo/goka"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/stock"
	"github.com/stocksync/stocksync/topology"
)

// InventoryConfig is what the inventory processor needs.
type InventoryConfig struct {
	Names      topology.Names
	Brokers    []string
	Partitions int32          // partitions of every topic; required
	Catalog    *stock.Catalog // locations and channels; required
	Metrics    *Metrics       // required
	Logger     *slog.Logger   // default slog.Default()
	Now        func() time.Time
}

// NewInventory builds the inventory processor: the single writer of every
// SKU's ledger (DESIGN.md "inventory"). Options are appended last, so a test
// can add goka.WithTester.
func NewInventory(cfg InventoryConfig, opts ...goka.ProcessorOption) (*goka.Processor, error) {
	inv, err := newInventory(cfg)
	if err != nil {
		return nil, err
	}
	return goka.NewProcessor(cfg.Brokers, cfg.Names.InventoryGraph(inv.feed, inv.command), opts...)
}

type inventory struct {
	base
	catalog *stock.Catalog
}

func newInventory(cfg InventoryConfig) (*inventory, error) {
	if cfg.Partitions <= 0 || cfg.Catalog == nil || cfg.Metrics == nil {
		return nil, fmt.Errorf("processors: inventory needs Partitions > 0, a Catalog and Metrics")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &inventory{
		base:    base{names: cfg.Names, partitions: cfg.Partitions, metrics: cfg.Metrics, log: cfg.Logger.With("processor", "inventory"), now: cfg.Now},
		catalog: cfg.Catalog,
	}, nil
}

// ledger loads the SKU's ledger from the table; a corrupt value is a bug, not
// input, so it stops the processor rather than being silently replaced.
func (p *inventory) ledger(ctx goka.Context) stock.SKU {
	v, _ := ctx.Value().([]byte)
	if v == nil {
		return stock.SKU{}
	}
	s, err := stock.UnmarshalSKU(v)
	if err != nil {
		ctx.Fail(fmt.Errorf("inventory: ledger of SKU %q: %w", ctx.Key(), err))
	}
	return s
}

func (p *inventory) feed(ctx goka.Context, msg any) {
	raw, _ := msg.([]byte)
	if p.rerouted(ctx, raw) {
		return
	}
	f, err := contract.DecodeFeed(raw)
	if err == nil && f.SKU != ctx.Key() {
		err = fmt.Errorf("message key %q differs from its sku %q", ctx.Key(), f.SKU)
	}
	if err == nil && !p.catalog.Known(f.Location) {
		err = fmt.Errorf("unknown location %q (configured: %v)", f.Location, p.catalog.Locations())
	}
	if err != nil {
		p.deadLetter(ctx, raw, err.Error())
		return
	}
	s := p.ledger(ctx)
	var eff stock.Effect
	if f.Type == contract.Snapshot {
		eff = s.Snapshot(f)
	} else {
		eff = s.Adjust(f)
	}
	p.apply(ctx, &s, f.Type, eff, ctx.Timestamp())
}

func (p *inventory) command(ctx goka.Context, msg any) {
	var c stock.Command
	raw, ok := p.accept(ctx, msg, &c, "sku", func() string { return c.SKU }, "stock command")
	if !ok {
		return
	}
	var err error
	switch {
	case c.OrderID == "":
		err = fmt.Errorf("order_id is empty")
	case c.Type == stock.CmdReserve && (c.Qty < 1 || c.Qty > contract.MaxQty):
		err = fmt.Errorf("qty %d is outside 1..%d", c.Qty, contract.MaxQty)
	}
	if err != nil {
		p.deadLetter(ctx, raw, "not a stock command: "+err.Error())
		return
	}
	s := p.ledger(ctx)
	var eff stock.Effect
	switch c.Type {
	case stock.CmdReserve:
		var reply stock.Reply
		reply, eff = s.Reserve(c, p.catalog)
		ctx.Emit(p.names.StockReplies, c.OrderID, mustJSON(reply))
		if !reply.OK && !eff.Duplicate {
			p.metrics.Commands.WithLabelValues(c.Type, "rejected").Inc()
			return
		}
	case stock.CmdConfirm:
		eff = s.Confirm(c)
		p.ack(ctx, c)
	case stock.CmdRelease:
		eff = s.Release(c)
		p.ack(ctx, c)
	case stock.CmdExpire:
		eff = s.Expire(c)
	case stock.CmdShip:
		eff = s.Ship(c)
		p.ack(ctx, c)
	default:
		p.deadLetter(ctx, raw, fmt.Sprintf("unknown stock command type %q", c.Type))
		return
	}
	p.apply(ctx, &s, c.Type, eff, time.UnixMilli(c.At))
}

// apply persists a changed ledger and tells the rest of the engine. A
// duplicate persists and emits again: after a crash or a failed produce, the
// local table may hold a state whose changelog write and emits were lost, and
// the replayed message is the one chance to send them.
func (p *inventory) apply(ctx goka.Context, s *stock.SKU, cause string, eff stock.Effect, at time.Time) {
	outcome := "accepted"
	switch {
	case eff.Stale && !eff.Duplicate:
		outcome = "stale"
	case eff.Duplicate:
		outcome = "duplicate"
	case !eff.Changed:
		outcome = "ignored"
		p.log.Info("command without effect", "sku", ctx.Key(), "type", cause, "why", eff.Note)
	}
	p.metrics.Commands.WithLabelValues(cause, outcome).Inc()
	if eff.Changed || eff.Duplicate {
		ctx.SetValue(s.AppendBinary(nil))
	}
	if eff.Changed || eff.Duplicate {
		ctx.Emit(p.names.StockChanges, ctx.Key(), mustJSON(s.Change(ctx.Key(), cause, at.UnixMilli())))
	}
	if eff.Shortage != nil {
		ctx.Emit(p.names.StockShortages, ctx.Key(), mustJSON(eff.Shortage))
		p.metrics.Shortages.WithLabelValues(eff.Shortage.Location).Inc()
		p.log.Warn("shortage: location holds less than it promised", "sku", ctx.Key(),
			"location", eff.Shortage.Location, "on_hand", eff.Shortage.OnHand, "short", eff.Shortage.Short)
	}
}

// ack tells the orders processor this line's step is applied (or had been):
// it answers the order once every line is.
func (p *inventory) ack(ctx goka.Context, c stock.Command) {
	ctx.Emit(p.names.StockReplies, c.OrderID, mustJSON(stock.Reply{Type: c.Type, OrderID: c.OrderID, SKU: c.SKU, OK: true, Qty: c.Qty}))
}
