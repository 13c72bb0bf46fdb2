package txloop

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/state"
)

// restoreBatchBytes is how much of the changelog is written to the store in
// one batch while restoring.
const restoreBatchBytes = 1 << 20

// follow applies partition p's changelog to st from st's offset. Restoring
// (until = true), it returns once st has every committed record and no
// transaction is open on the partition (an open one may be a paused former
// owner's: its records must be known aborted or committed before this
// member decides anything). As a warm standby (until = false), it follows
// until ctx ends. It never closes st.
func (l *Loop) follow(ctx context.Context, p int32, st *state.Partition, until bool) error {
	fail := func(err error) error { return fmt.Errorf("restore %s[%d]: %w", l.cfg.Changelog, p, err) }
	from, err := st.ChangelogOffset()
	if err != nil {
		return fail(err)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(l.cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{l.cfg.Changelog: {p: kgo.NewOffset().At(from + 1)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers come as records, so the position is known
		// exactly even when the changelog ends with one.
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(100 * time.Millisecond),
	}, l.cfg.Opts...)...)
	if err != nil {
		return fail(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	next := from + 1
	began, applied := time.Now(), 0
	for {
		if until {
			done, err := caughtUp(ctx, adm, l.cfg.Changelog, p, next)
			if err != nil {
				return fail(err)
			}
			if done {
				l.log.Info("txloop: partition restored", "topic", l.cfg.Changelog, "partition", p, "records", applied,
					"took", time.Since(began).Round(time.Millisecond))
				return nil
			}
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fetches := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		var batch []state.Write
		size, last := 0, int64(-1)
		flush := func() error {
			if last < 0 {
				return nil
			}
			err := st.Apply(batch, last)
			batch, size = batch[:0], 0
			return err
		}
		var ferr error
		fetches.EachRecord(func(r *kgo.Record) {
			if ferr != nil {
				return
			}
			if r.Attrs.IsControl() {
				next = r.Offset + 1
				return
			}
			batch = append(batch, state.Write{Key: r.Key, Value: r.Value})
			size += len(r.Key) + len(r.Value)
			last, next = r.Offset, r.Offset+1
			applied++
			if size >= restoreBatchBytes {
				ferr = flush()
				last = -1
			}
		})
		if ferr == nil {
			ferr = flush()
		}
		if ferr != nil {
			return fail(ferr)
		}
	}
}

// caughtUp reports whether a reader at next has every committed record of
// the partition and no transaction is open on it (LSO = HWM ≤ next).
func caughtUp(ctx context.Context, adm *kadm.Client, topic string, p int32, next int64) (bool, error) {
	hwm, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return false, fmt.Errorf("end offsets: %w", err)
	}
	lso, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return false, fmt.Errorf("stable offsets: %w", err)
	}
	h, ok1 := hwm.Lookup(topic, p)
	s, ok2 := lso.Lookup(topic, p)
	if !ok1 || !ok2 || h.Err != nil || s.Err != nil {
		return false, nil // a topic just created, a leader moving: ask again
	}
	return s.Offset == h.Offset && next >= h.Offset, nil
}
