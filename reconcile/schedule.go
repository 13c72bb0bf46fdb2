package reconcile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/stocksync/stocksync/imports"
)

// schedule runs the configured file at every slot of Settings.Schedule
// (multiples of Every since the epoch) until ctx ends. Every instance runs
// the same slot under the same id, "rc-<slot>-schedule": the runs overwrite
// one another's report, and the fixes, derived from the same export, apply
// once.
func (s *Service) schedule(ctx context.Context) {
	sc := s.cfg.Settings.Schedule
	if sc.Every.Duration == 0 || sc.File == "" {
		return
	}
	for {
		now := s.cfg.Now()
		next := now.Truncate(sc.Every.Duration).Add(sc.Every.Duration)
		select {
		case <-ctx.Done():
			return
		case <-time.After(next.Sub(now)):
		}
		if err := s.runFile(ctx, next); err != nil {
			s.log.Error("reconcile: the scheduled run did not start", "file", sc.File, "slot", next.UTC(), "err", err)
		}
	}
}

// runFile starts the scheduled run of slot.
func (s *Service) runFile(ctx context.Context, slot time.Time) error {
	sc := s.cfg.Settings.Schedule
	id := "rc-" + slot.UTC().Format("20060102T150405Z") + "-schedule"
	if _, err := s.Get(id); err == nil {
		return nil // another instance ran this slot
	}
	f, err := os.Open(sc.File)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	format := sc.Format
	if format == "" {
		format = imports.CSV
		if ext := filepath.Ext(sc.File); ext == ".jsonl" || ext == ".ndjson" {
			format = imports.JSONL
		}
	}
	version := sc.Version
	if version == 0 {
		version = st.ModTime().Unix()
	}
	_, err = s.Start(ctx, Input{Body: f, Format: format, Version: version, Trigger: TriggerSchedule, ID: id})
	if errors.Is(err, ErrBusy) {
		return errors.New("the previous run is still going: widen reconcile.schedule.every")
	}
	return err
}
