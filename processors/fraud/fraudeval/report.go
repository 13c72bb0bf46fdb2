package fraudeval

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/stocksync/stocksync/config"
)

// Report is the outcome of a run.
type Report struct {
	Broker         string
	Stream         StreamConfig
	Rate           float64 // events per second produced
	ProduceSeconds float64
	Events         int
	Alerts         int
	Patterns       []PatternResult
	// Latency of alerts, from the triggering event handed to the producer
	// to the alert read back, seconds: sorted, and its percentiles.
	Latencies          []float64
	P50, P99, MaxDelay float64
	// Sweep suggests, per rule, the loosest thresholds that keep its
	// pattern's precision at SweepPrecision (docs/fraud.md).
	Sweep []RuleSweep
}

// PatternResult is one pattern's precision and recall over entities: an
// entity counts as alerted for a pattern when a rule on one of the
// pattern's features fired on it.
type PatternResult struct {
	Pattern   Pattern
	Entities  int // injected
	Alerted   int // entities alerted by the pattern's rules
	True      int // of them, injected with this pattern
	Precision float64
	Recall    float64
}

// FeaturePattern is the pattern each feature's rules are there to catch.
var FeaturePattern = map[string]Pattern{
	config.FeatureReturnsCount: SerialReturner, config.FeatureReturnsAmount: SerialReturner,
	config.FeatureReturnsUnmatched: SerialReturner, config.FeatureReturnVelocity: SerialReturner,
	config.FeatureCashierShare: CashierRefunds, config.FeatureCashierVelocity: CashierRefunds,
	config.FeatureAccrualPoints: PointsFarming, config.FeatureRedeemAfterAccrual: PointsFarming,
	config.FeatureRedemptionPoints: AccountTakeover, config.FeatureRedemptionVelocity: AccountTakeover,
}

func report(s *Stream, alerts []received, sent map[string]time.Time, rec *recorder, f config.Fraud) *Report {
	r := &Report{Events: len(s.Events), Alerts: len(alerts)}
	flagged := map[Pattern]map[string]bool{}
	for _, a := range alerts {
		for _, reason := range a.Reasons {
			p := FeaturePattern[reason.Feature]
			if flagged[p] == nil {
				flagged[p] = map[string]bool{}
			}
			flagged[p][EntityKey(a.EntityType, a.EntityID)] = true
		}
		if n := len(a.EventIDs); n > 0 {
			if t, ok := sent[a.EventIDs[n-1]]; ok {
				r.Latencies = append(r.Latencies, a.At.Sub(t).Seconds())
			}
		}
	}
	slices.Sort(r.Latencies)
	r.P50, r.P99 = pct(r.Latencies, 0.50), pct(r.Latencies, 0.99)
	if n := len(r.Latencies); n > 0 {
		r.MaxDelay = r.Latencies[n-1]
	}
	for _, p := range Patterns {
		r.Patterns = append(r.Patterns, score(p, flagged[p], s.Truth))
	}
	r.Sweep = sweep(rec, s.Truth, f)
	return r
}

func score(p Pattern, flagged map[string]bool, truth map[string]Pattern) PatternResult {
	res := PatternResult{Pattern: p, Alerted: len(flagged)}
	for _, tp := range truth {
		if tp == p {
			res.Entities++
		}
	}
	for e := range flagged {
		if truth[e] == p {
			res.True++
		}
	}
	if res.Alerted > 0 {
		res.Precision = float64(res.True) / float64(res.Alerted)
	}
	if res.Entities > 0 {
		res.Recall = float64(res.True) / float64(res.Entities)
	}
	return res
}

func pct(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// Write prints the report as a table.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "fraud-eval on %s: %d customers, %d stores × %d cashiers, %d days, %d injected per pattern (seed %d)\n",
		r.Broker, r.Stream.Customers, r.Stream.Stores, r.Stream.Cashiers, r.Stream.Days, r.Stream.Fraud, r.Stream.Seed)
	fmt.Fprintf(w, "%d events at %.0f/s in %.1f s; %d alerts\n\n", r.Events, r.Rate, r.ProduceSeconds, r.Alerts)
	fmt.Fprintf(w, "%-18s %8s %8s %8s %10s %8s\n", "pattern", "injected", "alerted", "true", "precision", "recall")
	for _, p := range r.Patterns {
		fmt.Fprintf(w, "%-18s %8d %8d %8d %10.3f %8.3f\n", p.Pattern, p.Entities, p.Alerted, p.True, p.Precision, p.Recall)
	}
	fmt.Fprintf(w, "\nalert latency, event to alert: p50 %s  p99 %s  max %s  (%d alerts)\n",
		ms(r.P50), ms(r.P99), ms(r.MaxDelay), len(r.Latencies))
	if len(r.Sweep) > 0 {
		fmt.Fprintf(w, "\nthreshold sweep: settings with precision ≥ %.2f and the best recall for the rule's pattern, loosest .. strictest\n", SweepPrecision)
		fmt.Fprintf(w, "%-22s %-24s %-30s %-30s %7s %7s   %s\n", "rule", "feature", "loosest", "strictest", "prec", "recall", "configured now")
		for _, s := range r.Sweep {
			now := fmt.Sprintf("%s: %.3f %.3f", setting(s.Now), s.NowPrecision, s.NowRecall)
			if !s.Found {
				fmt.Fprintf(w, "%-22s %-24s %-30s %-30s %7s %7s   %s\n", s.Rule, s.Feature, "-", "-", "-", "-", now)
				continue
			}
			fmt.Fprintf(w, "%-22s %-24s %-30s %-30s %7.3f %7.3f   %s\n", s.Rule, s.Feature, setting(s.Loosest), setting(s.Strictest),
				s.Precision, s.Recall, now)
		}
	}
}

// setting is a rule's thresholds as "value≥V pz≥P oz≥O".
func setting(r config.FraudRule) string {
	return fmt.Sprintf("v≥%.4g pz≥%g oz≥%g", r.MinValue, r.PopulationZ, r.OwnZ)
}

func ms(s float64) string {
	if math.IsNaN(s) {
		return "n/a"
	}
	return fmt.Sprintf("%.0f ms", s*1000)
}

// Pass reports whether every pattern reaches the precision and recall
// asked, and which do not.
func (r *Report) Pass(precision, recall float64) (bool, string) {
	var bad []string
	for _, p := range r.Patterns {
		if p.Precision < precision || p.Recall < recall {
			bad = append(bad, fmt.Sprintf("%s: precision %.3f, recall %.3f", p.Pattern, p.Precision, p.Recall))
		}
	}
	return len(bad) == 0, strings.Join(bad, "; ")
}
