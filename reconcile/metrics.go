package reconcile

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are listed in the package doc.
type metrics struct {
	driftRate, rows, units, fixed, reported, open, last prometheus.Gauge
	runs                                                *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	m := &metrics{
		driftRate: g("stocksync_reconcile_drift_rate", "Share of the compared rows that drifted in the newest finished reconciliation."),
		rows:      g("stocksync_reconcile_rows", "Rows (SKU-locations) the newest finished reconciliation looked at."),
		units:     g("stocksync_reconcile_drifted_units", "Units of drift (sum of |drift|) in the newest finished reconciliation."),
		fixed:     g("stocksync_reconcile_fixed", "Drifts the newest finished reconciliation fixed as adjusts."),
		reported:  g("stocksync_reconcile_reported", "Drifts the newest finished reconciliation reported to an operator."),
		open:      g("stocksync_reconcile_open", "Reported rows not yet applied or dismissed, over the runs kept."),
		last:      g("stocksync_reconcile_last_run_timestamp_seconds", "When the newest finished reconciliation ended (Unix seconds)."),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stocksync_reconcile_runs_total",
			Help: "Reconciliations this instance ended, by status (done, failed)."}, []string{"status"}),
	}
	for _, c := range []prometheus.Collector{m.driftRate, m.rows, m.units, m.fixed, m.reported, m.open, m.last, m.runs} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("reconcile: register metrics: %w", err)
		}
	}
	for _, st := range []string{Done, Failed} {
		m.runs.WithLabelValues(st)
	}
	return m, nil
}

// show sets the gauges from the runs kept, newest first.
func (m *metrics) show(runs []*Run) {
	var open int64
	shown := false
	for _, r := range runs {
		open += r.Open
		if shown || r.Status != Done || r.FinishedAt == nil {
			continue
		}
		shown = true
		m.driftRate.Set(r.DriftRate)
		m.rows.Set(float64(r.Rows))
		m.units.Set(float64(r.DriftedUnits))
		m.fixed.Set(float64(r.FixedN))
		m.reported.Set(float64(r.ReportedN))
		m.last.Set(float64(r.FinishedAt.Unix()))
	}
	m.open.Set(float64(open))
}
