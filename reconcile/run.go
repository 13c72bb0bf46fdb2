package reconcile

import (
	"time"

	"github.com/stocksync/stocksync/recon"
)

// Statuses of a run.
const (
	Running = "running"
	Done    = "done"
	Failed  = "failed"
)

// Triggers of a run.
const (
	TriggerAPI      = "api"
	TriggerSchedule = "schedule"
)

// Decisions on a reported row.
const (
	Open      = "open"
	Applied   = "applied"
	Dismissed = "dismissed"
)

// maxRowsKept bounds each row list of a kept run: the counts stay
// complete, the lists say rows_truncated past it. 10k rows of each kind
// compress to well under a megabyte on recon.reports.
const maxRowsKept = 10_000

// Run is one reconciliation: GET /v1/reconciliations/{id}. The list shows
// it without the row lists.
type Run struct {
	ID         string           `json:"id"`
	Status     string           `json:"status"`
	Error      string           `json:"error,omitempty"` // why it failed
	Trigger    string           `json:"trigger"`
	Source     string           `json:"source"`
	Export     string           `json:"export"` // "sha256:<hex>" of the export; the fixes' ids derive from it
	Instance   string           `json:"instance"`
	StartedAt  time.Time        `json:"started_at"`
	FinishedAt *time.Time       `json:"finished_at,omitempty"`
	Thresholds recon.Thresholds `json:"thresholds"`
	Locations  []string         `json:"locations,omitempty"` // the locations the export covers; absent: every one
	Counts                      // rows … drift_rate
	Bad        int64            `json:"bad"` // rows of the export that could not be read
	Open       int64            `json:"open"`
	Applied    int64            `json:"applied"`
	Dismissed  int64            `json:"dismissed"`
	Truncated  bool             `json:"rows_truncated,omitempty"`
	Reported   []Row            `json:"reported_rows,omitempty"`
	Fixed      []Row            `json:"fixed_rows,omitempty"`
	BadRows    []BadRow         `json:"bad_rows,omitempty"`
	Rev        int64            `json:"rev"` // bumped on every change: the newest copy wins
}

// Counts are the figures of docs/reconciliation.md ("The report").
type Counts struct {
	Rows         int64   `json:"rows"`
	InSync       int64   `json:"in_sync"`
	Drifted      int64   `json:"drifted"`
	FixedN       int64   `json:"fixed"`
	ReportedN    int64   `json:"reported"`
	Stale        int64   `json:"stale"`
	InFlight     int64   `json:"in_flight"`
	DriftedUnits int64   `json:"drifted_units"`
	DriftRate    float64 `json:"drift_rate"`
}

// Row is a fixed or reported row of a run.
type Row struct {
	recon.Outcome
	FixID     string     `json:"fix_id,omitempty"`   // the adjust id of its fix (reason "reconcile")
	Decision  string     `json:"decision,omitempty"` // of a reported row: open, applied, dismissed
	DecidedAt *time.Time `json:"decided_at,omitempty"`
}

// BadRow is a row of the export that could not be read.
type BadRow struct {
	Line   int64  `json:"line"`
	Reason string `json:"reason"`
}

// Summary is r without its row lists, for the list of runs.
func (r Run) Summary() Run {
	r.Reported, r.Fixed, r.BadRows = nil, nil, nil
	return r
}

// counts copies the figures of a recon report.
func counts(rep *recon.Report) Counts {
	return Counts{Rows: rep.Rows, InSync: rep.InSync, Drifted: rep.Drifted, FixedN: rep.Fixed, ReportedN: rep.Reported,
		Stale: rep.Stale, InFlight: rep.InFlight, DriftedUnits: rep.DriftedUnits, DriftRate: rep.DriftRate}
}

// tally recounts the decisions on the reported rows.
func (r *Run) tally() {
	r.Open, r.Applied, r.Dismissed = 0, 0, 0
	for _, row := range r.Reported {
		switch row.Decision {
		case Applied:
			r.Applied++
		case Dismissed:
			r.Dismissed++
		default:
			r.Open++
		}
	}
}

// clone copies r deeply enough that the copy's rows can change.
func (r *Run) clone() *Run {
	c := *r
	c.Reported = append([]Row(nil), r.Reported...)
	c.Fixed = append([]Row(nil), r.Fixed...)
	c.BadRows = append([]BadRow(nil), r.BadRows...)
	c.Locations = append([]string(nil), r.Locations...)
	return &c
}
