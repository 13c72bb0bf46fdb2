package reconcile

import "errors"

var (
	// ErrNotFound is returned for a run id, or a row of a run, that is not kept.
	ErrNotFound = errors.New("reconcile: not found")
	// ErrBusy is returned by Start while another run of this instance is going.
	ErrBusy = errors.New("reconcile: another run is going on this instance")
	// ErrDecided is returned when a reported row was applied and is
	// dismissed, or the other way round, or its run is still going.
	ErrDecided = errors.New("reconcile: the row is already decided")
	// ErrNothingToApply is returned for a reported row without a drift to
	// apply (a duplicate, an unknown location): dismiss it.
	ErrNothingToApply = errors.New("reconcile: the row has no drift to apply")
	// ErrNoRows is returned by Start when the export has no good row.
	ErrNoRows = errors.New("reconcile: the export has no good row")
	// ErrNotRunning is returned by Start before Run started the service.
	ErrNotRunning = errors.New("reconcile: the service is not running")
)
