package opsui

import (
	"container/heap"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stocksync/stocksync/contract"
)

// Orders learns from the order answers the engine hands it (the new
// engine: those its own loop decided, once committed; the goka engine:
// every answer on orders.results): units by operation, refusals by reason,
// the SKUs most in demand and most refused, and the recent answers of each
// order. Observe is the engines' OnResult hook; it is cheap (a lock and a
// few map updates per answer).
type Orders struct {
	units    *prometheus.CounterVec
	byStatus map[string]prometheus.Counter // units by answer status, looked up once
	refusals *prometheus.CounterVec
	topDesc  *prometheus.Desc

	mu      sync.Mutex
	demand  *topK
	refused *topK
	// recent and older hold the answers of each order: an order first
	// seen goes to recent, and once recent holds perGeneration orders the
	// older generation is dropped whole. Dropping one order at a time from
	// one map cost the engine 3 % of its CPU in the flash sale.
	recent, older map[string][]Event
	perGeneration int
	perOrder      int
}

// Event is one answer about an order, for its history.
type Event struct {
	At        string `json:"at"` // when this instance read it, RFC 3339 (kept as unix ms until asked)
	at        int64
	Type      string `json:"type"`
	Status    string `json:"status"`
	RequestID string `json:"request_id,omitempty"`
	Error     string `json:"error,omitempty"`
	ExpiresAt string `json:"expires_at,omitempty"`
}

const (
	historyOrders   = 25_000 // orders whose answers are kept at least (at most twice as many, about 10 MB)
	historyPerOrder = 8
	topKeys         = 10_000 // SKUs counted per ranking; the least counted are dropped past it
	topExported     = 10     // SKUs per ranking in stocksync_top_sku_units
)

// NewOrders registers the metrics of the package doc on reg.
func NewOrders(reg prometheus.Registerer) (*Orders, error) {
	o := &Orders{
		units: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stocksync_order_units_total",
			Help: "Units in order answers, by operation: reserved, committed (confirmed), released, expired, shipped."}, []string{"op"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stocksync_order_refusals_total",
			Help: "Reserves refused, by reason (insufficient_stock is an out-of-stock refusal)."}, []string{"reason"}),
		topDesc: prometheus.NewDesc("stocksync_top_sku_units",
			"Units asked for (kind=demand) or refused (kind=refused) of the 10 SKUs most so, since this instance started.",
			[]string{"kind", "sku"}, nil),
		demand: newTopK(topKeys), refused: newTopK(topKeys),
		recent: make(map[string][]Event, historyOrders), perGeneration: historyOrders, perOrder: historyPerOrder,
	}
	o.byStatus = map[string]prometheus.Counter{}
	for status, op := range unitOps {
		o.byStatus[status] = o.units.WithLabelValues(op)
	}
	o.refusals.WithLabelValues(contract.ErrInsufficientStock)
	for _, c := range []prometheus.Collector{o.units, o.refusals, o} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("opsui: register order metrics: %w", err)
		}
	}
	return o, nil
}

// unitOps names the units of an answer by its status.
var unitOps = map[string]string{
	contract.StatusReserved:  "reserved",
	contract.StatusConfirmed: "committed",
	contract.StatusReleased:  "released",
	contract.StatusExpired:   "expired",
	contract.StatusShipped:   "shipped",
}

