package config

import (
	"strings"
	"testing"
)

func TestReconcileSection(t *testing.T) {
	c, err := Parse([]byte("kafka: {brokers: [x:1]}\nlocations: [{name: a, kind: store}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Reconcile; r.MaxAbs != 5 || r.MaxRel != 0.1 || r.Source != "erp" || r.Keep != 100 || r.Schedule.Every.Duration != 0 {
		t.Errorf("defaults: %+v", r)
	}
	_, err = Parse([]byte(`
kafka: {brokers: [x:1]}
locations: [{name: a, kind: store}]
reconcile:
  max_abs: -1
  max_rel: 1.5
  keep: 20000
  schedule: {every: 10s, file: stock.csv, format: xls}
`))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"reconcile.max_abs: -1 is negative", "reconcile.max_rel: 1.5 is outside (0, 1]",
		"reconcile.keep: 20000 is outside 1..10000", "reconcile.schedule.every: 10s is below 1m", `reconcile.schedule.format: "xls" is not one of csv, jsonl`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	_, err = Parse([]byte("kafka: {brokers: [x:1]}\nlocations: [{name: a, kind: store}]\nreconcile: {schedule: {every: 1h, file: stock.csv}}\n"))
	if err == nil || !strings.Contains(err.Error(), `reconcile.schedule.file: "stock.csv" must be an absolute path`) {
		t.Errorf("a relative file: %v", err)
	}
}
