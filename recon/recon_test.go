package recon

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stocksync/stocksync/contract"
)

func TestCompare(t *testing.T) {
	eng := func(onHand, reserved, committed int64) *EngineRow {
		return &EngineRow{SKU: "A", Location: "msk-1", OnHand: onHand, Reserved: reserved, Committed: committed, ERPVersion: 100}
	}
	erp := func(onHand int64) *ExportRow {
		return &ExportRow{SKU: "A", Location: "msk-1", OnHand: onHand, Version: 200}
	}
	tests := []struct {
		name   string
		e      *EngineRow
		x      *ExportRow
		class  Class
		drift  int64
		reason string
	}{
		{name: "equal", e: eng(100, 0, 0), x: erp(100), class: InSync},
		{name: "reservations are on the shelf: not drift", e: eng(100, 30, 0), x: erp(100), class: InSync},
		{name: "ERP booked the shipment of committed units", e: eng(100, 0, 10), x: erp(92), class: InSync},
		{name: "ERP booked every committed unit", e: eng(100, 0, 10), x: erp(90), class: InSync},
		{name: "below on_hand − committed: the rest drifted", e: eng(100, 0, 10), x: erp(87), class: Fixed, drift: -3},
		{name: "more than the engine holds", e: eng(100, 0, 10), x: erp(104), class: Fixed, drift: 4},
		{name: "at the absolute threshold", e: eng(100, 0, 0), x: erp(95), class: Fixed, drift: -5},
		{name: "over the absolute threshold", e: eng(100, 0, 0), x: erp(94), class: Reported, drift: -6, reason: OverThreshold},
		{name: "over the relative threshold", e: eng(20, 0, 0), x: erp(17), class: Reported, drift: -3, reason: OverThreshold},
		{name: "at the relative threshold", e: eng(20, 0, 0), x: erp(18), class: Fixed, drift: -2},
		{name: "the fix would break a reservation", e: eng(50, 49, 0), x: erp(46), class: Reported, drift: -4, reason: WouldShort},
		{name: "the fix may use what committed leaves", e: eng(50, 10, 40), x: erp(8), class: Reported, drift: -2, reason: WouldShort},
		{name: "the engine has a newer snapshot: stale export", e: &EngineRow{SKU: "A", Location: "msk-1", OnHand: 7, ERPVersion: 300}, x: erp(100), class: Stale},
		{name: "same version as the engine's snapshot: compared", e: &EngineRow{SKU: "A", Location: "msk-1", OnHand: 100, ERPVersion: 200}, x: erp(99), class: Fixed, drift: -1},
		{name: "a feed message in flight: next run", e: &EngineRow{SKU: "A", Location: "msk-1", OnHand: 7, InFlight: true}, x: erp(100), class: InFlight},
		{name: "only in the export", x: erp(3), class: Reported, drift: 3, reason: OverThreshold},
		{name: "only in the export, zero", x: erp(0), class: InSync},
		{name: "only in the engine: the ERP holds none", e: eng(2, 0, 0), class: Reported, drift: -2, reason: OverThreshold},
		{name: "only in the engine, within committed", e: eng(4, 0, 4), class: InSync},
	}
	cfg := Config{RunID: "run-1"}
	if err := cfg.Fill(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Compare(&cfg, tt.e, tt.x)
			if o.Class != tt.class || o.Drift != tt.drift || o.Reason != tt.reason {
				t.Fatalf("got %s drift %d reason %q, want %s drift %d reason %q", o.Class, o.Drift, o.Reason, tt.class, tt.drift, tt.reason)
			}
			if (o.Fix != nil) != (o.Class == Fixed) {
				t.Fatalf("fix %+v for class %s", o.Fix, o.Class)
			}
			if o.Fix != nil {
				want := contract.FeedMessage{Type: contract.Adjust, SKU: "A", Location: "msk-1", Delta: tt.drift, Reason: "reconcile", ID: AdjustID("run-1", "A", "msk-1")}
				if *o.Fix != want {
					t.Fatalf("fix %+v, want %+v", *o.Fix, want)
				}
				if err := o.Fix.Validate(); err != nil {
					t.Fatalf("the fix is not a valid feed message: %v", err)
				}
			}
		})
	}
}

func TestAdjustID(t *testing.T) {
	a := AdjustID("run-1", "A", "msk-1")
	if a != AdjustID("run-1", "A", "msk-1") {
		t.Fatal("not deterministic")
	}
	long := strings.Repeat("x", contract.MaxKeyLen)
	for _, other := range []string{AdjustID("run-2", "A", "msk-1"), AdjustID("run-1", "B", "msk-1"), AdjustID("run-1", "A", "msk-2"),
		AdjustID("run-1", "Am", "sk-1")} {
		if other == a {
			t.Errorf("%s collides", other)
		}
	}
	if err := contract.CheckKey("id", AdjustID(long, long, long)); err != nil {
		t.Errorf("an id of the longest keys: %v", err)
	}
}

