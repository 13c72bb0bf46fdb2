// Package processors holds stocksync's goka processors: inventory (key SKU),
// the single writer of every SKU's ledger; orders (key order_id), the saga of
// multi-line orders; and the expiry sweeper that ends reservations past their
// TTL through the same single-writer path.
//
// Metrics (registered on the registry the caller passes in):
//
//	stocksync_commands_total{type,outcome}        commands and feed messages by type
//	                                              (reserve, confirm, release, ship, expire,
//	                                              snapshot, adjust) and outcome (accepted,
//	                                              rejected, duplicate, stale, ignored)
//	stocksync_reserve_latency_seconds{status}     order command produced → reserve answer emitted
//	stocksync_shortages_total{location}           snapshots or adjusts that left a location
//	                                              holding less than it promised
//	stocksync_rerouted_total{topic}               messages that arrived on a partition their
//	                                              key does not hash to, re-sent to the right one
//	stocksync_dlq_total{topic}                    messages parked in the DLQ (undecodable or invalid)
//	stocksync_expiries_total                      expire commands sent by the sweeper
//	stocksync_reservations_tracked                reservations the sweeper watches for expiry
package processors

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the processors' business metrics.
type Metrics struct {
	Commands       *prometheus.CounterVec
	ReserveLatency *prometheus.HistogramVec
	Shortages      *prometheus.CounterVec
	Rerouted       *prometheus.CounterVec
	DLQ            *prometheus.CounterVec
	Expiries       prometheus.Counter
	Tracked        prometheus.Gauge
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stocksync_commands_total", Help: "Commands and feed messages processed, by type and outcome.",
		}, []string{"type", "outcome"}),
		ReserveLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "stocksync_reserve_latency_seconds",
			Help:    "From the order command's produce time to the reserve answer, by status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .075, .1, .15, .25, .5, 1, 2.5, 5},
		}, []string{"status"}),
		Shortages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stocksync_shortages_total", Help: "Snapshots or adjusts that left a location holding less than it promised.",
		}, []string{"location"}),
		Rerouted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stocksync_rerouted_total", Help: "Messages that arrived on the wrong partition for their key and were re-sent.",
		}, []string{"topic"}),
		DLQ: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stocksync_dlq_total", Help: "Messages parked in the DLQ because they could not be decoded or were invalid.",
		}, []string{"topic"}),
		Expiries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stocksync_expiries_total", Help: "Expire commands sent by the sweeper for reservations past their TTL.",
		}),
		Tracked: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "stocksync_reservations_tracked", Help: "Reservations the expiry sweeper watches.",
		}),
	}
	reg.MustRegister(m.Commands, m.ReserveLatency, m.Shortages, m.Rerouted, m.DLQ, m.Expiries, m.Tracked)
	return m
}
