// Package sinks pushes each channel's available-to-sell to its marketplace.
// A Pusher per channel conflates updates per SKU (only the newest matters),
// pushes sell-outs and sharp drops before routine values and those before
// first values of SKUs the marketplace does not show yet (Config.Unordered
// turns that off), batches up to the marketplace's limit, respects its rate
// and parallelism limits, retries with exponential backoff and jitter (honouring
// Retry-After), opens a circuit while the marketplace is down, keeps at most
// one push per SKU in flight so an older value can never overtake a newer
// one, and reports every verdict back to the sink processor, the single
// writer of what each marketplace acknowledged. Modes switches pushers to
// manual and back as the channels.control topic says, on every instance.
//
// Metrics (registered on the registry the caller passes in):
//
//	stocksync_sink_pushes_total{channel,outcome}   requests and items: ok, item_retry, item_parked,
//	                                               throttled, unavailable, rejected
//	stocksync_sink_retries_total{channel}          updates scheduled again after a failure
//	stocksync_sink_pending{channel}                SKUs whose newest value is not yet acknowledged
//	stocksync_sink_circuit_open{channel}           1 while the circuit is open (marketplace down)
//	stocksync_sink_manual{channel}                 1 while the channel is in manual mode
//	stocksync_sink_dlq_total{channel}              updates parked in the DLQ
//	stocksync_sink_e2e_latency_seconds{channel}    stock change entering the engine → marketplace ack
//	stocksync_sink_first_latency_seconds{channel}  the same for a SKU's first value at the channel (a new
//	                                               listing, a catalogue's first sync), also counted in
//	                                               e2e: e2e − first is the changes of SKUs it shows
package sinks

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the sinks' metrics, labelled by channel.
type Metrics struct {
	Pushes  *prometheus.CounterVec
	Retries *prometheus.CounterVec
	Pending *prometheus.GaugeVec
	Circuit *prometheus.GaugeVec
	Manual  *prometheus.GaugeVec
	DLQ     *prometheus.CounterVec
	E2E     *prometheus.HistogramVec
	First   *prometheus.HistogramVec
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	ch := []string{"channel"}
	e2eBuckets := []float64{.005, .01, .025, .05, .075, .1, .15, .2, .25, .5, 1, 2.5, 5, 10, 30, 60}
	m := &Metrics{
		Pushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stocksync_sink_pushes_total",
			Help: "Marketplace requests and items by outcome."}, []string{"channel", "outcome"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stocksync_sink_retries_total",
			Help: "Updates scheduled again after a failure."}, ch),
		Pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "stocksync_sink_pending",
			Help: "SKUs whose newest value the marketplace has not acknowledged yet."}, ch),
		Circuit: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "stocksync_sink_circuit_open",
			Help: "1 while the circuit to the marketplace is open or half-open (probing)."}, ch),
		Manual: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "stocksync_sink_manual",
			Help: "1 while the channel is in manual mode (nothing pushed)."}, ch),
		DLQ: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stocksync_sink_dlq_total",
			Help: "Updates the marketplace kept refusing, parked in the DLQ."}, ch),
		E2E: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "stocksync_sink_e2e_latency_seconds",
			Help:    "From the command or feed message that changed stock to the marketplace's acknowledgement.",
			Buckets: e2eBuckets}, ch),
		// The same buckets as E2E, so that E2E − First is exact per bucket.
		First: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "stocksync_sink_first_latency_seconds",
			Help:    "Of stocksync_sink_e2e_latency_seconds, the SKUs' first values at the channel (a new listing, a catalogue's first sync).",
			Buckets: e2eBuckets}, ch),
	}
	reg.MustRegister(m.Pushes, m.Retries, m.Pending, m.Circuit, m.Manual, m.DLQ, m.E2E, m.First)
	return m
}

// ObserveAck records a value's change → acknowledgement in seconds; first
// says it was the SKU's first value the channel acknowledged.
func (m *Metrics) ObserveAck(channel string, first bool, seconds float64) {
	m.E2E.WithLabelValues(channel).Observe(seconds)
	if first {
		m.First.WithLabelValues(channel).Observe(seconds)
	}
}
