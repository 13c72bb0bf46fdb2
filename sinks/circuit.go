package sinks

import (
	"time"

	"github.com/stocksync/stocksync/contract"
)

// circuit stops requests to a marketplace that keeps failing: after
// failuresToOpen consecutive failures it opens for a pause that doubles up to
// maxOpen; then one probe request decides whether it closes again.
type circuit struct {
	failures  int
	openUntil time.Time
	pause     time.Duration
	probing   bool
}

const (
	failuresToOpen = 5
	minOpen        = time.Second
	maxOpen        = 30 * time.Second
)

// State is closed, open or half-open.
func (c *circuit) State(now time.Time) contract.Circuit {
	switch {
	case c.failures < failuresToOpen:
		return contract.CircuitClosed
	case now.Before(c.openUntil):
		return contract.CircuitOpen
	}
	return contract.CircuitHalfOpen
}

// allow reports whether a request may go now; in half-open only one probe.
func (c *circuit) allow(now time.Time) bool {
	switch c.State(now) {
	case contract.CircuitClosed:
		return true
	case contract.CircuitOpen:
		return false
	}
	if c.probing {
		return false
	}
	c.probing = true
	return true
}

func (c *circuit) success() {
	c.failures, c.pause, c.probing = 0, 0, false
}

func (c *circuit) failure(now time.Time) {
	c.failures++
	c.probing = false
	if c.failures >= failuresToOpen {
		c.pause = min(max(c.pause*2, minOpen), maxOpen)
		c.openUntil = now.Add(c.pause)
	}
}
