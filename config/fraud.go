package config

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Fraud configures anti-fraud (processors/fraud, docs/fraud.md): returns
// and loyalty events become rolling features per customer and per cashier,
// each scored against the entity's own history and the population's, and
// the rules below turn scores into alerts. Off unless enabled.
type Fraud struct {
	// Enabled starts the anti-fraud processors and serves its routes;
	// default false (the routes answer 404).
	Enabled bool `yaml:"enabled"`
	// ReturnWindow is the span of the return features (count, amount,
	// unmatched) and of a cashier's refund share; default 168h (7 days).
	ReturnWindow Duration `yaml:"return_window"`
	// LoyaltyWindow is the span of the accrual and redemption features;
	// default 24h.
	LoyaltyWindow Duration `yaml:"loyalty_window"`
	// VelocityWindow is the span of the velocity features (returns or
	// redemptions within it); default 1h.
	VelocityWindow Duration `yaml:"velocity_window"`
	// RedeemAfterAccrual: a redemption this soon after an accrual counts in
	// redeem_after_accrual; default 10m.
	RedeemAfterAccrual Duration `yaml:"redeem_after_accrual"`
	// SaleWindow is how long a sale line stays matchable by a return;
	// default 2160h (90 days).
	SaleWindow Duration `yaml:"sale_window"`
	// MinStoreRefunds is the refunds a store needs within ReturnWindow
	// before a cashier's share of them is measured (below it there is no
	// share: two refunds, one cashier, is no signal; with 10, one honest
	// cashier in 30 holds half by chance); default 15.
	MinStoreRefunds int `yaml:"min_store_refunds"`
	// EWMAAlpha weighs the newest value in an entity's own baseline,
	// (0, 1); default 0.1 (about the last 10 values).
	EWMAAlpha float64 `yaml:"ewma_alpha"`
	// MinHistory is the values an entity's own baseline needs before a
	// rule's own_z is checked (before, own_z passes); default 5.
	MinHistory int `yaml:"min_history"`
	// MinPopulation is the entities the population sample of a feature
	// needs before a rule's population_z is checked (before, the rule does
	// not fire); default 20. The sample is per instance: an instance that
	// owns few stores sees few cashiers.
	MinPopulation int `yaml:"min_population"`
	// Cooldown: an entity alerted by a rule is not alerted by that rule
	// again within this much event time; default 24h.
	Cooldown Duration `yaml:"cooldown"`
	// MaxAlerts is how many recent alerts each instance keeps for
	// GET /v1/fraud/alerts; default 10000.
	MaxAlerts int `yaml:"max_alerts"`
	// Rules turn features into alerts; default DefaultFraudRules (chosen
	// with make fraud-eval, docs/fraud.md).
	Rules []FraudRule `yaml:"rules"`
}

// FraudRule fires when Feature's value is at least MinValue, its robust
// z-score against the population at least PopulationZ, and its z-score
// against the entity's own EWMA baseline at least OwnZ. A zero PopulationZ
// or OwnZ is not checked.
type FraudRule struct {
	Name        string  `yaml:"name"`         // unique; the label of the per-rule metrics
	Feature     string  `yaml:"feature"`      // one of FraudFeatures
	MinValue    float64 `yaml:"min_value"`    // ≥ 0
	PopulationZ float64 `yaml:"population_z"` // ≥ 0; 0 = not checked
	OwnZ        float64 `yaml:"own_z"`        // ≥ 0; 0 = not checked
}

// The features anti-fraud measures (docs/fraud.md defines each).
const (
	FeatureReturnsCount       = "returns_count"           // customer: returns within return_window
	FeatureReturnsAmount      = "returns_amount"          // customer: amount returned within return_window
	FeatureReturnsUnmatched   = "returns_unmatched"       // customer: returns within return_window without a matching sale
	FeatureReturnVelocity     = "return_velocity"         // customer: returns within velocity_window
	FeatureAccrualPoints      = "accrual_points"          // customer: points accrued within loyalty_window
	FeatureRedemptionPoints   = "redemption_points"       // customer: points redeemed within loyalty_window
	FeatureRedemptionVelocity = "redemption_velocity"     // customer: redemptions within velocity_window with no accrual within redeem_after_accrual before them
	FeatureRedeemAfterAccrual = "redeem_after_accrual"    // customer: points of a redemption made within redeem_after_accrual of an accrual
	FeatureCashierShare       = "cashier_refund_share"    // cashier: share of the store's refunds within return_window
	FeatureCashierVelocity    = "cashier_refund_velocity" // cashier: refunds within velocity_window
)

// FraudFeatures lists every feature a rule may name.
var FraudFeatures = []string{FeatureReturnsCount, FeatureReturnsAmount, FeatureReturnsUnmatched,
	FeatureReturnVelocity, FeatureAccrualPoints, FeatureRedemptionPoints, FeatureRedemptionVelocity,
	FeatureRedeemAfterAccrual, FeatureCashierShare, FeatureCashierVelocity}

