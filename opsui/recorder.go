package opsui

import (
	"context"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/stocksync/stocksync/contract"
)

// Recorder samples the instance's own registry every second into a ring
// holding the last hour, so the console's charts survive a page reload and
// need no Prometheus. Each sample is one value per series key ("orders/
// reserved", "ack_p99/ozon", …; see derive): counters as rates per second
// over the last step, gauges as they are, latency quantiles over the last
// 10 s of a histogram.
type Recorder struct {
	g      prometheus.Gatherer
	step   time.Duration
	window int // samples kept

	mu    sync.Mutex
	index map[string]int // series key → column
	keys  []string
	times []int64     // ring of unix ms
	rows  [][]float64 // ring of samples; a row is as long as keys was when it was taken
	head  int         // next slot
	n     int         // samples held

	prevAt   time.Time
	prev     map[string]float64   // counters at the last tick
	hist     map[string][]buckets // per histogram key: the last quantileWindow snapshots
	lastCost time.Duration
}

// buckets is a histogram's cumulative counts by upper bound.
type buckets struct {
	upper []float64
	count []float64
}

const quantileWindow = 10 // samples a quantile looks back over

// NewRecorder samples g every step (default 1s) and keeps window (default 1h).
func NewRecorder(g prometheus.Gatherer, step, window time.Duration) *Recorder {
	if step <= 0 {
		step = time.Second
	}
	if window <= 0 {
		window = time.Hour
	}
	n := int(window / step)
	return &Recorder{g: g, step: step, window: n, index: map[string]int{}, times: make([]int64, n), rows: make([][]float64, n),
		prev: map[string]float64{}, hist: map[string][]buckets{}}
}

// Run samples until ctx ends.
func (r *Recorder) Run(ctx context.Context) {
	t := time.NewTicker(r.step)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r.Sample(now)
		}
	}
}

// Sample takes one sample at now.
func (r *Recorder) Sample(now time.Time) {
	begin := time.Now()
	mfs, _ := r.g.Gather() // a failing collector still leaves the others' values
	counters, gauges, hists := derive(mfs)
	r.mu.Lock()
	defer r.mu.Unlock()
	dt := now.Sub(r.prevAt).Seconds()
	vals := map[string]float64{}
	for k, v := range counters {
		// A counter first seen after the first sample was created since,
		// at 0: all of its value is new.
		if p := r.prev[k]; !r.prevAt.IsZero() && dt > 0 {
			vals[k] = max(v-p, 0) / dt // a reset (restart of a part) reads as 0, not negative
		}
	}
	r.prev, r.prevAt = counters, now
	for k, v := range gauges {
		vals[k] = v
	}
	for k, b := range hists {
		snaps := append(r.hist[k], b)
		if len(snaps) > quantileWindow+1 {
			snaps = snaps[1:]
		}
		r.hist[k] = snaps
		vals["ack_p50/"+k] = quantile(0.5, snaps[0], b) * 1000 // ms
		vals["ack_p99/"+k] = quantile(0.99, snaps[0], b) * 1000
	}
	for k := range vals {
		if _, ok := r.index[k]; !ok {
			r.index[k] = len(r.keys)
			r.keys = append(r.keys, k)
		}
	}
	row := make([]float64, len(r.keys))
	for i := range row {
		row[i] = math.NaN()
	}
	for k, v := range vals {
		row[r.index[k]] = v
	}
	r.times[r.head], r.rows[r.head] = now.UnixMilli(), row
	r.head = (r.head + 1) % r.window
	r.n = min(r.n+1, r.window)
	r.lastCost = time.Since(begin)
}

// Series is the answer of GET /v1/ops/series: the samples newer than the
// asked time, one array per series key aligned with T.
type Series struct {
	StepMS int64             `json:"step_ms"`
	T      []int64           `json:"t"` // unix ms
	Values map[string]Floats `json:"values"`
	// SampleMicros is what the last sample cost this instance, for the
	// console's own footprint.
	SampleMicros int64 `json:"sample_us"`
}

// Series returns the samples taken after since (all of the window for the zero time).
func (r *Recorder) Series(since time.Time) Series {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := Series{StepMS: r.step.Milliseconds(), T: []int64{}, Values: map[string]Floats{}, SampleMicros: r.lastCost.Microseconds()}
	start := (r.head - r.n + r.window) % r.window
	var idx []int
	for i := range r.n {
		slot := (start + i) % r.window
		if r.times[slot] > since.UnixMilli() {
			idx = append(idx, slot)
		}
	}
	for _, slot := range idx {
		out.T = append(out.T, r.times[slot])
	}
	for k, col := range r.index {
		vs := make(Floats, len(idx))
		for i, slot := range idx {
			row := r.rows[slot]
			vs[i] = math.NaN()
			if col < len(row) {
				vs[i] = row[col]
			}
		}
		out.Values[k] = vs
	}
	return out
}

