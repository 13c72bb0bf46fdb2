package processors

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stocksync/stocksync/topology"
)

// TestInventory runs testdata/inventory/*.txt: the inventory processor alone,
// fed on stock.feed and stock.commands (see harness_test.go for the format).
func TestInventory(t *testing.T) { runFiles(t, "testdata/inventory/*.txt") }

func TestNewInventoryRefusesAnIncompleteConfig(t *testing.T) {
	full := InventoryConfig{Names: topology.New(""), Partitions: 1, Catalog: testCatalog(), Metrics: NewMetrics(prometheus.NewRegistry())}
	tests := []struct {
		name   string
		change func(c *InventoryConfig)
	}{
		{"no partitions", func(c *InventoryConfig) { c.Partitions = 0 }},
		{"no catalog", func(c *InventoryConfig) { c.Catalog = nil }},
		{"no metrics", func(c *InventoryConfig) { c.Metrics = nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := full
			tc.change(&cfg)
			if p, err := NewInventory(cfg); err == nil || p != nil {
				t.Fatalf("NewInventory = %v, %v; want an error", p, err)
			}
		})
	}
}

// TestInventoryRefusesInvalidCommands: a stock command that is not what the
// orders processor sends is parked in the DLQ, never applied, and the next
// command goes through.
func TestInventoryRefusesInvalidCommands(t *testing.T) {
	tests := []struct {
		name  string
		value string
	}{
		{name: "reserve of a negative quantity", value: `{"type":"reserve","order_id":"o-1","sku":"A","qty":-5,"location":"msk-1"}`},
		{name: "reserve of zero units", value: `{"type":"reserve","order_id":"o-1","sku":"A","qty":0,"location":"msk-1"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, "inventory")
			r.consume("stock.feed", "A", []byte(`{"type":"snapshot","sku":"A","location":"msk-1","on_hand":10,"source":"erp","version":1}`))
			out := r.consume("stock.commands", "A", []byte(tc.value))
			if !strings.HasPrefix(out, "dlq A stock.commands#0: ") || strings.Contains(out, "\n") {
				t.Errorf("emitted:\n%s\nwant only a dead letter", out)
			}
			if got, want := r.printLedger("A"), "seq=1\nmsk-1 on_hand=10 reserved=0 committed=0 available=10 erp@1"; got != want {
				t.Errorf("ledger:\n%s\nwant\n%s", got, want)
			}
			out = r.consume("stock.commands", "A", []byte(`{"type":"reserve","order_id":"o-2","sku":"A","qty":1,"location":"msk-1"}`))
			if !strings.Contains(out, `stock.replies o-2 {"order_id":"o-2","sku":"A","ok":true`) {
				t.Errorf("the next command was not applied:\n%s", out)
			}
		})
	}
}
