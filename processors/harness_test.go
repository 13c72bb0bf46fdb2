package processors

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stocksync/stocksync/stock"
	"github.com/stocksync/stocksync/topology"
)

// The processors are tested under goka's tester, driven by the data-driven
// files in testdata/: each file is a sequence of directives, every one
// followed by "----" and the output it must produce (up to a blank line).
// Run with -rewrite to regenerate the outputs, then read the diff: a
// regenerated file asserts nothing until a person has checked it.
//
// Directives:
//
//	consume <topic> <key>   the input lines are the value; prints every message
//	                        the processors emit because of it, per topic, in
//	                        this order: stock.commands, stock.replies,
//	                        stock.changes, stock.shortages, orders.results, dlq
//	advance <duration>      moves the clock; prints the new time
//	stock <sku>             the inventory table's ledger of the SKU
//	order <order_id>        the orders table's value as GET /v1/orders shows it
//	expiry-due              the orders the expiry sweeper would send an expire
//	                        command for now (it re-arms them 5s later)
//	metrics                 the non-zero stocksync counters and gauges
//
// Compact forms: a stock command prints as "type order_id qty=… [location=…]
// [channel=…]"; a change prints each location as on_hand/reserved/committed
// and available; a DLQ entry prints its source topic, offset and reason (its
// key and value are checked to be the message's own).
var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of the testdata files")

// start is the clock's time when a rig starts.
var start = time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)

// clock is a Now the test moves; processors read it from their goroutines.
type clock struct{ ms atomic.Int64 }

func (c *clock) Now() time.Time          { return time.UnixMilli(c.ms.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

func newClock() *clock {
	c := new(clock)
	c.ms.Store(start.UnixMilli())
	return c
}

// sendLog records the expire commands an Expiry sends.
type sendLog struct {
	mu   sync.Mutex
	ids  []string
	fail error // returned by send when set
}

func (s *sendLog) send(_ context.Context, orderID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, orderID)
	return s.fail
}

func (s *sendLog) sent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids)
}

func testCatalog() *stock.Catalog {
	return stock.NewCatalog([]string{"msk-1", "spb-1", "dark-1"}, []stock.ChannelRule{
		{Name: "web", Locations: []string{"msk-1", "spb-1"}, Share: 1},
		{Name: "ozon", Locations: []string{"dark-1"}, Share: 0.5, SafetyStock: 1},
	})
}

var quiet = slog.New(slog.DiscardHandler)

// nopLogger silences goka's own log lines.
type nopLogger struct{}

func (nopLogger) Print(...any)          {}
func (nopLogger) Println(...any)        {}
func (nopLogger) Printf(string, ...any) {}

// rig is one goka tester running the inventory and/or orders processor.
type rig struct {
	t       *testing.T
	tt      *tester.Tester
	names   topology.Names
	clock   *clock
	reg     *prometheus.Registry
	expiry  *Expiry
	sends   *sendLog
	outputs []goka.Stream
	tracks  map[goka.Stream]*tester.QueueTracker
}

// newRig starts the named processors ("inventory", "orders") in one tester
// and stops them when the test ends.
func newRig(t *testing.T, procs ...string) *rig {
	t.Helper()
	names := topology.New("")
	r := &rig{t: t, tt: tester.New(t), names: names, clock: newClock(), reg: prometheus.NewRegistry(), sends: new(sendLog),
		outputs: []goka.Stream{names.StockCommands, names.StockReplies, names.StockChanges, names.StockShortages, names.OrderResults, names.DLQ},
		tracks:  map[goka.Stream]*tester.QueueTracker{}}
	metrics := NewMetrics(r.reg)
	r.expiry = &Expiry{Send: r.sends.send, Interval: time.Hour, Metrics: metrics, Logger: quiet}
	for _, name := range procs {
		var (
			proc *goka.Processor
			err  error
		)
		switch name {
		case "inventory":
			proc, err = NewInventory(InventoryConfig{Names: names, Partitions: 1, Catalog: testCatalog(), Metrics: metrics, Logger: quiet, Now: r.clock.Now},
				goka.WithTester(r.tt), goka.WithLogger(nopLogger{}))
		case "orders":
			proc, err = NewOrders(OrdersConfig{Names: names, Partitions: 1, Catalog: testCatalog(), Metrics: metrics, Expiry: r.expiry, Logger: quiet, Now: r.clock.Now},
				goka.WithTester(r.tt), goka.WithLogger(nopLogger{}))
		default:
			t.Fatalf("no processor %q", name)
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- proc.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s processor stopped with: %v", name, err)
			}
		})
	}
	for _, s := range r.outputs {
		r.tracks[s] = r.tt.NewQueueTracker(string(s))
	}
	return r
}

func (r *rig) stream(short string) goka.Stream { return goka.Stream(r.names.Prefix + short) }

func (r *rig) short(s goka.Stream) string { return strings.TrimPrefix(string(s), r.names.Prefix) }

// consume puts value on topic under key, lets every processor catch up, and
// prints what they emitted.
func (r *rig) consume(topic, key string, value []byte) string {
	stream := r.stream(topic)
	own := int64(-1) // the consumed message itself, when it goes to a watched topic
	if tr, ok := r.tracks[stream]; ok {
		own = tr.Hwm()
	}
	r.tt.Consume(string(stream), key, value)
	var out []string
	for _, s := range r.outputs {
		tr := r.tracks[s]
		for {
			off := tr.NextOffset()
			k, v, ok := tr.NextRaw()
			if !ok {
				break
			}
			if s == stream && off == own {
				continue
			}
			out = append(out, r.format(s, k, v, stream, key, value))
		}
	}
	return strings.Join(out, "\n")
}

