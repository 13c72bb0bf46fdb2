package reconcile

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/imports"
	"github.com/stocksync/stocksync/recon"
)

// MaxRows bounds an export: about 100 bytes of memory a row while the run
// goes on.
const MaxRows = 10_000_000

// Input is an export to reconcile.
type Input struct {
	Body   io.Reader // the export, read to its end by Start
	Format string    // imports.CSV or imports.JSONL; default CSV
	// Source is the snapshot source of the export; default the config's
	// (reconcile.source, "erp").
	Source string
	// Version of rows without their own; default 0: unknown, never stale.
	Version int64
	// Locations the export covers; default every configured one.
	Locations []string
	Trigger   string // TriggerAPI (default) or TriggerSchedule
	ID        string // the run's id; default a new one from the clock
	Peers     Peers  // reaches the owners of other instances' SKUs; default nil
}

// Start reads the export, keeps the new run (status running) and returns
// it; the run goes on in the background until done or failed. It returns
// ErrBusy while this instance runs another, ErrNoRows for an export
// without a good row, imports.ErrFormat for one that is not an export.
func (s *Service) Start(ctx context.Context, in Input) (Run, error) {
	select {
	case <-s.started:
	default:
		return Run{}, ErrNotRunning
	}
	if !s.busy.TryLock() {
		return Run{}, ErrBusy
	}
	run, rows, err := s.readExport(in)
	if err == nil {
		err = s.store.put(ctx, run)
	}
	if err != nil {
		s.busy.Unlock()
		return Run{}, err
	}
	started := run.Summary() // before the run goes on changing run
	runCtx := *s.ctx.Load()
	go func() {
		defer s.busy.Unlock()
		err := s.execute(runCtx, run, rows, in.Peers)
		s.end(runCtx, run, err)
	}()
	return started, nil
}

// readExport reads the export into sorted rows and the run that will compare them.
func (s *Service) readExport(in Input) (*Run, []recon.ExportRow, error) {
	if in.Format == "" {
		in.Format = imports.CSV
	}
	if in.Source == "" {
		in.Source = s.cfg.Settings.Source
	}
	if in.Trigger == "" {
		in.Trigger = TriggerAPI
	}
	if err := contract.CheckKey("source", in.Source); err != nil {
		return nil, nil, err
	}
	if in.Version < 0 {
		return nil, nil, &contract.InvalidError{Field: "version", Reason: fmt.Sprintf("%d is negative", in.Version)}
	}
	known := s.locations()
	for _, l := range in.Locations {
		if !slices.Contains(known, l) {
			return nil, nil, &contract.InvalidError{Field: "locations", Reason: fmt.Sprintf("%q is not configured (known: %v)", l, known)}
		}
	}
	now := s.cfg.Now().UTC()
	run := &Run{ID: in.ID, Status: Running, Trigger: in.Trigger, Source: in.Source, Instance: s.cfg.Instance, StartedAt: now,
		Thresholds: recon.Thresholds{MaxAbs: s.cfg.Settings.MaxAbs, MaxRel: s.cfg.Settings.MaxRel}, Locations: in.Locations}
	if run.ID == "" {
		run.ID = newID(now)
	}
	digest := sha256.New()
	sc, err := imports.NewScanner(io.TeeReader(in.Body, digest), in.Format, in.Source, in.Version)
	if err != nil {
		return nil, nil, err
	}
	var rows []recon.ExportRow
	for {
		row, err := sc.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reconcile: reading the export after %d rows: %w", len(rows), err)
		}
		if row.Bad != "" {
			run.Bad++
			if len(run.BadRows) < maxRowsKept {
				run.BadRows = append(run.BadRows, BadRow{Line: row.Line, Reason: row.Bad})
			}
			continue
		}
		if len(rows) == MaxRows {
			return nil, nil, &contract.InvalidError{Reason: fmt.Sprintf("the export has over %d rows: split it by location (?locations=)", MaxRows)}
		}
		m := row.Msg
		rows = append(rows, recon.ExportRow{SKU: m.SKU, Location: m.Location, OnHand: *m.OnHand, Version: m.Version})
	}
	if len(rows) == 0 {
		return nil, nil, fmt.Errorf("%w (%d bad rows)", ErrNoRows, run.Bad)
	}
	_, _ = io.Copy(digest, in.Body) // nothing left but what the scanner did not need
	run.Export = "sha256:" + hex.EncodeToString(digest.Sum(nil))
	slices.SortStableFunc(rows, func(a, b recon.ExportRow) int {
		return cmp.Or(cmp.Compare(a.SKU, b.SKU), cmp.Compare(a.Location, b.Location))
	})
	return run, rows, nil
}
