package topology

import (
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
)

// Every edge carries raw bytes: the processors decode themselves, so a message
// that cannot be decoded reaches the callback and goes to the DLQ with its
// reason (DESIGN.md invariant 6) instead of stopping the partition.
var raw = new(codec.Bytes)

// InventoryGraph is the inventory group (key SKU): the single writer of each
// SKU's ledger. It also writes to its own inputs, to reroute a message that
// arrived on a partition its key does not hash to.
func (n Names) InventoryGraph(feed, commands goka.ProcessCallback) *goka.GroupGraph {
	return goka.DefineGroup(n.Inventory,
		goka.Input(n.StockFeed, raw, feed),
		goka.Input(n.StockCommands, raw, commands),
		goka.Persist(raw),
		goka.Output(n.StockReplies, raw),
		goka.Output(n.StockChanges, raw),
		goka.Output(n.StockShortages, raw),
		goka.Output(n.DLQ, raw),
		goka.Output(n.StockFeed, raw),
		goka.Output(n.StockCommands, raw),
	)
}

// OrdersGraph is the orders group (key order_id): the saga of each order.
func (n Names) OrdersGraph(commands, replies goka.ProcessCallback) *goka.GroupGraph {
	return goka.DefineGroup(n.Orders,
		goka.Input(n.OrderCommands, raw, commands),
		goka.Input(n.StockReplies, raw, replies),
		goka.Persist(raw),
		goka.Output(n.StockCommands, raw),
		goka.Output(n.OrderResults, raw),
		goka.Output(n.DLQ, raw),
		goka.Output(n.OrderCommands, raw),
		goka.Output(n.StockReplies, raw),
	)
}

// ChannelsGraph is the channels group (key SKU): stock changes in, each
// channel's available-to-sell out, only when it changed. The visitor
// recomputes every SKU after the channel rules changed.
func (n Names) ChannelsGraph(changes, recompute goka.ProcessCallback) *goka.GroupGraph {
	return goka.DefineGroup(n.Channels,
		goka.Input(n.StockChanges, raw, changes),
		goka.Visitor("recompute", recompute),
		goka.Persist(raw),
		goka.Output(n.ChannelStock, raw),
		goka.Output(n.DLQ, raw),
		goka.Output(n.StockChanges, raw),
	)
}

// SinkGraph is one channel's sink group (key SKU): the channel's stock in,
// the pushers' verdicts back through the loop, the state per SKU persisted.
func (n Names) SinkGraph(channel string, stock, verdicts goka.ProcessCallback, control goka.ProcessCallback) *goka.GroupGraph {
	return goka.DefineGroup(n.Sink(channel),
		goka.Input(n.ChannelStock, raw, stock),
		goka.Input(n.SinkVerdicts(channel), raw, verdicts),
		goka.Visitor("control", control),
		goka.Persist(raw),
		goka.Output(n.DLQ, raw),
		goka.Output(n.ChannelStock, raw),
		goka.Output(n.SinkVerdicts(channel), raw),
	)
}
