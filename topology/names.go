// Package topology names every stream, table and group of stocksync in one
// place and builds the topics they need. Names take a prefix (default
// "stocksync.") so several deployments can share a cluster.
package topology

import (
	"strconv"

	"github.com/lovoo/goka"
)

// DefaultPrefix is the topic and group prefix used when the config names none.
const DefaultPrefix = "stocksync."

// Names are the streams, tables and groups of one deployment. Build it with
// New; the zero value is not usable.
type Names struct {
	Prefix string

	// External contract (DESIGN.md "Public contract").
	OrderCommands goka.Stream // orders.commands, key order_id
	OrderResults  goka.Stream // orders.results, key order_id
	StockFeed     goka.Stream // stock.feed, key SKU
	ChannelStock  goka.Stream // channel.stock, key SKU

	// Internal streams.
	StockCommands  goka.Stream // stock.commands, key SKU: order lines for inventory
	StockReplies   goka.Stream // stock.replies, key order_id: inventory's answers to orders
	StockChanges   goka.Stream // stock.changes, key SKU: per-location quantities after each change
	StockShortages goka.Stream // stock.shortages, key SKU: a snapshot left on_hand below reserved+committed
	DLQ            goka.Stream // dlq: messages that could not be decoded or were invalid, with the reason
	ChannelControl goka.Stream // channels.control, key channel: its mode (sinks.ModeRecord); compacted
	// SinkVerdicts, key SKU: the pushers' verdicts (acknowledged or
	// refused) on their way back to the single writer of each SKU, the
	// channels group: the pushers run outside goka's callbacks. (goka's own
	// "-loop" name is reserved for Loop.)
	SinkVerdicts goka.Stream
	// EngineMessages, keyed so each lands at the engine partition it is
	// for: holds, claims and settlements of orders across partitions, and
	// their answers (docs/design.md, "Orders across partitions").
	EngineMessages goka.Stream

	// Groups; each group's table is goka.GroupTable(group).
	Inventory goka.Group // key SKU
	Orders    goka.Group // key order_id
	Channels  goka.Group // key SKU: available-to-sell per channel, and what each marketplace acknowledged

	// Engine is the group of the SKU-partitioned engine (docs/design.md):
	// its table holds stock by SKU, orders at their route partition and
	// directory entries at the order id's partition.
	Engine goka.Group
}

// New returns the names for prefix ("" means DefaultPrefix).
func New(prefix string) Names {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	s := func(n string) goka.Stream { return goka.Stream(prefix + n) }
	return Names{
		Prefix:         prefix,
		OrderCommands:  s("orders.commands"),
		OrderResults:   s("orders.results"),
		StockFeed:      s("stock.feed"),
		ChannelStock:   s("channel.stock"),
		StockCommands:  s("stock.commands"),
		StockReplies:   s("stock.replies"),
		StockChanges:   s("stock.changes"),
		StockShortages: s("stock.shortages"),
		DLQ:            s("dlq"),
		ChannelControl: s("channels.control"),
		SinkVerdicts:   s("sink.verdicts"),
		EngineMessages: s("engine.messages"),
		Inventory:      goka.Group(prefix + "inventory"),
		Orders:         goka.Group(prefix + "orders"),
		Channels:       goka.Group(prefix + "channels"),
		Engine:         goka.Group(prefix + "engine"),
	}
}

// InventoryTable is the inventory group's table (its changelog topic).
func (n Names) InventoryTable() goka.Table { return goka.GroupTable(n.Inventory) }

// OrdersTable is the orders group's table (its changelog topic).
func (n Names) OrdersTable() goka.Table { return goka.GroupTable(n.Orders) }

// EngineTable is the engine group's table (its compacted changelog).
func (n Names) EngineTable() goka.Table { return goka.GroupTable(n.Engine) }

// ChannelsTable is the channels group's table.
func (n Names) ChannelsTable() goka.Table { return goka.GroupTable(n.Channels) }

// Streams lists every stream topic of a deployment, for creation and checks.
func (n Names) Streams() []goka.Stream {
	return []goka.Stream{n.OrderCommands, n.OrderResults, n.StockFeed, n.ChannelStock,
		n.StockCommands, n.StockReplies, n.StockChanges, n.StockShortages, n.DLQ, n.SinkVerdicts, n.EngineMessages}
}

// Tables lists every table (compacted changelog) topic, the control topic
// included.
func (n Names) Tables() []goka.Table {
	return []goka.Table{n.InventoryTable(), n.OrdersTable(), n.ChannelsTable(), goka.Table(n.ChannelControl)}
}

// AtPartitions is n for the engine's generation with p partitions
// (docs/operations.md, "Growing the partitions"). A deployment grown by
// `stocksync admin repartition --to p` runs its engine in the group
// <prefix>engine.p<p>, whose table is <prefix>engine.p<p>-table; the
// first generation keeps <prefix>engine. Everything else keeps its name.
func (n Names) AtPartitions(p int32) Names {
	n.Engine = goka.Group(n.Prefix + "engine.p" + strconv.Itoa(int(p)))
	return n
}