// TestReconcileThenRerun: a catalogue with drifts of known sizes; the small
// ones are fixed once each, the large ones reported, nothing else touched;
// after the fixes apply, a second run finds no drift.
func TestReconcileThenRerun(t *testing.T) {
	engine := []EngineRow{
		{SKU: "A", Location: "msk-1", OnHand: 100, Reserved: 5, Committed: 3, ERPVersion: 1},
		{SKU: "A", Location: "spb-1", OnHand: 40},
		{SKU: "B", Location: "msk-1", OnHand: 10},
		{SKU: "C", Location: "msk-1", OnHand: 7, ERPVersion: 9},
		{SKU: "D", Location: "msk-1", OnHand: 1},
		{SKU: "E", Location: "dark-9", OnHand: 1}, // a location this export does not cover
	}
	export := []ExportRow{
		{SKU: "B", Location: "msk-1", OnHand: 60, Version: 5}, // +50: reported
		{SKU: "A", Location: "msk-1", OnHand: 102, Version: 5},
		{SKU: "A", Location: "spb-1", OnHand: 38, Version: 5},
		{SKU: "C", Location: "msk-1", OnHand: 100, Version: 5}, // stale
		{SKU: "N", Location: "msk-1", OnHand: 1, Version: 5},
		{SKU: "N", Location: "msk-1", OnHand: 1, Version: 5},   // duplicate
		{SKU: "Z", Location: "nowhere", OnHand: 1, Version: 5}, // unknown location
		// D is missing: the ERP holds none
	}
	cfg := Config{RunID: "r1", Locations: []string{"msk-1", "spb-1"}, Thresholds: Thresholds{MaxAbs: 5, MaxRel: 1}}
	rep, fixes, err := Reconcile(cfg, engine, export)
	if err != nil {
		t.Fatal(err)
	}
	want := Report{RunID: "r1", Rows: 8, InSync: 0, Drifted: 7, Fixed: 4, Reported: 3, Stale: 1, DriftedUnits: 2 + 2 + 50 + 1 + 1} // a duplicate or unknown location is reported without drift
	reported := rep.ReportedRows
	if len(rep.FixedRows) != 4 {
		t.Errorf("fixed rows %+v, want 4", rep.FixedRows)
	}
	rep.DriftRate, rep.ReportedRows, rep.FixedRows = 0, nil, nil
	if !reflect.DeepEqual(rep, want) {
		t.Fatalf("report\n got %+v\nwant %+v", rep, want)
	}
	var reasons []string
	for _, o := range reported {
		reasons = append(reasons, o.SKU+"@"+o.Location+":"+o.Reason)
	}
	slices.Sort(reasons)
	if want := []string{"B@msk-1:over_threshold", "N@msk-1:duplicate", "Z@nowhere:unknown_location"}; !slices.Equal(reasons, want) {
		t.Errorf("reported %v, want %v", reasons, want)
	}
	byKey := map[string]int64{}
	for _, f := range fixes {
		byKey[f.SKU+"@"+f.Location] = f.Delta
	}
	wantFixes := map[string]int64{"A@msk-1": 2, "A@spb-1": -2, "N@msk-1": 1, "D@msk-1": -1}
	if len(byKey) != len(wantFixes) {
		t.Fatalf("fixes %v, want %v", byKey, wantFixes)
	}
	for k, d := range wantFixes {
		if byKey[k] != d {
			t.Errorf("fix of %s = %d, want %d", k, byKey[k], d)
		}
	}

	// Apply the fixes as the engine would, and run again with the
	// duplicate and the unknown location gone and B fixed by an operator.
	for i := range engine {
		for _, f := range fixes {
			if engine[i].SKU == f.SKU && engine[i].Location == f.Location {
				engine[i].OnHand += f.Delta
			}
		}
		if engine[i].SKU == "B" {
			engine[i].OnHand = 60
		}
	}
	engine = append(engine, EngineRow{SKU: "N", Location: "msk-1", OnHand: 1})
	rep2, fixes2, err := Reconcile(Config{RunID: "r2", Locations: cfg.Locations}, engine, export[:5])
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Drifted != 0 || len(fixes2) != 0 || rep2.DriftRate != 0 || rep2.InSync != 5 || rep2.Stale != 1 {
		t.Fatalf("second run: %+v, fixes %v", rep2, fixes2)
	}
}

func TestDriftRateCountsComparedRows(t *testing.T) {
	var r Report
	r.Add(Outcome{Class: InSync})
	r.Add(Outcome{Class: InSync})
	r.Add(Outcome{Class: Stale})
	r.Add(Outcome{Class: Fixed, Drift: -2})
	r.Add(Outcome{Class: Reported, Drift: 9})
	if r.DriftRate != 0.5 || r.DriftedUnits != 11 || r.Rows != 5 || len(r.ReportedRows) != 1 {
		t.Fatalf("%+v", r)
	}
}

func TestConfigFill(t *testing.T) {
	c := Config{}
	err := c.Fill()
	if err == nil || !strings.Contains(err.Error(), "run id") {
		t.Fatalf("err = %v", err)
	}
	c = Config{RunID: "r", Thresholds: Thresholds{MaxAbs: -1, MaxRel: 2}}
	err = c.Fill()
	if err == nil || !strings.Contains(err.Error(), "max_abs -1") || !strings.Contains(err.Error(), "max_rel 2") {
		t.Fatalf("err = %v", err)
	}
}
