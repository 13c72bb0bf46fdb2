package contract

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// A valid command is checked twice on its way (by the client, by the
// engine), so the check allocates nothing.
func TestValidateAllocatesNothingForAValidReserve(t *testing.T) {
	lines := []Line{{SKU: "milk", Qty: 1, Location: "dc-1"}, {SKU: "bread", Qty: 2}, {SKU: "tea", Qty: 3}}
	allocs := testing.AllocsPerRun(100, func() {
		c := OrderCommand{Type: Reserve, OrderID: "o-1", Lines: lines, Channel: "web", TTLS: 60, RequestID: "r-1"}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Validate allocated %.0f times for a valid reserve", allocs)
	}
	c := OrderCommand{Type: Reserve, OrderID: "o-1", Lines: append(slices.Clone(lines), Line{SKU: "bread", Qty: 1})}
	if err := c.Validate(); err == nil || err.Error() != `contract: invalid lines[3].sku: "bread" appears twice; put its quantity on one line` {
		t.Errorf("a repeated SKU: %v", err)
	}
	c = OrderCommand{Type: Reserve, OrderID: "o-1", Lines: []Line{{SKU: "milk", Qty: 1}, {SKU: "", Qty: 1}}}
	if err := c.Validate(); err == nil || err.Error() != `contract: invalid lines[1].sku: must not be empty` {
		t.Errorf("an empty SKU: %v", err)
	}
}

// TestKeptIdsDoNotKeepTheirCommands: the engine keeps an order's id for a
// day (retention, reservations, the console's history), and a decoded id
// must not hold the whole message in memory with it.
func TestKeptIdsDoNotKeepTheirCommands(t *testing.T) {
	const n, padding = 5_000, 8 << 10
	kept := make([]string, 0, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		msg := fmt.Sprintf(`{"type":"reserve","order_id":"o-%d","request_id":"r-%d","lines":[{"sku":"milk","qty":1}]%s}`, i, i, strings.Repeat(" ", padding))
		c, err := DecodeOrderCommand([]byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, c.OrderID, c.RequestID)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if limit := int64(n * padding / 4); grown > limit { // kept whole, the messages take n × padding
		t.Errorf("keeping %d decoded ids grew the heap by %d MB (the messages were %d MB)", len(kept), grown>>20, n*padding>>20)
	}
	runtime.KeepAlive(kept)
}
