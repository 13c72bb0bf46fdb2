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

// ChannelsGraph is the channels group (key SKU). Stock changes come in and
// each channel's available-to-sell goes out on channel.stock when it changed;
// the same group hands new values to the marketplace pushers and records
// their verdicts, so the projection and what each marketplace acknowledged
// live in one table with one writer per SKU. The visitors recompute every SKU
// after the channel rules changed, and release a channel's parked values.
func (n Names) ChannelsGraph(changes, verdicts, recompute, unpark goka.ProcessCallback) *goka.GroupGraph {
	return goka.DefineGroup(n.Channels,
		goka.Input(n.StockChanges, raw, changes),
		goka.Input(n.SinkVerdicts, raw, verdicts),
		goka.Visitor("recompute", recompute),
		goka.Visitor("unpark", unpark),
		goka.Persist(raw),
		goka.Output(n.ChannelStock, raw),
		goka.Output(n.DLQ, raw),
		goka.Output(n.StockChanges, raw),
		goka.Output(n.SinkVerdicts, raw),
	)
}
