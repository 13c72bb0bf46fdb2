package contract

import (
	"slices"
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
