package fraud

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are anti-fraud's Prometheus metrics (listed in the package doc).
type Metrics struct {
	Events    *prometheus.CounterVec // topic, outcome
	RuleFired *prometheus.CounterVec // rule, entity_type
	Alerts    *prometheus.CounterVec // entity_type
	Labels    *prometheus.CounterVec // rule, label
}

func newMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stocksync_fraud_events_total",
			Help: "Returns, loyalty and sales events by topic and outcome (applied, duplicate, stale, invalid, rerouted)."},
			[]string{"topic", "outcome"}),
		RuleFired: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stocksync_fraud_rule_fired_total",
			Help: "Times each rule (or model) fired into an alert."}, []string{"rule", "entity_type"}),
		Alerts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stocksync_fraud_alerts_total",
			Help: "Alerts raised by entity type."}, []string{"entity_type"}),
		Labels: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stocksync_fraud_labels_total",
			Help: "Analysts' labels (fraud, legit) by rule of the labelled alert: each rule's precision."},
			[]string{"rule", "label"}),
	}
	for _, c := range []prometheus.Collector{m.Events, m.RuleFired, m.Alerts, m.Labels} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("fraud: register metrics: %w", err)
		}
	}
	return m, nil
}