// Observe records one answer.
func (o *Orders) Observe(res contract.OrderResult) {
	var units int64
	for _, l := range res.Lines {
		units += l.Qty
	}
	if c, ok := o.byStatus[res.Status]; ok && units > 0 {
		c.Add(float64(units))
	}
	refused := res.Type == contract.Reserve && res.Status == contract.StatusRejected && res.Error != nil
	if refused {
		o.refusals.WithLabelValues(res.Error.Type).Inc()
	}
	ev := Event{at: time.Now().UnixMilli(), Type: res.Type, Status: res.Status, RequestID: res.RequestID, ExpiresAt: res.ExpiresAt}
	if res.Error != nil {
		ev.Error = res.Error.Type
		if res.Error.Message != "" {
			ev.Error += ": " + res.Error.Message
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if res.Type == contract.Reserve {
		for _, l := range res.Lines {
			o.demand.add(l.SKU, float64(l.Qty))
		}
		if refused && res.Error.SKU != "" {
			o.refused.add(res.Error.SKU, float64(max(res.Error.Requested, 1)))
			if len(res.Lines) == 0 {
				o.demand.add(res.Error.SKU, float64(max(res.Error.Requested, 1)))
			}
		}
	}
	o.remember(res.OrderID, ev)
}

func (o *Orders) remember(id string, ev Event) {
	evs, ok := o.recent[id]
	if !ok {
		evs = o.older[id] // a copy stays there, shadowed, until the generation goes
		if len(o.recent) >= o.perGeneration {
			o.older, o.recent = o.recent, make(map[string][]Event, o.perGeneration)
		}
	}
	if len(evs) >= o.perOrder {
		evs = evs[1:]
	}
	o.recent[id] = append(evs, ev)
}

// History returns the answers this instance saw for an order, oldest
// first; nil when it saw none (before it started, decided by another
// instance on the new engine, or forgotten: it keeps the last 25,000
// orders).
func (o *Orders) History(orderID string) []Event {
	o.mu.Lock()
	defer o.mu.Unlock()
	evs, ok := o.recent[orderID]
	if !ok {
		evs = o.older[orderID]
	}
	out := append([]Event(nil), evs...)
	for i := range out {
		out[i].At = time.UnixMilli(out[i].at).UTC().Format(time.RFC3339Nano)
	}
	return out
}

// Top is the answer of GET /v1/ops/top.
type Top struct {
	Demand  []SKUCount `json:"demand"`  // units asked for in reserves
	Refused []SKUCount `json:"refused"` // units refused for lack of stock
}

// SKUCount is one SKU of a ranking.
type SKUCount struct {
	SKU   string  `json:"sku"`
	Units float64 `json:"units"`
}

// Top returns the n SKUs most asked for and most refused.
func (o *Orders) Top(n int) Top {
	o.mu.Lock()
	defer o.mu.Unlock()
	return Top{Demand: o.demand.top(n), Refused: o.refused.top(n)}
}

// Describe implements prometheus.Collector (the top-SKU gauges).
func (o *Orders) Describe(ch chan<- *prometheus.Desc) { ch <- o.topDesc }

// Collect implements prometheus.Collector.
func (o *Orders) Collect(ch chan<- prometheus.Metric) {
	t := o.Top(topExported)
	for kind, list := range map[string][]SKUCount{"demand": t.Demand, "refused": t.Refused} {
		for _, c := range list {
			ch <- prometheus.MustNewConstMetric(o.topDesc, prometheus.GaugeValue, c.Units, kind, c.SKU)
		}
	}
}

// topK counts keys, keeping at most max of them: past it, the less counted
// half is dropped (a key that comes back starts again from 0). Heavy
// hitters, which is what a top list shows, stay; the cost is amortized
// O(log n) per add.
type topK struct {
	max    int
	counts map[string]float64
}

func newTopK(max int) *topK { return &topK{max: max, counts: map[string]float64{}} }

func (t *topK) add(key string, n float64) {
	if len(t.counts) >= t.max {
		if _, ok := t.counts[key]; !ok {
			t.prune()
		}
	}
	t.counts[key] += n
}

func (t *topK) prune() {
	vs := make([]float64, 0, len(t.counts))
	for _, v := range t.counts {
		vs = append(vs, v)
	}
	sort.Float64s(vs)
	cut := vs[(len(vs)-1)/2] // the median: the less counted half goes (ties with it too)
	for k, v := range t.counts {
		if v <= cut {
			delete(t.counts, k)
		}
	}
}

// top returns the n largest counts, largest first (ties by key).
func (t *topK) top(n int) []SKUCount {
	h := &minHeap{}
	for k, v := range t.counts {
		switch {
		case h.Len() < n:
			heap.Push(h, SKUCount{k, v})
		case less((*h)[0], SKUCount{k, v}):
			(*h)[0] = SKUCount{k, v}
			heap.Fix(h, 0)
		}
	}
	out := make([]SKUCount, h.Len())
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(h).(SKUCount)
	}
	return out
}

// less orders by units, then by SKU descending so that ties list A before B.
func less(a, b SKUCount) bool {
	if a.Units != b.Units {
		return a.Units < b.Units
	}
	return a.SKU > b.SKU
}

type minHeap []SKUCount

func (h minHeap) Len() int           { return len(h) }
func (h minHeap) Less(i, j int) bool { return less(h[i], h[j]) }
func (h minHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *minHeap) Push(x any)        { *h = append(*h, x.(SKUCount)) }
func (h *minHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
