package txloop

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/state"
)

// Offline runs a Handler's cycles on stores without Kafka: no transaction,
// no changelog, the cycle's changes written to the stores at once. It
// measures what a handler itself costs, apart from the broker and the
// network (bench: BenchmarkEngineCycle).
type Offline struct {
	stores map[int32]*state.Partition
	offset int64 // stands in for the changelog's
}

// NewOffline runs cycles on stores, every partition ready.
func NewOffline(h Handler, stores map[int32]*state.Partition) *Offline {
	for p, st := range stores {
		h.Ready(p, st)
	}
	return &Offline{stores: stores}
}

// Cycle decides recs as a loop's cycle would (Process, then Tick at now),
// writes the cycle's changes to the stores, runs Committed, and returns
// the records the cycle emitted.
func (o *Offline) Cycle(h Handler, recs []*kgo.Record, now time.Time) ([]*kgo.Record, error) {
	c, err := o.decide(h, recs, now)
	if err != nil {
		return nil, err
	}
	o.offset++
	if err := c.apply(func(int32) int64 { return o.offset }); err != nil {
		return nil, err
	}
	h.Committed(c)
	return c.out, nil
}

// Abort decides recs as a cycle whose transaction then aborted: Process
// and Tick, then Aborted; the stores never see the cycle's changes.
func (o *Offline) Abort(h Handler, recs []*kgo.Record, now time.Time) error {
	c, err := o.decide(h, recs, now)
	if err != nil {
		return err
	}
	h.Aborted(c)
	return nil
}

// decide runs a cycle's Process and Tick.
func (o *Offline) decide(h Handler, recs []*kgo.Record, now time.Time) (*Cycle, error) {
	c := &Cycle{stores: o.stores, dirty: map[int32]map[string][]byte{}}
	if len(recs) > 0 {
		if err := h.Process(c, recs); err != nil {
			return nil, fmt.Errorf("txloop: processing %d records offline: %w", len(recs), err)
		}
	}
	if err := h.Tick(c, now); err != nil {
		return nil, fmt.Errorf("txloop: tick offline: %w", err)
	}
	return c, nil
}