// Floats encode NaN (no value at that time) as null, with 4 significant digits.
type Floats []float64

// MarshalJSON implements json.Marshaler.
func (f Floats) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 8*len(f)+2)
	b = append(b, '[')
	for i, v := range f {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, v, 'g', 4, 64)
	}
	return append(b, ']'), nil
}

// orderOutcomes names the order series of stocksync_commands_total by
// command type and outcome: the status the orders went to.
var orderOutcomes = map[[2]string]string{
	{contract.Reserve, "accepted"}: contract.StatusReserved,
	{contract.Reserve, "rejected"}: contract.StatusRejected,
	{contract.Expire, "accepted"}:  contract.StatusExpired,
	{contract.Confirm, "accepted"}: contract.StatusConfirmed,
	{contract.Release, "accepted"}: contract.StatusReleased,
	{contract.Ship, "accepted"}:    contract.StatusShipped,
}

// derive reads the metrics the console charts out of a gather: counters
// (cumulative, turned into rates), gauges, and histograms by channel.
func derive(mfs []*dto.MetricFamily) (counters, gauges map[string]float64, hists map[string]buckets) {
	counters, gauges, hists = map[string]float64{}, map[string]float64{}, map[string]buckets{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			l := labels(m)
			c := m.GetCounter().GetValue()
			switch mf.GetName() {
			case "stocksync_commands_total":
				if name, ok := orderOutcomes[[2]string{l["type"], l["outcome"]}]; ok {
					counters["orders/"+name] += c
				}
			case "stocksync_order_refusals_total":
				counters["refusals/"+l["reason"]] += c
			case "stocksync_order_units_total":
				counters["units/"+l["op"]] += c
			case "stocksync_sink_pushes_total":
				switch l["outcome"] {
				case "ok":
					counters["pushes/"+l["channel"]] += c
				case "throttled":
					counters["throttled/"+l["channel"]] += c
				}
			case "stocksync_sink_pending":
				gauges["pending/"+l["channel"]] += m.GetGauge().GetValue()
			case "stocksync_fraud_alerts_total":
				counters["fraud/alerts"] += c
			case "stocksync_dlq_total", "stocksync_sink_dlq_total":
				counters["dlq/all"] += c
			case "stocksync_consumer_lag":
				gauges["lag/"+l["group"]] += m.GetGauge().GetValue()
			case "stocksync_rebalances_total":
				gauges["rebalances/"+l["group"]] += c
			case "process_cpu_seconds_total":
				counters["cpu/process"] += c * 100 // percent of one core
			case "stocksync_sink_e2e_latency_seconds":
				h := m.GetHistogram()
				b := hists[l["channel"]]
				bs := h.GetBucket()
				for i := range len(bs) + 1 {
					upper, count := math.Inf(1), float64(h.GetSampleCount()) // the implicit +Inf bucket
					if i < len(bs) {
						upper, count = bs[i].GetUpperBound(), float64(bs[i].GetCumulativeCount())
					}
					if i >= len(b.upper) {
						b.upper = append(b.upper, upper)
						b.count = append(b.count, 0)
					}
					b.count[i] += count
				}
				hists[l["channel"]] = b
			}
		}
	}
	return counters, gauges, hists
}

func labels(m *dto.Metric) map[string]string {
	out := make(map[string]string, len(m.GetLabel()))
	for _, p := range m.GetLabel() {
		out[p.GetName()] = p.GetValue()
	}
	return out
}

// quantile is histogram_quantile over the increase from old to cur: linear
// within the bucket, NaN without observations.
func quantile(q float64, old, cur buckets) float64 {
	n := len(cur.count)
	if n == 0 {
		return math.NaN()
	}
	inc := make([]float64, n)
	for i := range n {
		inc[i] = cur.count[i]
		if i < len(old.count) {
			inc[i] -= old.count[i]
		}
	}
	total := inc[n-1]
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	i := sort.Search(n, func(i int) bool { return inc[i] >= rank })
	if i >= n {
		return cur.upper[n-1]
	}
	lo, below := 0.0, 0.0
	if i > 0 {
		lo, below = cur.upper[i-1], inc[i-1]
	}
	hi := cur.upper[i]
	if math.IsInf(hi, 1) {
		return lo // past the last bound: the bound is all a histogram can say
	}
	if inc[i] == below {
		return hi
	}
	return lo + (hi-lo)*(rank-below)/(inc[i]-below)
}
