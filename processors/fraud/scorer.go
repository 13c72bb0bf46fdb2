package fraud

import (
	"time"

	"github.com/stocksync/stocksync/config"
)

// Observation is what a Scorer sees after each applied event: the entity,
// the event, and each feature the event changed with its own and
// population baselines (both without the new value).
type Observation struct {
	EntityType string // EntityCustomer or EntityCashier
	EntityID   string
	EventID    string
	TS         time.Time // the event's time
	Measures   []Measure
}

// Measure is one feature's value and baselines.
type Measure struct {
	Feature    string
	Value      float64
	Own        OwnBaseline
	Population PopulationBaseline
}

// Reason is why an alert was raised: a rule (or a model) that fired, the
// feature it looked at, its value and its baselines.
type Reason struct {
	Rule       string             `json:"rule"`
	Feature    string             `json:"feature"`
	Value      float64            `json:"value"`
	Score      float64            `json:"score"`
	Own        OwnBaseline        `json:"own"`
	Population PopulationBaseline `json:"population"`
}

// Scorer turns an observation into the reasons to alert; none means no
// alert. The statistical RuleScorer is the default; a data-science model
// implements Scorer too, replacing it (Config.Scorer) or adding to it
// (Combine). Score is called from the processors' goroutines, one per
// partition at once: it must be safe for concurrent use and fast (it sits
// on the event → alert path, whose p99 budget is 1 s).
type Scorer interface {
	Score(Observation) []Reason
}

// Combine returns a Scorer that asks each of scorers and alerts with all
// their reasons: a model added beside the rules.
func Combine(scorers ...Scorer) Scorer { return combined(scorers) }

type combined []Scorer

func (c combined) Score(o Observation) []Reason {
	var out []Reason
	for _, s := range c {
		out = append(out, s.Score(o)...)
	}
	return out
}

// RuleScorer is the statistical scorer: config rules over the features'
// values, own z-scores (EWMA) and population robust z-scores.
type RuleScorer struct {
	rules         []config.FraudRule
	minHistory    int
	minPopulation int
}

// NewRuleScorer returns the scorer of the fraud config's rules.
func NewRuleScorer(f config.Fraud) *RuleScorer {
	return &RuleScorer{rules: f.Rules, minHistory: f.MinHistory, minPopulation: f.MinPopulation}
}

// Score fires each rule whose feature is measured and whose bounds hold.
// A rule's score is the smallest margin by which it passed, in z units
// (value/min_value when it checks no z): an alert's score sums them.
func (s *RuleScorer) Score(o Observation) []Reason {
	var out []Reason
	for _, m := range o.Measures {
		for _, r := range s.rules {
			if r.Feature != m.Feature || m.Value < r.MinValue {
				continue
			}
			score, checked := float64(maxZ), false
			if r.PopulationZ > 0 {
				if m.Population.N < s.minPopulation || m.Population.Z < r.PopulationZ {
					continue
				}
				score, checked = min(score, m.Population.Z), true
			}
			if r.OwnZ > 0 && m.Own.N >= s.minHistory {
				if m.Own.Z < r.OwnZ {
					continue
				}
				score, checked = min(score, m.Own.Z), true
			}
			if !checked {
				score = 1
				if r.MinValue > 0 {
					score = m.Value / r.MinValue
				}
			}
			out = append(out, Reason{Rule: r.Name, Feature: m.Feature, Value: m.Value, Score: score,
				Own: m.Own, Population: m.Population})
		}
	}
	return out
}
