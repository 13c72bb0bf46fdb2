package opsui

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stocksync/stocksync/contract"
)

func TestOrdersObserve(t *testing.T) {
	reg := prometheus.NewRegistry()
	o, err := NewOrders(reg)
	if err != nil {
		t.Fatal(err)
	}
	avail := int64(1)
	for _, res := range []contract.OrderResult{
		{OrderID: "o-1", Type: contract.Reserve, Status: contract.StatusReserved, Lines: []contract.Line{{SKU: "A", Qty: 3}, {SKU: "B", Qty: 1}}},
		{OrderID: "o-1", Type: contract.Confirm, Status: contract.StatusConfirmed, Lines: []contract.Line{{SKU: "A", Qty: 3}, {SKU: "B", Qty: 1}}},
		{OrderID: "o-2", Type: contract.Reserve, Status: contract.StatusRejected,
			Error: &contract.Reason{Type: contract.ErrInsufficientStock, SKU: "B", Requested: 5, Available: &avail}},
		{OrderID: "o-3", Type: contract.Reserve, Status: contract.StatusRejected, Error: &contract.Reason{Type: contract.ErrConflict}},
	} {
		o.Observe(res)
	}
	for _, c := range []struct {
		m    prometheus.Collector
		want float64
	}{
		{o.units.WithLabelValues("reserved"), 4},
		{o.units.WithLabelValues("committed"), 4},
		{o.refusals.WithLabelValues(contract.ErrInsufficientStock), 1},
		{o.refusals.WithLabelValues(contract.ErrConflict), 1},
	} {
		if got := testutil.ToFloat64(c.m); got != c.want {
			t.Errorf("%v = %g, want %g", c.m, got, c.want)
		}
	}
	top := o.Top(10)
	if len(top.Demand) != 2 || top.Demand[0] != (SKUCount{"B", 6}) || top.Demand[1] != (SKUCount{"A", 3}) {
		t.Errorf("demand = %v, want B 6 (1 reserved, 5 refused), A 3", top.Demand)
	}
	if len(top.Refused) != 1 || top.Refused[0] != (SKUCount{"B", 5}) {
		t.Errorf("refused = %v, want B 5", top.Refused)
	}
	h := o.History("o-1")
	if len(h) != 2 || h[0].Type != contract.Reserve || h[1].Status != contract.StatusConfirmed {
		t.Errorf("history of o-1 = %+v, want its reserve then its confirm", h)
	}
	if h := o.History("o-2"); len(h) != 1 || !strings.HasPrefix(h[0].Error, contract.ErrInsufficientStock) {
		t.Errorf("history of o-2 = %+v, want the refusal with its reason", h)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP stocksync_top_sku_units Units asked for (kind=demand) or refused (kind=refused) of the 10 SKUs most so, since this instance started.
# TYPE stocksync_top_sku_units gauge
stocksync_top_sku_units{kind="demand",sku="A"} 3
stocksync_top_sku_units{kind="demand",sku="B"} 6
stocksync_top_sku_units{kind="refused",sku="B"} 5
`), "stocksync_top_sku_units"); err != nil {
		t.Error(err)
	}
}

// TestOrdersHistoryIsBounded: past its bound the oldest order is forgotten.
func TestOrdersHistoryIsBounded(t *testing.T) {
	o, err := NewOrders(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	o.perGeneration = 1 // a generation of 1 order: at least the last one is kept, at most the last 2
	for _, id := range []string{"o-1", "o-2", "o-3"} {
		o.Observe(contract.OrderResult{OrderID: id, Type: contract.Reserve, Status: contract.StatusReserved})
	}
	if o.History("o-1") != nil || o.History("o-2") == nil || o.History("o-3") == nil || len(o.recent)+len(o.older) != 2 {
		t.Errorf("with room for 2 orders after 3: o-1 %v, o-2 %v, o-3 %v", o.History("o-1"), o.History("o-2"), o.History("o-3"))
	}
}
