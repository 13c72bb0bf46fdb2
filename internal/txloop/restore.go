package txloop

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stocksync/stocksync/state"
)

// errStale stops a follower whose store was last caught up longer than
// Config.StaleAfter ago; following again clears the store (clearIfStale).
var errStale = errors.New("the store was last caught up with its changelog longer ago than the changelog keeps tombstones; rebuilding it")

// stale says a store last caught up at at (zero: never recorded) may hold
// keys whose tombstones the changelog no longer has (Config.StaleAfter). A
// time ahead of the clock, as after the host's clock was set back, counts
// as stale too.
func (l *Loop) stale(at time.Time) bool {
	if l.cfg.StaleAfter <= 0 {
		return false
	}
	age := time.Since(at)
	return at.IsZero() || age >= l.cfg.StaleAfter || age < -time.Hour
}

// clearIfStale empties a store with data that is stale, in place (the
// store stays open: no other opener can meet a half-removed directory), so
// that it is restored from the changelog's start.
func (l *Loop) clearIfStale(p int32, st *state.Partition) (cleared bool, err error) {
	off, err := st.ChangelogOffset()
	if err != nil {
		return false, err
	}
	at, err := st.CaughtUpAt()
	if err != nil {
		return false, err
	}
	if off < 0 || !l.stale(at) {
		return false, nil // new, or recent enough
	}
	since := "never recorded"
	if !at.IsZero() {
		since = at.UTC().Format(time.RFC3339)
	}
	l.log.Warn("txloop: rebuilding a partition store from its changelog: it was last caught up longer ago than the changelog keeps deletes, so it may hold keys deleted since",
		"topic", l.cfg.Changelog, "partition", p, "caught_up", since, "stale_after", l.cfg.StaleAfter)
	return true, st.Clear()
}

// standbyMarkEvery is how often a standby that follows its changelog
// records that it is caught up (Partition.MarkCaughtUp).
const standbyMarkEvery = time.Minute

// restoreBatchBytes is how much of the changelog is written to the store in
// one batch while restoring.
const restoreBatchBytes = 1 << 20

// follow applies partition p's changelog to st from st's offset. Restoring
// (sb nil), it returns once st has every committed record and no
// transaction is open on the partition (an open one may be a paused former
// owner's: its records must be known aborted or committed before this
// member decides anything). As warm standby sb, it follows until ctx ends,
// and marks sb fresh once st has every record committed when it began: a
// store opened from disk after a restart may be hours behind, and reads are
// not answered from it before then (View). It never closes st.
func (l *Loop) follow(ctx context.Context, p int32, st *state.Partition, sb *standby) error {
	until := sb == nil
	fail := func(err error) error { return fmt.Errorf("restore %s[%d]: %w", l.cfg.Changelog, p, err) }
	if cleared, err := l.clearIfStale(p, st); err != nil {
		return fail(err)
	} else if cleared && sb != nil {
		sb.fresh.Store(false) // empty now: no reads until it is caught up again
	}
	from, err := st.ChangelogOffset()
	if err != nil {
		return fail(err)
	}
	marked, err := st.CaughtUpAt() // and, for a standby, when it last said so
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
	var blocked time.Time // since when only an open transaction keeps the restore from its end
	for {
		if !marked.IsZero() && l.stale(marked) {
			// A follower cut off from the brokers for a day would resume
			// where the changelog may have dropped tombstones: start again.
			if sb != nil {
				sb.fresh.Store(false)
			}
			return fail(errStale)
		}
		if sb != nil && (!sb.fresh.Load() || time.Since(marked) >= standbyMarkEvery) {
			// Every committed record read is as fresh as a read_committed
			// reader gets, an open transaction or not; a failed look is
			// taken again on the next round. The mark it leaves keeps the
			// store from being rebuilt needlessly when next opened
			// (Config.StaleAfter).
			at := time.Now()
			if pos, err := position(ctx, adm, l.cfg.Changelog, p, next); err == nil && pos != behind {
				sb.fresh.Store(true)
				if err := st.MarkCaughtUp(at); err != nil {
					return fail(err)
				}
				marked = at
			}
		}
		if until {
			at := time.Now()
			pos, err := position(ctx, adm, l.cfg.Changelog, p, next)
			if err != nil {
				return fail(err)
			}
			if pos == caughtUp {
				if err := st.MarkCaughtUp(at); err != nil {
					return fail(err)
				}
				l.log.Info("txloop: partition restored", "topic", l.cfg.Changelog, "partition", p, "records", applied,
					"took", time.Since(began).Round(time.Millisecond))
				return nil
			}
			switch {
			case pos != waitingForTransaction:
				blocked = time.Time{}
			case blocked.IsZero():
				blocked = time.Now()
			case time.Since(blocked) > fenceAfter:
				l.fenceOpen(ctx, adm, cl, p)
				blocked = time.Now() // once per fenceAfter at most
			}
		}
		wait := time.Second
		if !blocked.IsZero() {
			wait = fenceAfter / 4 // the abort marker ends the wait; the fence is due soon
		}
		pctx, cancel := context.WithTimeout(ctx, wait)
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

// restorePosition is where a restoring reader stands against its
// partition's end.
type restorePosition int

const (
	behind                restorePosition = iota // committed records to read, or the offsets unknown yet
	waitingForTransaction                        // every committed record read; a transaction is open
	caughtUp                                     // every committed record read, no transaction open (LSO = HWM ≤ next)
)

func position(ctx context.Context, adm *kadm.Client, topic string, p int32, next int64) (restorePosition, error) {
	hwm, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return behind, fmt.Errorf("end offsets: %w", err)
	}
	lso, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return behind, fmt.Errorf("stable offsets: %w", err)
	}
	h, ok1 := hwm.Lookup(topic, p)
	s, ok2 := lso.Lookup(topic, p)
	switch {
	case !ok1 || !ok2 || h.Err != nil || s.Err != nil:
		return behind, nil // a topic just created, a leader moving: ask again
	case s.Offset == h.Offset && next >= h.Offset:
		return caughtUp, nil
	case s.Offset < h.Offset && next >= s.Offset:
		return waitingForTransaction, nil
	}
	return behind, nil
}

