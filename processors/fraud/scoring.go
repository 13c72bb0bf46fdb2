package fraud

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"slices"
	"time"

	"github.com/stocksync/stocksync/config"
)

// Alert is a message of <prefix>fraud.alerts (key: the entity id) and an
// item of GET /v1/fraud/alerts.
type Alert struct {
	// ID is derived from the entity and the triggering event, so an alert
	// replayed after a crash has the same id and is kept once.
	ID         string    `json:"id"`
	EntityType string    `json:"entity_type"` // customer | cashier
	EntityID   string    `json:"entity_id"`   // customer id, or "<store>/<cashier>"
	Score      float64   `json:"score"`       // sum of the reasons' scores
	Reasons    []Reason  `json:"reasons"`
	EventIDs   []string  `json:"event_ids"`   // events in the window of the features that fired, the triggering one last
	TS         time.Time `json:"ts"`          // the triggering event's time
	DetectedAt time.Time `json:"detected_at"` // when the processor raised it (wall clock)
	// Label is "fraud" or "legit" once an analyst said so
	// (POST /v1/fraud/alerts/{id}/label); "" before.
	Label      string     `json:"label,omitempty"`
	LabelledAt *time.Time `json:"labelled_at,omitempty"`
}

// featureUnit is the smallest change of a feature worth one standard
// deviation of an entity's own history: the floor of EWMA.Z's deviation.
var featureUnit = map[string]float64{
	config.FeatureReturnsAmount:      20,
	config.FeatureAccrualPoints:      50,
	config.FeatureRedemptionPoints:   50,
	config.FeatureRedeemAfterAccrual: 50,
	config.FeatureCashierShare:       0.05,
}

// scoring is what both processors share: the scorer, the population
// samples and the baselines' settings.
type scoring struct {
	scorer   Scorer
	pops     populations
	alpha    float64
	cooldown time.Duration
	windows  windows
	cfg      config.Fraud
	metrics  *Metrics
	now      func() time.Time
}

// score measures feats against the entity's own baselines (own, by
// feature) and the population, asks the scorer, drops the reasons of rules
// still in their cooldown (alerted, by rule), then adds the values to the
// baselines. It returns the alert to raise, or nil.
func (sc *scoring) score(entityType, entityID, eventID string, ts time.Time, feats map[string]float64,
	own map[string]*EWMA, alerted map[string]int64, alertedKey func(rule string) string) *Alert {
	names := make([]string, 0, len(feats))
	for f := range feats {
		names = append(names, f)
	}
	slices.Sort(names)
	obs := Observation{EntityType: entityType, EntityID: entityID, EventID: eventID, TS: ts}
	for _, f := range names {
		x := feats[f]
		e := own[f]
		if e == nil {
			e = &EWMA{}
			own[f] = e
		}
		ob := OwnBaseline{Mean: e.Mean, Std: math.Sqrt(e.Var), N: e.N}
		if e.N > 0 {
			unit := featureUnit[f]
			if unit == 0 {
				unit = 1 // a count
			}
			ob.Z = e.Z(x, unit)
		}
		pop := sc.pops.get(entityType + "/" + f)
		obs.Measures = append(obs.Measures, Measure{Feature: f, Value: x, Own: ob, Population: pop.Baseline(x)})
		e.Update(x, sc.alpha)
		pop.Add(entityID, x)
	}
	var reasons []Reason
	at := ts.UnixMilli()
	for _, r := range sc.scorer.Score(obs) {
		k := alertedKey(r.Rule)
		if last, ok := alerted[k]; ok && at-last < sc.cooldown.Milliseconds() && at >= last {
			continue
		}
		alerted[k] = at
		reasons = append(reasons, r)
		sc.metrics.RuleFired.WithLabelValues(r.Rule, entityType).Inc()
	}
	if len(reasons) == 0 {
		return nil
	}
	a := &Alert{ID: alertID(entityType, entityID, eventID), EntityType: entityType, EntityID: entityID,
		Reasons: reasons, TS: ts.UTC(), DetectedAt: sc.now().UTC()}
	for _, r := range reasons {
		a.Score += r.Score
	}
	sc.metrics.Alerts.WithLabelValues(entityType).Inc()
	return a
}

func alertID(entityType, entityID, eventID string) string {
	h := sha256.Sum256([]byte(entityType + "\x00" + entityID + "\x00" + eventID))
	return hex.EncodeToString(h[:8])
}
