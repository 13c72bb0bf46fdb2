package reconcile

import (
	"context"
	"fmt"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/recon"
)

// Decision is an operator's answer to a reported row.
type Decision struct {
	Run, SKU, Location string
	Apply              bool  // true: apply the drift; false: dismiss the row
	Peers              Peers // reaches the SKU's owner; default nil
}

// Decide applies or dismisses a reported row and keeps the decision.
// Apply sends the row's drift as an adjust with reason "reconcile" and the
// row's fix id, so applying again changes nothing. It returns ErrNotFound,
// ErrDecided (applied and dismissed exclude each other) or
// ErrNothingToApply.
func (s *Service) Decide(ctx context.Context, d Decision) (Row, error) {
	run, ok := s.store.get(d.Run)
	if !ok {
		return Row{}, fmt.Errorf("%w: no run %q is kept", ErrNotFound, d.Run)
	}
	if run.Status == Running {
		return Row{}, fmt.Errorf("%w: run %s is still going; decide once it is done", ErrDecided, d.Run)
	}
	i := -1
	for k, r := range run.Reported {
		if r.SKU == d.SKU && r.Location == d.Location {
			i = k
			break
		}
	}
	if i < 0 {
		return Row{}, fmt.Errorf("%w: run %s reported no row for SKU %q at %q", ErrNotFound, d.Run, d.SKU, d.Location)
	}
	row := run.Reported[i]
	want := Dismissed
	if d.Apply {
		want = Applied
	}
	switch {
	case row.Decision == want:
		return row, nil // once is enough
	case row.Decision != Open && row.Decision != "":
		return row, fmt.Errorf("%w: SKU %q at %q was %s", ErrDecided, d.SKU, d.Location, row.Decision)
	case d.Apply && (row.FixID == "" || row.Reason == recon.Duplicate || row.Reason == recon.UnknownLocation):
		return row, fmt.Errorf("%w: SKU %q at %q was reported as %s: dismiss it, and correct the export", ErrNothingToApply, d.SKU, d.Location, row.Reason)
	}
	if d.Apply {
		fix := contract.FeedMessage{Type: contract.Adjust, SKU: row.SKU, Location: row.Location, Delta: row.Drift,
			Reason: "reconcile", ID: row.FixID}
		if _, err := s.submit(ctx, fix, d.Peers); err != nil {
			return row, fmt.Errorf("reconcile: applying %s at %s (adjust %s, delta %d): %w", row.SKU, row.Location, fix.ID, fix.Delta, err)
		}
	}
	now := s.cfg.Now().UTC()
	row.Decision, row.DecidedAt = want, &now
	run.Reported[i] = row
	if err := s.store.put(ctx, run); err != nil {
		return row, err
	}
	s.log.Info("reconcile: reported row decided", "run", run.ID, "sku", row.SKU, "location", row.Location,
		"decision", want, "drift", row.Drift)
	return row, nil
}
