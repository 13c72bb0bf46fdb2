package state

import "sync"

// offsetCell holds the newest offset handed in. SetOffset arrives from
// goka's producer callback goroutine while Set runs elsewhere, so it has its
// own lock; version lets writers tell whether it is already persisted.
type offsetCell struct {
	mu   sync.Mutex
	snap offsetSnap
}

type offsetSnap struct {
	value   int64
	set     bool
	version uint64
}

func (c *offsetCell) set(o int64) {
	c.mu.Lock()
	c.snap = offsetSnap{value: o, set: true, version: c.snap.version + 1}
	c.mu.Unlock()
}

func (c *offsetCell) snapshot() offsetSnap {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snap
}