// fenceAfter is how long a restore waits for a transaction open on its
// partition before it fences the producer that holds it. A live former
// owner ends its transaction before it rejoins the group (the range
// assignor is eager, and a cycle ending after a join aborts), so a
// transaction still open this long after the partition got its new owner
// is a dead or expelled member's: without the fence it stays open until
// the broker times it out (engine.transaction_timeout, and the
// coordinator's abort interval), which made takeovers after a SIGKILL up
// to 4 s.
const fenceAfter = 300 * time.Millisecond

// fenceOpen aborts the transactions open on the changelog partition by
// initializing their transactional ids anew, as Kafka's Admin.fenceProducers
// does: the coordinator ends an open transaction (a commit already prepared
// completes) and bumps the epoch, so its producer can write no more. A
// failure is logged; the broker's timeout remains.
func (l *Loop) fenceOpen(ctx context.Context, adm *kadm.Client, cl *kgo.Client, p int32) {
	described, err := adm.DescribeProducers(ctx, kadm.TopicsSet{l.cfg.Changelog: {p: {}}})
	var open []int64
	described.EachProducer(func(d kadm.DescribedProducer) {
		if d.CurrentTxnStartOffset >= 0 {
			open = append(open, d.ProducerID)
		}
	})
	var listed kadm.ListedTransactions
	if err == nil && len(open) > 0 {
		listed, err = adm.ListTransactions(ctx, open, []string{"Ongoing"})
	}
	if err != nil {
		l.log.Warn("txloop: finding the producer of a transaction open on a restored partition failed; waiting for the broker to time it out",
			"partition", p, "err", err)
		return
	}
	for id := range listed {
		if id == l.cfg.TransactionalID {
			continue
		}
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = &id
		req.TransactionTimeoutMillis = int32(l.cfg.TransactionTimeout.Milliseconds())
		req.ProducerID, req.ProducerEpoch = -1, -1
		resp, err := req.RequestWith(ctx, cl)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if err != nil && !errors.Is(err, kerr.ConcurrentTransactions) { // ending already
			l.log.Warn("txloop: fencing the producer of a transaction open on a restored partition failed; waiting for the broker to time it out",
				"partition", p, "transactional_id", id, "err", err)
			continue
		}
		l.log.Info("txloop: fenced a former owner's open transaction", "partition", p, "transactional_id", id)
	}
}
