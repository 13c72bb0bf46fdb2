package config

import (
	"strings"
	"testing"
)

func TestFraudSectionProblemsHaveTheirPaths(t *testing.T) {
	_, err := Parse([]byte(`
kafka: {brokers: [x:1]}
locations: [{name: a, kind: store}]
fraud:
  enabled: true
  ewma_alpha: 1.5
  return_window: 10ms
  min_population: 3
  rules:
    - {name: r, feature: returns_count, min_value: 4}
    - {name: r, feature: no_such, population_z: -1}
    - {name: zero, feature: accrual_points}
`))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{
		"fraud.ewma_alpha: 1.5 is outside (0, 1)", "fraud.return_window: 10ms is below 1s", "fraud.min_population: 3 is below 10",
		`fraud.rules[1].name: "r" is listed twice`, `fraud.rules[1].feature: unknown feature "no_such"`,
		"fraud.rules[1].population_z: -1 must be a number ≥ 0", "fraud.rules[2]: min_value, population_z and own_z are all 0",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestFraudDefaults(t *testing.T) {
	c, err := Parse([]byte("kafka: {brokers: [x:1]}\nlocations: [{name: a, kind: store}]\nfraud: {enabled: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	f := c.Fraud
	if !f.Enabled || f.ReturnWindow.Hours() != 168 || f.MinStoreRefunds != 15 || len(f.Rules) != len(DefaultFraudRules()) {
		t.Fatalf("defaults: %+v", f)
	}
}
