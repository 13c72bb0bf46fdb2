package opsui

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestRecorderSeries feeds a registry like the engine's and reads what the
// console's charts would show.
func TestRecorderSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	commands := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stocksync_commands_total"}, []string{"type", "outcome"})
	pending := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "stocksync_sink_pending"}, []string{"channel"})
	e2e := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "stocksync_sink_e2e_latency_seconds",
		Buckets: []float64{.1, .2, .5, 1}}, []string{"channel"})
	reg.MustRegister(commands, pending, e2e)
	r := NewRecorder(reg, time.Second, 3*time.Second) // a window of 3 samples
	t0 := time.UnixMilli(1_000_000)

	r.Sample(t0)
	commands.WithLabelValues("reserve", "accepted").Add(50)
	commands.WithLabelValues("reserve", "rejected").Add(10)
	commands.WithLabelValues("confirm", "duplicate").Add(99) // not an outcome the console charts
	pending.WithLabelValues("ozon").Set(7)
	for range 98 {
		e2e.WithLabelValues("ozon").Observe(.15)
	}
	e2e.WithLabelValues("ozon").Observe(.9)
	e2e.WithLabelValues("ozon").Observe(.9)
	r.Sample(t0.Add(2 * time.Second))

	s := r.Series(time.Time{})
	if len(s.T) != 2 || s.T[1] != t0.Add(2*time.Second).UnixMilli() {
		t.Fatalf("times = %v, want the two samples", s.T)
	}
	for _, c := range []struct {
		key  string
		want float64
	}{
		{"orders/reserved", 25}, // 50 in 2 s
		{"orders/rejected", 5},
		{"pending/ozon", 7},
		{"ack_p50/ozon", 150}, // ms, within the .1–.2 bucket
		{"ack_p99/ozon", 750}, // within the .5–1 bucket
	} {
		got := s.Values[c.key]
		if len(got) != 2 || math.Abs(got[1]-c.want) > c.want*0.05 {
			t.Errorf("%s = %v, want %g at the second sample", c.key, got, c.want)
		}
	}
	if _, ok := s.Values["orders/duplicate"]; ok {
		t.Error("duplicates are charted; want only the outcomes of the order chart")
	}
	if v := s.Values["orders/reserved"][0]; !math.IsNaN(v) {
		t.Errorf("the first sample has a rate %g; want none (no earlier sample to take it from)", v)
	}

	// Newer than a time: only the later samples. Past the window: the oldest goes.
	if s := r.Series(t0); len(s.T) != 1 {
		t.Errorf("series since the first sample has %d samples, want 1", len(s.T))
	}
	r.Sample(t0.Add(3 * time.Second))
	r.Sample(t0.Add(4 * time.Second))
	if s := r.Series(time.Time{}); len(s.T) != 3 || s.T[0] != t0.Add(2*time.Second).UnixMilli() {
		t.Errorf("after 4 samples in a window of 3, times = %v", s.T)
	}

	body, err := json.Marshal(Floats{1, math.NaN(), 1234.5678})
	if err != nil || string(body) != "[1,null,1235]" {
		t.Errorf("Floats encode as %s (%v), want [1,null,1235]", body, err)
	}
}

func TestTopK(t *testing.T) {
	k := newTopK(4)
	for i, sku := range []string{"A", "B", "C", "D"} {
		k.add(sku, float64(10*(i+1))) // A 10, B 20, C 30, D 40
	}
	k.add("E", 5) // full: the less counted half (A, B) goes
	k.add("D", 1)
	got := k.top(3)
	want := []SKUCount{{"D", 41}, {"C", 30}, {"E", 5}}
	if len(got) != len(want) {
		t.Fatalf("top 3 = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("top 3 = %v, want %v", got, want)
		}
	}
	if len(k.counts) > 4 {
		t.Errorf("the tracker holds %d keys, more than its bound 4", len(k.counts))
	}
}
