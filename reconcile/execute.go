package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/recon"
)

// progressEvery is how many SKUs pass between updates of a running run's
// figures on this instance (other instances see them when it ends).
const progressEvery = 1000

// unavailableFor is how long a SKU may stay unreadable (its partition
// moving, the engine recovering) before the run fails.
const unavailableFor = 30 * time.Second

// execute compares the export, SKU by SKU, with the engine and sends the
// fixes; run's figures and rows are filled in as it goes.
func (s *Service) execute(ctx context.Context, run *Run, rows []recon.ExportRow, peers Peers) error {
	cfg := recon.Config{RunID: run.Export, Source: run.Source, Thresholds: run.Thresholds, Locations: run.Locations}
	if len(cfg.Locations) == 0 {
		cfg.Locations = s.locations()
	}
	if err := cfg.Fill(); err != nil {
		return err
	}
	rep := recon.Report{}
	skus := 0
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && rows[j].SKU == rows[i].SKU {
			j++
		}
		outs, err := s.reconcileSKU(ctx, &cfg, rows[i:j], peers)
		if err != nil {
			return err
		}
		for _, o := range outs {
			rep.Add(o)
		}
		trim(&rep, run) // moves the rows Add kept into run, bounded
		if skus++; skus%progressEvery == 0 {
			run.Counts = counts(&rep)
			s.store.apply(run.clone())
		}
		i = j
	}
	run.Counts = counts(&rep)
	return nil
}

// trim moves the rows recon.Report collected into run, up to maxRowsKept
// of each kind.
func trim(rep *recon.Report, run *Run) {
	for _, o := range rep.FixedRows {
		if len(run.Fixed) == maxRowsKept {
			run.Truncated = true
			break
		}
		run.Fixed = append(run.Fixed, Row{Outcome: o, FixID: o.Fix.ID})
	}
	for _, o := range rep.ReportedRows {
		if len(run.Reported) == maxRowsKept {
			run.Truncated = true
			break
		}
		row := Row{Outcome: o, Decision: Open}
		if o.Drift != 0 {
			row.FixID = recon.AdjustID(run.Export, o.SKU, o.Location)
		}
		run.Reported = append(run.Reported, row)
	}
	rep.FixedRows, rep.ReportedRows = rep.FixedRows[:0], rep.ReportedRows[:0]
}

// reconcileSKU compares one SKU's rows of the export with one read of its
// ledger and sends the fixes. Before a fix, the SKU is read again: a
// location whose on_hand or snapshot versions moved between the reads is
// in flight (class in_flight), left for the next run; one whose
// reservations moved is compared again on the newer read.
func (s *Service) reconcileSKU(ctx context.Context, cfg *recon.Config, xs []recon.ExportRow, peers Peers) ([]recon.Outcome, error) {
	sku := xs[0].SKU
	first, err := s.read(ctx, sku, cfg.Source, peers)
	if err != nil {
		return nil, err
	}
	outs, err := recon.Outcomes(*cfg, first, xs)
	if err != nil {
		return nil, err
	}
	if !anyFixed(outs) {
		return outs, nil
	}
	second, err := s.read(ctx, sku, cfg.Source, peers)
	if err != nil {
		return nil, err
	}
	for i := range second {
		for _, f := range first {
			if f.Location == second[i].Location && (f.OnHand != second[i].OnHand || f.ERPVersion != second[i].ERPVersion) {
				second[i].InFlight = true
			}
		}
	}
	if outs, err = recon.Outcomes(*cfg, second, xs); err != nil {
		return nil, err
	}
	for i, o := range outs {
		if o.Fix == nil {
			continue
		}
		ans, err := s.submit(ctx, *o.Fix, peers)
		if err != nil {
			return nil, fmt.Errorf("reconcile: fixing %s at %s (adjust %s, delta %d): %w", o.SKU, o.Location, o.Fix.ID, o.Fix.Delta, err)
		}
		if ans.Ignored {
			// This export's fix was applied before, by an earlier run of
			// the same export, and the SKU moved on since: the export is
			// older than the engine's state, like a stale one.
			outs[i].Class, outs[i].Drift, outs[i].Fix = recon.Stale, 0, nil
		}
	}
	return outs, nil
}

func anyFixed(outs []recon.Outcome) bool {
	for _, o := range outs {
		if o.Class == recon.Fixed {
			return true
		}
	}
	return false
}

// read is the engine's side of a SKU: a row per location, with the export
// source's snapshot version. An unknown SKU has no rows.
func (s *Service) read(ctx context.Context, sku, source string, peers Peers) ([]recon.EngineRow, error) {
	var view contract.StockView
	err := s.retry(ctx, func() error {
		var err error
		view, err = s.cfg.Engine.Stock(ctx, sku)
		var owner *contract.NotOwnerError
		if errors.As(err, &owner) {
			if peers == nil {
				return fmt.Errorf("reconcile: SKU %q is owned by the instance at %s, which a scheduled run cannot ask: reconcile on demand (POST /v1/reconciliations) on a multi-instance deployment", sku, owner.Owner)
			}
			view, err = peers.Stock(ctx, owner.Owner, sku)
		}
		return err
	})
	if errors.Is(err, contract.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reconcile: reading SKU %q: %w", sku, err)
	}
	rows := make([]recon.EngineRow, 0, len(view.Locations))
	for _, l := range view.Locations {
		rows = append(rows, recon.EngineRow{SKU: sku, Location: l.Location, OnHand: l.OnHand, Reserved: l.Reserved,
			Committed: l.Committed, ERPVersion: l.Versions[source]})
	}
	return rows, nil
}

// submit sends a fix and waits until the engine applied it (or durably
// queued it: "accepted").
func (s *Service) submit(ctx context.Context, msg contract.FeedMessage, peers Peers) (contract.FeedAnswer, error) {
	var ans contract.FeedAnswer
	err := s.retry(ctx, func() error {
		var err error
		ans, err = s.cfg.Engine.SubmitFeed(ctx, msg)
		var owner *contract.NotOwnerError
		if errors.As(err, &owner) {
			if peers == nil {
				return fmt.Errorf("SKU %q is owned by the instance at %s, which this run cannot ask", msg.SKU, owner.Owner)
			}
			ans, err = peers.SubmitFeed(ctx, owner.Owner, msg)
		}
		return err
	})
	return ans, err
}

// retry calls f until it returns anything but contract.ErrUnavailable, or
// unavailableFor passed.
func (s *Service) retry(ctx context.Context, f func() error) error {
	deadline := s.cfg.Now().Add(unavailableFor)
	wait := 50 * time.Millisecond
	for {
		err := f()
		if !errors.Is(err, contract.ErrUnavailable) || s.cfg.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}
