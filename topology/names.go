// Package topology names every stream, table and group of stocksync in one
// place and builds the topics they need. Names take a prefix (default
// "stocksync.") so several deployments can share a cluster.
package topology

import "github.com/lovoo/goka"

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
	ChannelControl goka.Stream // channels.control, key channel: its mode (auto | manual); compacted

	// Groups; each group's table is goka.GroupTable(group).
	Inventory goka.Group // key SKU
	Orders    goka.Group // key order_id
	Channels  goka.Group // key SKU: available-to-sell per channel
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
		Inventory:      goka.Group(prefix + "inventory"),
		Orders:         goka.Group(prefix + "orders"),
		Channels:       goka.Group(prefix + "channels"),
	}
}

// InventoryTable is the inventory group's table (its changelog topic).
func (n Names) InventoryTable() goka.Table { return goka.GroupTable(n.Inventory) }

// OrdersTable is the orders group's table (its changelog topic).
func (n Names) OrdersTable() goka.Table { return goka.GroupTable(n.Orders) }

// Sink is the group that pushes one channel's stock to its marketplace.
func (n Names) Sink(channel string) goka.Group { return goka.Group(n.Prefix + "sink." + channel) }

// SinkVerdicts is a sink group's feedback stream (key SKU): the pushers run
// outside goka's callbacks, so their verdicts come back through it to the
// single writer of each SKU. (goka's own "-loop" name is reserved for Loop.)
func (n Names) SinkVerdicts(channel string) goka.Stream {
	return goka.Stream(string(n.Sink(channel)) + ".verdicts")
}

// ChannelsTable is the channels group's table.
func (n Names) ChannelsTable() goka.Table { return goka.GroupTable(n.Channels) }

// SinkTable is a sink group's table: what was pushed and acknowledged per SKU.
func (n Names) SinkTable(channel string) goka.Table { return goka.GroupTable(n.Sink(channel)) }

// Streams lists every stream topic of a deployment with these channels, for
// creation and checks.
func (n Names) Streams(channels ...string) []goka.Stream {
	s := []goka.Stream{n.OrderCommands, n.OrderResults, n.StockFeed, n.ChannelStock,
		n.StockCommands, n.StockReplies, n.StockChanges, n.StockShortages, n.DLQ}
	for _, c := range channels {
		s = append(s, n.SinkVerdicts(c))
	}
	return s
}

// Tables lists every table (compacted changelog) topic, the control topic
// included.
func (n Names) Tables(channels ...string) []goka.Table {
	t := []goka.Table{n.InventoryTable(), n.OrdersTable(), n.ChannelsTable(), goka.Table(n.ChannelControl)}
	for _, c := range channels {
		t = append(t, n.SinkTable(c))
	}
	return t
}
