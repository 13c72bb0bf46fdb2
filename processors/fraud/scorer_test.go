package fraud

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stocksync/stocksync/config"
)

func TestPopulationRobustZ(t *testing.T) {
	p := newPopulation()
	for i := 0; i < 1000; i++ {
		p.Add(fmt.Sprint(i), float64(i%10)) // 0..9: median 4 or 5, MAD 2 or 3
	}
	b := p.Baseline(50)
	if b.N != 1000 || b.Median < 4 || b.Median > 5 || b.MAD < 2 || b.MAD > 3 {
		t.Fatalf("baseline %+v, want n 1000, median 4..5, MAD 2..3", b)
	}
	if b.Z < 10 {
		t.Errorf("z of 50 is %g, want far out", b.Z)
	}
	// An entity counts once: its new value replaces its old one.
	for i := 0; i < 1000; i++ {
		p.Add("busy", 1000)
	}
	if b := p.Baseline(0); b.N != 1001 || b.Median > 5 {
		t.Errorf("after one entity's 1000 updates: %+v, want n 1001 and the median unmoved", b)
	}
	if z := p.Baseline(p.Baseline(0).Median).Z; z != 0 {
		t.Errorf("z of the median is %g, want 0", z)
	}

	// Counts where most values are equal: MAD 0, the mean absolute deviation
	// takes over and z stays finite.
	c := newPopulation()
	for i := 0; i < 200; i++ {
		c.Add(fmt.Sprint(i), map[bool]float64{true: 2, false: 1}[i%10 == 0])
	}
	if b := c.Baseline(6); b.MAD != 0 || math.IsInf(b.Z, 0) || b.Z < 3 {
		t.Fatalf("baseline of 6 over mostly 1s: %+v, want MAD 0 and a finite z above 3", b)
	}
}

// A population where every entity has the same value (early counts often
// do) puts any other value as far out as z goes, not at an arbitrary 1.
func TestPopulationOfEqualValues(t *testing.T) {
	p := newPopulation()
	for i := 0; i < 50; i++ {
		p.Add(fmt.Sprint(i), 1)
	}
	if z := p.Baseline(2).Z; z != maxZ {
		t.Errorf("z of 2 among 1s = %g, want %d", z, maxZ)
	}
	if z := p.Baseline(1).Z; z != 0 {
		t.Errorf("z of 1 among 1s = %g, want 0", z)
	}
}

func TestEWMA(t *testing.T) {
	var e EWMA
	for i := 0; i < 50; i++ {
		e.Update(10, 0.1)
	}
	if e.Mean != 10 || e.Var != 0 || e.N != 50 {
		t.Fatalf("steady 10s: %+v", e)
	}
	// The floor of the deviation (10% of the mean) keeps z finite.
	if z := e.Z(13, 1); z != 3 {
		t.Errorf("z of 13 after steady 10s = %g, want 3 (deviation floor 1)", z)
	}
}

func TestRuleScorer(t *testing.T) {
	f := config.Fraud{}
	f.Defaults()
	rule := config.FraudRule{Name: "r", Feature: config.FeatureReturnsCount, MinValue: 4, PopulationZ: 3, OwnZ: 2}
	f.Rules = []config.FraudRule{rule}
	s := NewRuleScorer(f)
	pop := PopulationBaseline{N: f.MinPopulation, Z: 5}
	own := OwnBaseline{N: f.MinHistory, Z: 4}
	tests := []struct {
		name  string
		m     Measure
		score float64 // 0: does not fire
	}{
		{"all bounds hold: the smaller margin", Measure{Feature: rule.Feature, Value: 5, Own: own, Population: pop}, 4},
		{"below min_value", Measure{Feature: rule.Feature, Value: 3, Own: own, Population: pop}, 0},
		{"population too small", Measure{Feature: rule.Feature, Value: 5, Own: own, Population: PopulationBaseline{N: 10, Z: 50}}, 0},
		{"population z low", Measure{Feature: rule.Feature, Value: 5, Own: own, Population: PopulationBaseline{N: 1000, Z: 2}}, 0},
		{"own z low", Measure{Feature: rule.Feature, Value: 5, Own: OwnBaseline{N: 50, Z: 1}, Population: pop}, 0},
		{"short own history is not checked", Measure{Feature: rule.Feature, Value: 5, Own: OwnBaseline{N: 1, Z: 0}, Population: pop}, 5},
		{"other feature", Measure{Feature: config.FeatureAccrualPoints, Value: 5000, Own: own, Population: pop}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.Score(Observation{Measures: []Measure{tt.m}})
			if (len(got) == 1) != (tt.score > 0) {
				t.Fatalf("reasons %+v, want fired=%v", got, tt.score > 0)
			}
			if tt.score > 0 && got[0].Score != tt.score {
				t.Errorf("score %g, want %g", got[0].Score, tt.score)
			}
		})
	}
}

func TestSeenIsBounded(t *testing.T) {
	seen := map[string]int64{}
	var newest int64
	for i := 0; i < maxSeen+5; i++ {
		if o := admitID(seen, &newest, fmt.Sprint("id-", i), int64(i), time.Hour); o != applied {
			t.Fatalf("id %d: %s", i, o)
		}
	}
	if len(seen) > maxSeen {
		t.Fatalf("%d ids kept, want at most %d", len(seen), maxSeen)
	}
	if o := admitID(seen, &newest, fmt.Sprint("id-", maxSeen+4), int64(maxSeen+4), time.Hour); o != duplicate {
		t.Fatalf("the newest id again: %s, want duplicate", o)
	}
}
