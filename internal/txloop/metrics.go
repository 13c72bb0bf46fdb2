package txloop

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics say how large the cycles are and what their transactions cost:
// the broker's work grows with transactions and the partitions each
// touches, not with records, so records per cycle is the figure to watch.
type Metrics struct {
	cycles  *prometheus.CounterVec
	inputs  prometheus.Histogram
	records prometheus.Histogram
	commit  prometheus.Histogram
}

// NewMetrics registers the loop's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		cycles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stocksync_engine_cycles_total",
			Help: "Transactions of the engine's loop, by outcome (committed, aborted)."}, []string{"outcome"}),
		inputs: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "stocksync_engine_cycle_inputs",
			Help: "Input records decided per committed cycle.", Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
		records: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "stocksync_engine_cycle_records",
			Help: "Records written per committed cycle (outputs and changelog).", Buckets: prometheus.ExponentialBuckets(1, 2, 16)}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "stocksync_engine_cycle_commit_seconds",
			Help: "From a cycle's begin to its transaction's end: produce, flush and commit.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
	}
	reg.MustRegister(m.cycles, m.inputs, m.records, m.commit)
	return m
}

func (m *Metrics) observe(committed bool, inputs, outputs, writes int, took time.Duration) {
	if m == nil {
		return
	}
	if !committed {
		m.cycles.WithLabelValues("aborted").Inc()
		return
	}
	m.cycles.WithLabelValues("committed").Inc()
	m.inputs.Observe(float64(inputs))
	m.records.Observe(float64(outputs + writes))
	m.commit.Observe(took.Seconds())
}
