package txloop

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/state"
)

// Cycle is one transaction's view of the owned partitions: reads see the
// cycle's own writes first, then the stores; writes are kept until the
// transaction commits, and only the last value of each key goes to the
// changelog.
type Cycle struct {
	stores map[int32]*state.Partition
	dirty  map[int32]map[string][]byte // nil value: delete
	out    []*kgo.Record
	fenced bool
}

// Fenced reports that the loop's intake is fenced for a repartition
// (Loop.Fence): the handler leaves what time decides (expiry, retention)
// to the next generation, so the state stops changing once the messages
// between partitions have drained.
func (c *Cycle) Fenced() bool { return c.fenced }

// Store is partition p's store, nil when it is not owned here.
func (c *Cycle) Store(p int32) *state.Partition { return c.stores[p] }

// Owned reports whether partition p is owned here and ready.
func (c *Cycle) Owned(p int32) bool { return c.stores[p] != nil }

// Get returns the value of key in partition p, nil when absent. p must be
// owned.
func (c *Cycle) Get(p int32, key string) ([]byte, error) {
	if v, ok := c.dirty[p][key]; ok {
		return v, nil
	}
	st := c.stores[p]
	if st == nil {
		return nil, errNotOwned(p)
	}
	return st.Get([]byte(key))
}

// Put sets key in partition p; a nil value deletes it (a tombstone in the
// changelog).
func (c *Cycle) Put(p int32, key string, value []byte) {
	m := c.dirty[p]
	if m == nil {
		m = map[string][]byte{}
		c.dirty[p] = m
	}
	m[key] = value
}

// Emit produces r in the cycle's transaction.
func (c *Cycle) Emit(r *kgo.Record) { c.out = append(c.out, r) }

// Writes is how many keys the cycle changed.
func (c *Cycle) Writes() int {
	n := 0
	for _, m := range c.dirty {
		n += len(m)
	}
	return n
}

// apply writes the cycle's changes to the stores, each with the offset of
// the partition's last changelog record.
func (c *Cycle) apply(offset func(p int32) int64) error {
	// The loop is the changelog's only writer: with its own transaction
	// applied, a store has every record written so far.
	now := time.Now()
	for p, keys := range c.dirty {
		st := c.stores[p]
		if st == nil {
			continue
		}
		writes := make([]state.Write, 0, len(keys))
		for k, v := range keys {
			writes = append(writes, state.Write{Key: []byte(k), Value: v})
		}
		if err := st.ApplyCaughtUp(writes, offset(p), now); err != nil {
			return err
		}
	}
	return nil
}

type errNotOwned int32

func (e errNotOwned) Error() string {
	return "txloop: partition " + itoa(int32(e)) + " is not owned by this member"
}

func itoa(i int32) string {
	if i == 0 {
		return "0"
	}
	var b [11]byte
	n := len(b)
	neg := i < 0
	if neg {
		i = -i
	}
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	if neg {
		n--
		b[n] = '-'
	}
	return string(b[n:])
}