func (r *rig) format(s goka.Stream, key string, v []byte, inTopic goka.Stream, inKey string, inValue []byte) string {
	prefix := r.short(s) + " " + key + " "
	switch s {
	case r.names.StockCommands:
		var c stock.Command
		if err := json.Unmarshal(v, &c); err != nil {
			return prefix + "undecodable: " + string(v)
		}
		line := fmt.Sprintf("%s %s qty=%d", c.Type, c.OrderID, c.Qty)
		if c.Location != "" {
			line += " location=" + c.Location
		}
		if c.Channel != "" {
			line += " channel=" + c.Channel
		}
		if c.SKU != key {
			line += " sku=" + c.SKU + " (differs from the key)"
		}
		return prefix + line
	case r.names.StockChanges:
		var c stock.Change
		if err := json.Unmarshal(v, &c); err != nil {
			return prefix + "undecodable: " + string(v)
		}
		line := fmt.Sprintf("seq=%d cause=%s", c.Seq, c.Cause)
		for _, l := range c.Locations {
			line += fmt.Sprintf(" %s=%d/%d/%d(%d)", l.Location, l.OnHand, l.Reserved, l.Committed, l.Available)
		}
		return prefix + line
	case r.names.DLQ:
		var d DeadLetter
		if err := json.Unmarshal(v, &d); err != nil {
			return prefix + "undecodable: " + string(v)
		}
		if d.Topic != string(inTopic) || d.Key != inKey || d.Value != string(inValue) || d.At != r.clock.Now().Format(time.RFC3339Nano) {
			r.t.Errorf("dead letter %+v is not the message %s %s %q at %s", d, inTopic, inKey, inValue, r.clock.Now())
		}
		return prefix + fmt.Sprintf("%s#%d: %s", r.short(goka.Stream(d.Topic)), d.Offset, d.Reason)
	}
	return prefix + string(v)
}

// ledger reads the SKU's ledger from the inventory table.
func (r *rig) ledger(sku string) (stock.SKU, bool) {
	v, _ := r.tt.TableValue(r.names.InventoryTable(), sku).([]byte)
	if v == nil {
		return stock.SKU{}, false
	}
	s, err := stock.UnmarshalSKU(v)
	if err != nil {
		r.t.Fatalf("ledger of %s: %v", sku, err)
	}
	return s, true
}

func (r *rig) printLedger(sku string) string {
	s, ok := r.ledger(sku)
	if !ok {
		return "<none>"
	}
	out := []string{fmt.Sprintf("seq=%d", s.Seq)}
	for _, l := range s.Locations {
		line := fmt.Sprintf("%s on_hand=%d reserved=%d committed=%d available=%d", l.Name, l.OnHand, l.Reserved, l.Committed, l.Available())
		for _, v := range l.Versions {
			line += fmt.Sprintf(" %s@%d", v.Source, v.Version)
		}
		out = append(out, line)
	}
	for _, res := range s.Reservations {
		state := map[uint8]string{stock.Held: "held", stock.Committed: "committed"}[res.State]
		out = append(out, fmt.Sprintf("%s %s %d at %s until %s", res.OrderID, state, res.Qty, res.Location, time.UnixMilli(res.ExpiresAt).UTC().Format(time.TimeOnly)))
	}
	if len(s.Finished) > 0 {
		out = append(out, "finished "+strings.Join(s.Finished, " "))
	}
	if len(s.Adjusts) > 0 {
		out = append(out, "adjusts "+strings.Join(s.Adjusts, " "))
	}
	return strings.Join(out, "\n")
}

func (r *rig) printOrder(id string) string {
	v, _ := r.tt.TableValue(r.names.OrdersTable(), id).([]byte)
	if v == nil {
		return "<none>"
	}
	view, err := DecodeOrderView(v)
	if err != nil {
		r.t.Fatalf("order %s: %v", id, err)
	}
	b, err := json.Marshal(view)
	if err != nil {
		r.t.Fatal(err)
	}
	return string(b)
}

func (r *rig) printMetrics() string {
	families, err := r.reg.Gather()
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var v float64
			switch {
			case m.GetCounter() != nil:
				v = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				v = m.GetGauge().GetValue()
			default:
				continue // histograms time things; tests do not
			}
			if v == 0 {
				continue
			}
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			out = append(out, fmt.Sprintf("%s{%s} %g", f.GetName(), strings.Join(labels, ","), v))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// run executes one directive and returns its output.
func (r *rig) run(d *directive) string {
	switch d.cmd {
	case "consume":
		if len(d.args) != 2 {
			r.t.Fatalf("%s: consume <topic> <key>", d.pos)
		}
		return r.consume(d.args[0], d.args[1], []byte(d.input))
	case "advance":
		dur, err := time.ParseDuration(d.args[0])
		if err != nil {
			r.t.Fatalf("%s: %v", d.pos, err)
		}
		r.clock.advance(dur)
		return r.clock.Now().Format(time.RFC3339)
	case "stock":
		return r.printLedger(d.args[0])
	case "order":
		return r.printOrder(d.args[0])
	case "expiry-due":
		ids := r.expiry.popDue(r.clock.Now().UnixMilli())
		if len(ids) == 0 {
			return "<none>"
		}
		return strings.Join(ids, "\n")
	case "metrics":
		return r.printMetrics()
	}
	r.t.Fatalf("%s: unknown directive %q", d.pos, d.cmd)
	return ""
}
