package fraudeval

import (
	"slices"

	"github.com/stocksync/stocksync/config"
)

// SweepPrecision is the precision the sweep keeps while it loosens a rule:
// above the 0.9, so a stream with other seeds keeps 0.9.
const SweepPrecision = 0.95

// RuleSweep is the sweep's suggestion for one rule: among the settings
// with precision ≥ SweepPrecision, those of the highest recall, from the
// loosest to the strictest. Thresholds between the two keep both.
type RuleSweep struct {
	Rule, Feature      string
	Found              bool // a setting reached SweepPrecision
	Loosest, Strictest config.FraudRule
	Precision, Recall  float64          // of the loosest
	Now                config.FraudRule // as configured
	NowPrecision       float64
	NowRecall          float64
}

// sweep tries, for each configured rule, min_value at the quantiles of the
// feature's observed values × population_z × own_z, and keeps the setting
// with the highest recall of the rule's pattern among those with precision
// ≥ SweepPrecision, and among those the loosest and the strictest.
func sweep(rec *recorder, truth map[string]Pattern, f config.Fraud) []RuleSweep {
	var out []RuleSweep
	for _, rule := range f.Rules {
		obs := rec.obs[rule.Feature]
		p := FeaturePattern[rule.Feature]
		res := RuleSweep{Rule: rule.Name, Feature: rule.Feature, Now: rule}
		res.NowPrecision, res.NowRecall = evaluate(obs, rule, f, p, truth)
		var values []float64
		for _, o := range obs {
			values = append(values, o.value)
		}
		slices.Sort(values)
		candidates := []float64{}
		for _, q := range []float64{0.5, 0.75, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999} {
			if v := pct(values, q); len(values) > 0 && v > 0 && !slices.Contains(candidates, v) {
				candidates = append(candidates, v)
			}
		}
		for _, mv := range candidates {
			for _, pz := range []float64{0, 2, 3, 4, 5, 6, 8} {
				for _, oz := range []float64{0, 2, 3, 4} {
					try := config.FraudRule{Name: rule.Name, Feature: rule.Feature, MinValue: mv, PopulationZ: pz, OwnZ: oz}
					prec, recall := evaluate(obs, try, f, p, truth)
					if prec < SweepPrecision {
						continue
					}
					switch {
					case !res.Found || recall > res.Recall:
						res.Found, res.Loosest, res.Strictest, res.Precision, res.Recall = true, try, try, prec, recall
					case recall == res.Recall && strictness(try) > strictness(res.Strictest):
						res.Strictest = try
					case recall == res.Recall && strictness(try) < strictness(res.Loosest):
						res.Loosest, res.Precision = try, prec
					}
				}
			}
		}
		out = append(out, res)
	}
	return out
}

// strictness orders settings of equal recall: z bounds first, then
// min_value.
func strictness(r config.FraudRule) float64 { return r.PopulationZ*1e6 + r.OwnZ*1e3 + r.MinValue/1e6 }

// evaluate is the precision and recall for pattern p of rule alone, firing
// exactly as fraud.RuleScorer does on the recorded observations.
func evaluate(obs []observation, r config.FraudRule, f config.Fraud, p Pattern, truth map[string]Pattern) (float64, float64) {
	fired := map[string]bool{}
	for _, o := range obs {
		if o.value < r.MinValue {
			continue
		}
		if r.PopulationZ > 0 && (o.popN < f.MinPopulation || o.popZ < r.PopulationZ) {
			continue
		}
		if r.OwnZ > 0 && o.ownN >= f.MinHistory && o.ownZ < r.OwnZ {
			continue
		}
		fired[o.entity] = true
	}
	res := score(p, fired, truth)
	return res.Precision, res.Recall
}