// DefaultFraudRules are the rules used when the config names none. The
// thresholds come from make fraud-eval (docs/fraud.md "Choosing thresholds").
func DefaultFraudRules() []FraudRule {
	return []FraudRule{
		{Name: "serial_returns", Feature: FeatureReturnsCount, MinValue: 8, PopulationZ: 5},
		{Name: "unmatched_returns", Feature: FeatureReturnsUnmatched, MinValue: 5, PopulationZ: 5},
		{Name: "cashier_refund_share", Feature: FeatureCashierShare, MinValue: 0.3, PopulationZ: 4},
		{Name: "accrual_spike", Feature: FeatureAccrualPoints, MinValue: 1000, PopulationZ: 6, OwnZ: 2},
		{Name: "redeem_after_accrual", Feature: FeatureRedeemAfterAccrual, MinValue: 500, PopulationZ: 4},
		{Name: "redemption_burst", Feature: FeatureRedemptionVelocity, MinValue: 2, PopulationZ: 2},
	}
}

// Defaults fills the unset fields of the fraud section (Config.Defaults
// calls it).
func (f *Fraud) Defaults() {
	set := func(d *Duration, v time.Duration) {
		if d.Duration == 0 {
			d.Duration = v
		}
	}
	set(&f.ReturnWindow, 7*24*time.Hour)
	set(&f.LoyaltyWindow, 24*time.Hour)
	set(&f.VelocityWindow, time.Hour)
	set(&f.RedeemAfterAccrual, 10*time.Minute)
	set(&f.SaleWindow, 90*24*time.Hour)
	set(&f.Cooldown, 24*time.Hour)
	if f.MinStoreRefunds == 0 {
		f.MinStoreRefunds = 15
	}
	if f.EWMAAlpha == 0 {
		f.EWMAAlpha = 0.1
	}
	if f.MinHistory == 0 {
		f.MinHistory = 5
	}
	if f.MinPopulation == 0 {
		f.MinPopulation = 20
	}
	if f.MaxAlerts == 0 {
		f.MaxAlerts = 10000
	}
	if len(f.Rules) == 0 {
		f.Rules = DefaultFraudRules()
	}
}

// Validate reports every problem of the fraud section at once, each with
// its path (Config.Validate includes them).
func (f *Fraud) Validate() error {
	var errs []error
	f.validate(func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	})
	return errors.Join(errs...)
}

func (f *Fraud) validate(bad func(path, format string, args ...any)) {
	for path, d := range map[string]Duration{"fraud.return_window": f.ReturnWindow, "fraud.loyalty_window": f.LoyaltyWindow,
		"fraud.velocity_window": f.VelocityWindow, "fraud.redeem_after_accrual": f.RedeemAfterAccrual,
		"fraud.sale_window": f.SaleWindow, "fraud.cooldown": f.Cooldown} {
		if d.Duration < time.Second {
			bad(path, "%s is below 1s", d)
		}
	}
	if f.MinStoreRefunds < 1 {
		bad("fraud.min_store_refunds", "%d must be at least 1", f.MinStoreRefunds)
	}
	if math.IsNaN(f.EWMAAlpha) || f.EWMAAlpha <= 0 || f.EWMAAlpha >= 1 {
		bad("fraud.ewma_alpha", "%g is outside (0, 1)", f.EWMAAlpha)
	}
	if f.MinHistory < 1 {
		bad("fraud.min_history", "%d must be at least 1", f.MinHistory)
	}
	if f.MinPopulation < 10 {
		bad("fraud.min_population", "%d is below 10: a median of fewer values is noise", f.MinPopulation)
	}
	if f.MaxAlerts < 1 || f.MaxAlerts > 1e6 {
		bad("fraud.max_alerts", "%d is outside 1..1000000", f.MaxAlerts)
	}
	names := map[string]bool{}
	for i, r := range f.Rules {
		p := fmt.Sprintf("fraud.rules[%d]", i)
		switch {
		case r.Name == "":
			bad(p+".name", "must not be empty")
		case names[r.Name]:
			bad(p+".name", "%q is listed twice", r.Name)
		}
		names[r.Name] = true
		if !slices.Contains(FraudFeatures, r.Feature) {
			bad(p+".feature", "unknown feature %q; known: %v", r.Feature, FraudFeatures)
		}
		for field, v := range map[string]float64{"min_value": r.MinValue, "population_z": r.PopulationZ, "own_z": r.OwnZ} {
			if math.IsNaN(v) || v < 0 {
				bad(p+"."+field, "%g must be a number ≥ 0", v)
			}
		}
		if r.MinValue == 0 && r.PopulationZ == 0 && r.OwnZ == 0 {
			bad(p, "min_value, population_z and own_z are all 0: the rule would fire on every event")
		}
	}
}
