// Package recon compares an ERP's full stock export with the engine's
// quantities at one cut and decides, row by row, what drifted: the small
// drifts become audited adjusts (reason "reconcile", an id derived from the
// run, SKU and location, so a re-run fixes nothing twice), the large ones
// are reported for an operator. It is pure: no Kafka, no clock. The rule is
// written out in docs/reconciliation.md; Compare is its one home.
package recon

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"

	"github.com/stocksync/stocksync/contract"
)

// EngineRow is the engine's state of one SKU at one location at the cut.
type EngineRow struct {
	SKU, Location string
	OnHand        int64 // physical units: the last snapshot plus adjusts, minus shipped
	Reserved      int64 // held by active reservations (still on the shelf)
	Committed     int64 // confirmed, not yet shipped (still on the shelf)
	// ERPVersion is the last snapshot version applied from the export's
	// source at this location; 0 for none.
	ERPVersion int64
	// InFlight says a feed message for this SKU was written before the cut
	// and is not applied at it: the row is left for the next run.
	InFlight bool
}

// ExportRow is one row of the ERP's export.
type ExportRow struct {
	SKU, Location string
	OnHand        int64 // physical units the ERP counts
	Version       int64 // the export's version (e.g. its unix time); 0: unknown
}

// Thresholds bound the drift fixed without an operator. A drift is fixed
// only within both; MaxRel 1 turns the relative one off.
type Thresholds struct {
	// MaxAbs is the largest |drift| in units fixed automatically; default 5.
	MaxAbs int64 `json:"max_abs"`
	// MaxRel is the largest |drift| as a share of the larger of the ERP's
	// and the engine's on_hand, fixed automatically; default 0.1.
	MaxRel float64 `json:"max_rel"`
}

// Config is one run.
type Config struct {
	// RunID names the run; the fixes' adjust ids derive from it. Required.
	RunID string
	// Source is the snapshot source of the export; default "erp".
	Source     string
	Thresholds Thresholds
	// Locations the export covers; engine rows elsewhere are not compared
	// and export rows elsewhere are reported. Default: every location.
	Locations []string
}

// Fill sets the defaults and checks c.
func (c *Config) Fill() error {
	if c.Source == "" {
		c.Source = "erp"
	}
	if c.Thresholds.MaxAbs == 0 {
		c.Thresholds.MaxAbs = 5
	}
	if c.Thresholds.MaxRel == 0 {
		c.Thresholds.MaxRel = 0.1
	}
	var errs []error
	if err := contract.CheckKey("run id", c.RunID); err != nil {
		errs = append(errs, err)
	}
	if c.Thresholds.MaxAbs < 0 {
		errs = append(errs, fmt.Errorf("recon: max_abs %d is negative", c.Thresholds.MaxAbs))
	}
	if math.IsNaN(c.Thresholds.MaxRel) || c.Thresholds.MaxRel < 0 || c.Thresholds.MaxRel > 1 {
		errs = append(errs, fmt.Errorf("recon: max_rel %g is outside [0, 1]", c.Thresholds.MaxRel))
	}
	return errors.Join(errs...)
}

// Class is what a row turned out to be.
type Class string

// Classes of a compared row.
const (
	InSync   Class = "in_sync"   // no drift under the rule
	Fixed    Class = "fixed"     // drift within the thresholds: Outcome.Fix corrects it
	Reported Class = "reported"  // drift an operator decides on; never applied silently
	Stale    Class = "stale"     // the engine holds a newer snapshot than the export: not compared
	InFlight Class = "in_flight" // a feed message was not applied at the cut: next run
)

// Reasons of a reported row.
const (
	OverThreshold   = "over_threshold"   // |drift| is over MaxAbs or MaxRel
	WouldShort      = "would_short"      // the fix would leave less than reserved + committed
	UnknownLocation = "unknown_location" // the export names a location the run does not cover
	Duplicate       = "duplicate"        // the export lists the SKU at the location twice
)

// Outcome is the verdict on one SKU at one location.
type Outcome struct {
	SKU       string                `json:"sku"`
	Location  string                `json:"location"`
	ERP       int64                 `json:"erp_on_hand"`
	OnHand    int64                 `json:"on_hand"`
	Reserved  int64                 `json:"reserved"`
	Committed int64                 `json:"committed"`
	Drift     int64                 `json:"drift"`
	Class     Class                 `json:"class"`
	Reason    string                `json:"reason,omitempty"`
	Fix       *contract.FeedMessage `json:"-"` // the adjust of a Fixed row
}

// AdjustID is the id of the fix of a SKU at a location in a run: the same
// run sending it again changes nothing (the engine applies an id once).
func AdjustID(runID, sku, location string) string {
	h := sha256.New()
	for _, s := range []string{runID, sku, location} {
		h.Write([]byte(s))
		h.Write([]byte{0}) // keeps ("ab","c") apart from ("a","bc")
	}
	return "reconcile-" + hex.EncodeToString(h.Sum(nil))[:40]
}

// Compare applies the rule of docs/reconciliation.md to one SKU at one
// location. e is nil when the engine has no row (all zero), x when the
// export has none (it holds no stock there). cfg must be filled.
func Compare(cfg *Config, e *EngineRow, x *ExportRow) Outcome {
	var o Outcome
	var version int64
	if e != nil {
		o = Outcome{SKU: e.SKU, Location: e.Location, OnHand: e.OnHand, Reserved: e.Reserved, Committed: e.Committed}
	}
	if x != nil {
		o.SKU, o.Location, o.ERP, version = x.SKU, x.Location, x.OnHand, x.Version
	}
	switch {
	case e != nil && e.InFlight:
		o.Class = InFlight
		return o
	case e != nil && x != nil && version != 0 && version < e.ERPVersion:
		o.Class = Stale
		return o
	}
	// The ERP may already have booked the shipment of confirmed units the
	// engine still holds: any count in [on_hand − committed, on_hand] agrees.
	low, high := o.OnHand-o.Committed, o.OnHand
	switch {
	case o.ERP > high:
		o.Drift = o.ERP - high
	case o.ERP < low:
		o.Drift = o.ERP - low
	default:
		o.Class = InSync
		return o
	}
	o.Class = Reported
	base := max(o.ERP, o.OnHand)
	switch {
	case o.OnHand+o.Drift < o.Reserved+o.Committed:
		o.Reason = WouldShort
	case abs(o.Drift) > cfg.Thresholds.MaxAbs || float64(abs(o.Drift)) > cfg.Thresholds.MaxRel*float64(base):
		o.Reason = OverThreshold
	default:
		o.Class = Fixed
		o.Fix = &contract.FeedMessage{Type: contract.Adjust, SKU: o.SKU, Location: o.Location, Delta: o.Drift,
			Reason: "reconcile", ID: AdjustID(cfg.RunID, o.SKU, o.Location)}
	}
	return o
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
