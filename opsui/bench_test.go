package opsui

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/processors"
	"github.com/stocksync/stocksync/sinks"
)

// loadedRegistry is a registry as an engine's is during a flash sale: the
// processors', sinks', Go and process metrics with their label sets, lag
// of 3 groups × 2 topics × 12 partitions, and Orders with 10,000 SKUs ranked.
func loadedRegistry(b *testing.B) (*prometheus.Registry, *Orders) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, sm := processors.NewMetrics(reg), sinks.NewMetrics(reg)
	for _, typ := range []string{"reserve", "confirm", "release", "ship", "expire", "snapshot", "adjust"} {
		for _, out := range []string{"accepted", "rejected", "duplicate", "stale", "ignored"} {
			m.Commands.WithLabelValues(typ, out).Add(1000)
		}
	}
	for _, st := range []string{"reserved", "rejected"} {
		for i := range 1000 {
			m.ReserveLatency.WithLabelValues(st).Observe(float64(i) / 10000)
		}
	}
	for _, ch := range []string{"web", "ozon", "wildberries", "yandex"} {
		for _, out := range []string{"ok", "item_retry", "item_parked", "throttled", "unavailable", "rejected"} {
			sm.Pushes.WithLabelValues(ch, out).Add(100)
		}
		sm.Pending.WithLabelValues(ch).Set(10_000)
		for i := range 1000 {
			sm.E2E.WithLabelValues(ch).Observe(float64(i) / 1000)
		}
	}
	lag := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "stocksync_consumer_lag"}, []string{"group", "topic", "partition"})
	reg.MustRegister(lag)
	for _, g := range []string{"inventory", "orders", "channels"} {
		for _, tp := range []string{"a", "b"} {
			for p := range 12 {
				lag.WithLabelValues(g, tp, strconv.Itoa(p)).Set(5)
			}
		}
	}
	o, err := NewOrders(reg)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 20_000 {
		o.Observe(result(i))
	}
	return reg, o
}

func result(i int) contract.OrderResult {
	sku := fmt.Sprintf("SKU-%06d", i%100_000)
	if i%3 == 0 {
		return contract.OrderResult{OrderID: "o-" + strconv.Itoa(i), Type: contract.Reserve, Status: contract.StatusRejected,
			Error: &contract.Reason{Type: contract.ErrInsufficientStock, SKU: sku, Requested: 2}}
	}
	return contract.OrderResult{OrderID: "o-" + strconv.Itoa(i), Type: contract.Reserve, Status: contract.StatusReserved,
		Lines: []contract.Line{{SKU: sku, Qty: 2}}}
}

// BenchmarkSample is the recorder's work each second.
func BenchmarkSample(b *testing.B) {
	reg, _ := loadedRegistry(b)
	r := NewRecorder(reg, time.Second, time.Hour)
	t := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		t = t.Add(time.Second)
		r.Sample(t)
	}
}

// BenchmarkRefresh is what one open console's live tab asks each second,
// with a full hour recorded: the new sample as JSON, and every other second
// the top SKUs.
func BenchmarkRefresh(b *testing.B) {
	reg, o := loadedRegistry(b)
	r := NewRecorder(reg, time.Second, time.Hour)
	t := time.Now()
	for range 3600 {
		t = t.Add(time.Second)
		r.Sample(t)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := json.Marshal(r.Series(t.Add(-time.Second))); err != nil {
			b.Fatal(err)
		}
		if n++; n%2 == 0 {
			if _, err := json.Marshal(o.Top(10)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkObserve is the cost per answer read from orders.results.
func BenchmarkObserve(b *testing.B) {
	_, o := loadedRegistry(b)
	results := make([]contract.OrderResult, 100_000)
	for i := range results {
		results[i] = result(20_000 + i)
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		o.Observe(results[i%len(results)])
		i++
	}
}
