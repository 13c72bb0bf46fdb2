package recon

import (
	"cmp"
	"slices"

	"github.com/stocksync/stocksync/contract"
)

// Report sums up a run. Rows counts every SKU-location looked at; drift
// rate is Drifted over the rows compared (in sync or drifted): stale and
// in-flight rows were not compared.
type Report struct {
	RunID        string    `json:"id"`
	Status       string    `json:"status"` // set by whoever runs it: running, done, failed
	Rows         int64     `json:"rows"`
	InSync       int64     `json:"in_sync"`
	Drifted      int64     `json:"drifted"` // Fixed + Reported
	Fixed        int64     `json:"fixed"`
	Reported     int64     `json:"reported"`
	Stale        int64     `json:"stale"`
	InFlight     int64     `json:"in_flight"`
	DriftedUnits int64     `json:"drifted_units"` // Σ |drift|
	DriftRate    float64   `json:"drift_rate"`
	ReportedRows []Outcome `json:"reported_rows"`
	FixedRows    []Outcome `json:"fixed_rows"`
}

// Add counts one outcome.
func (r *Report) Add(o Outcome) {
	r.Rows++
	switch o.Class {
	case InSync:
		r.InSync++
	case Stale:
		r.Stale++
	case InFlight:
		r.InFlight++
	case Fixed:
		r.Fixed++
		r.FixedRows = append(r.FixedRows, o)
	case Reported:
		r.Reported++
		r.ReportedRows = append(r.ReportedRows, o)
	}
	if o.Class == Fixed || o.Class == Reported {
		r.Drifted++
		r.DriftedUnits += abs(o.Drift)
	}
	if compared := r.InSync + r.Drifted; compared > 0 {
		r.DriftRate = float64(r.Drifted) / float64(compared)
	}
}

// Reconcile compares every row of both sides (in any order) and returns
// the report and the fixes to send. A row of the export outside
// cfg.Locations, or listed twice, is reported.
func Reconcile(cfg Config, engine []EngineRow, export []ExportRow) (Report, []contract.FeedMessage, error) {
	outcomes, err := Outcomes(cfg, engine, export)
	if err != nil {
		return Report{}, nil, err
	}
	rep := Report{RunID: cfg.RunID, ReportedRows: []Outcome{}, FixedRows: []Outcome{}}
	var fixes []contract.FeedMessage
	for _, o := range outcomes {
		rep.Add(o)
		if o.Fix != nil {
			fixes = append(fixes, *o.Fix)
		}
	}
	return rep, fixes, nil
}

// Outcomes is the verdict on every row of both sides (in any order), by
// SKU and location: Compare of each pair, and a row of the export outside
// cfg.Locations, or listed twice, reported.
func Outcomes(cfg Config, engine []EngineRow, export []ExportRow) ([]Outcome, error) {
	if err := cfg.Fill(); err != nil {
		return nil, err
	}
	scope := map[string]bool{}
	for _, l := range cfg.Locations {
		scope[l] = true
	}
	in := func(loc string) bool { return len(scope) == 0 || scope[loc] }
	key := func(sku, loc string) [2]string { return [2]string{sku, loc} }
	e := slices.Clone(engine)
	slices.SortFunc(e, func(a, b EngineRow) int {
		return cmp.Or(cmp.Compare(a.SKU, b.SKU), cmp.Compare(a.Location, b.Location))
	})
	x := slices.Clone(export)
	slices.SortStableFunc(x, func(a, b ExportRow) int {
		return cmp.Or(cmp.Compare(a.SKU, b.SKU), cmp.Compare(a.Location, b.Location))
	})

	var out []Outcome
	i, j := 0, 0
	for i < len(e) || j < len(x) {
		var ek, xk [2]string
		if i < len(e) {
			ek = key(e[i].SKU, e[i].Location)
		}
		if j < len(x) {
			xk = key(x[j].SKU, x[j].Location)
		}
		switch {
		case j < len(x) && j > 0 && xk == key(x[j-1].SKU, x[j-1].Location):
			out = append(out, Outcome{SKU: x[j].SKU, Location: x[j].Location, ERP: x[j].OnHand, Class: Reported, Reason: Duplicate})
			j++
		case j < len(x) && !in(x[j].Location):
			out = append(out, Outcome{SKU: x[j].SKU, Location: x[j].Location, ERP: x[j].OnHand, Class: Reported, Reason: UnknownLocation})
			j++
		case i < len(e) && !in(e[i].Location):
			i++ // not covered by this export
		case j >= len(x) || (i < len(e) && cmpKey(ek, xk) < 0):
			out = append(out, Compare(&cfg, &e[i], nil))
			i++
		case i >= len(e) || cmpKey(xk, ek) < 0:
			out = append(out, Compare(&cfg, nil, &x[j]))
			j++
		default:
			out = append(out, Compare(&cfg, &e[i], &x[j]))
			i++
			j++
		}
	}
	return out, nil
}

func cmpKey(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) }
