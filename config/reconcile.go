package config

import (
	"math"
	"path/filepath"
	"time"
)

// Reconcile configures reconciliation (docs/reconciliation.md): the
// thresholds under which drift is fixed without an operator, the runs kept,
// and an optional schedule.
type Reconcile struct {
	// MaxAbs is the largest drift, in units, fixed without an operator;
	// default 5.
	MaxAbs int64 `yaml:"max_abs"`
	// MaxRel is the largest drift as a share of the larger of the ERP's and
	// the engine's on_hand fixed without an operator, in (0, 1]; default
	// 0.1. 1 turns it off.
	MaxRel float64 `yaml:"max_rel"`
	// Source is the snapshot source the exports come from; default "erp".
	Source string `yaml:"source"`
	// Keep is how many runs <prefix>recon.reports keeps (older ones are
	// deleted); default 100.
	Keep int `yaml:"keep"`
	// Schedule runs a reconciliation of a file at a fixed interval; off
	// unless every and file are set.
	Schedule ReconcileSchedule `yaml:"schedule"`
}

// ReconcileSchedule is a reconciliation run every Every of the export the
// ERP leaves at File.
type ReconcileSchedule struct {
	// Every is the interval between runs, at least 1m; default 0: no
	// schedule. Runs start at multiples of it since the Unix epoch, so
	// every instance picks the same slots (and the same report id).
	Every Duration `yaml:"every"`
	// File is the export's path on every instance (a shared volume).
	File string `yaml:"file"`
	// Format is csv or jsonl; default from the extension (.jsonl, .ndjson:
	// jsonl; else csv).
	Format string `yaml:"format"`
	// Version of rows without their own; default 0: the file's
	// modification time in Unix seconds.
	Version int64 `yaml:"version"`
}

// Defaults fills the zero fields of r.
func (r *Reconcile) Defaults() {
	if r.MaxAbs == 0 {
		r.MaxAbs = 5
	}
	if r.MaxRel == 0 {
		r.MaxRel = 0.1
	}
	if r.Source == "" {
		r.Source = "erp"
	}
	if r.Keep == 0 {
		r.Keep = 100
	}
}

func (r *Reconcile) validate(bad func(path, format string, args ...any)) {
	if r.MaxAbs < 0 {
		bad("reconcile.max_abs", "%d is negative", r.MaxAbs)
	}
	if math.IsNaN(r.MaxRel) || r.MaxRel < 0 || r.MaxRel > 1 {
		bad("reconcile.max_rel", "%g is outside (0, 1]", r.MaxRel)
	}
	if r.Keep < 1 || r.Keep > 10000 {
		bad("reconcile.keep", "%d is outside 1..10000", r.Keep)
	}
	s := r.Schedule
	switch {
	case s.Every.Duration == 0 && s.File == "":
	case s.Every.Duration < time.Minute:
		bad("reconcile.schedule.every", "%s is below 1m (set it with file, or neither)", s.Every)
	case s.File == "":
		bad("reconcile.schedule.file", "name the export to reconcile every %s", s.Every)
	case !filepath.IsAbs(s.File):
		bad("reconcile.schedule.file", "%q must be an absolute path", s.File)
	}
	if s.Format != "" && s.Format != "csv" && s.Format != "jsonl" {
		bad("reconcile.schedule.format", "%q is not one of csv, jsonl", s.Format)
	}
	if s.Version < 0 {
		bad("reconcile.schedule.version", "%d is negative", s.Version)
	}
}
