package processors

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stocksync/stocksync/topology"
)

// TestOrders runs testdata/orders/*.txt: mostly the inventory and the orders
// processor in one tester, so the whole saga runs (see harness_test.go).
func TestOrders(t *testing.T) { runFiles(t, "testdata/orders/*.txt") }

func TestNewOrdersRefusesAnIncompleteConfig(t *testing.T) {
	metrics := NewMetrics(prometheus.NewRegistry())
	full := OrdersConfig{Names: topology.New(""), Partitions: 1, Catalog: testCatalog(), Metrics: metrics,
		Expiry: &Expiry{Send: new(sendLog).send, Metrics: metrics, Logger: quiet}}
	tests := []struct {
		name   string
		change func(c *OrdersConfig)
	}{
		{"no partitions", func(c *OrdersConfig) { c.Partitions = 0 }},
		{"no catalog", func(c *OrdersConfig) { c.Catalog = nil }},
		{"no metrics", func(c *OrdersConfig) { c.Metrics = nil }},
		{"no expiry", func(c *OrdersConfig) { c.Expiry = nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := full
			tc.change(&cfg)
			if p, err := NewOrders(cfg); err == nil || p != nil {
				t.Fatalf("NewOrders = %v, %v; want an error", p, err)
			}
		})
	}
}

// TestRejectedLineRedeliveredLater: a reserve line refused for lack of stock
// is delivered again after stock arrived (a crash replay of the orders
// processor's fan-out, or a client retry while the order was pending). The
// order was rejected, so that line must end up holding nothing: every
// reservation ends (DESIGN.md invariant 4).
func TestRejectedLineRedeliveredLater(t *testing.T) {
	r := newRig(t, "inventory", "orders")
	r.consume("stock.feed", "A", []byte(`{"type":"snapshot","sku":"A","location":"msk-1","on_hand":10,"source":"erp","version":1}`))
	r.consume("stock.feed", "B", []byte(`{"type":"snapshot","sku":"B","location":"msk-1","on_hand":1,"source":"erp","version":1}`))
	out := r.consume("orders.commands", "o-1", []byte(`{"type":"reserve","order_id":"o-1","lines":[{"sku":"A","qty":2},{"sku":"B","qty":5}]}`))
	if !strings.Contains(out, `"status":"rejected"`) {
		t.Fatalf("setup: the reserve was not rejected:\n%s", out)
	}
	r.consume("stock.feed", "B", []byte(`{"type":"snapshot","sku":"B","location":"msk-1","on_hand":10,"source":"erp","version":2}`))
	r.consume("stock.commands", "B", []byte(`{"type":"reserve","order_id":"o-1","sku":"B","qty":5,"expires_at":1735722900000}`))

	if s, _ := r.ledger("B"); s.Reservation("o-1") != nil || s.Locations[0].Reserved != 0 {
		t.Errorf("B holds units for rejected order o-1:\n%s\norder: %s\nsweeper due in a day: %v",
			r.printLedger("B"), r.printOrder("o-1"), r.expiry.popDue(r.clock.Now().Add(24*time.Hour).UnixMilli()))
	}
}
