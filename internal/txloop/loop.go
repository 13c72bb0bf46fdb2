// Package txloop runs a consumer group whose owned partitions are processed
// in Kafka transactions, one cycle at a time, with each partition's state in
// a Pebble store backed by a compacted changelog topic (docs/design.md, "One
// cycle"). A cycle polls the inputs of every owned partition, lets the
// Handler decide them against an overlay of the stores, produces the
// Handler's records and the changed keys of the changelog (the last value of
// each key only) in one transaction with the input offsets, and writes the
// overlay to the stores once the transaction committed. An aborted cycle
// leaves no trace: the overlay is dropped and the inputs are read again.
//
// A partition assigned to this member is paused until its store has caught
// up with the changelog (read_committed, until no transaction is open on it),
// so it is never decided against a stale state.
package txloop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stocksync/stocksync/internal/kgolog"
	"github.com/stocksync/stocksync/state"
)

// Handler is the processor a Loop runs. Its methods are never called at the
// same time.
type Handler interface {
	// Process decides one cycle's records, all of partitions that are
	// ready, reading and writing state through c.
	Process(c *Cycle, recs []*kgo.Record) error
	// Ready says a partition's store has caught up and its records follow;
	// Gone says the partition left this member (revoked or lost).
	Ready(partition int32, st *state.Partition)
	Gone(partition int32)
	// Committed runs after a cycle's transaction committed and its writes
	// reached the stores, or after a cycle that had nothing to commit: the
	// place to answer in-process callers.
	Committed(c *Cycle)
	// Tick runs at the end of every cycle, and every TickInterval when no
	// record comes: the place for what time decides (expiry).
	Tick(c *Cycle, now time.Time) error
	// Aborted runs after a cycle's transaction aborted: whatever the handler
	// derived from the cycle is void; the stores never saw it.
	Aborted(c *Cycle)
}

// Config configures a Loop. Zero fields take the defaults stated on them.
type Config struct {
	Brokers []string // required
	Group   string   // consumer group; required
	// TransactionalID names this member's producer; keep it stable across
	// restarts of one instance so a restart fences its previous
	// incarnation at once. Required.
	TransactionalID string
	Inputs          []string // input topics, co-partitioned; required
	// Intake are the inputs a fence stops (Fence): new work from outside,
	// as opposed to the messages between partitions, which a fenced loop
	// still decides so that they drain. Default none.
	Intake []string
	// FenceMarker, if set, is asked whether a fence marker (a record with
	// the header FenceHeader on an input) fences the loop; default yes. The
	// id is the header's value.
	FenceMarker func(id string) bool
	Changelog   string // the compacted changelog topic; required
	Partitions  int32  // of every topic; required
	Dir         string // parent of the partition stores; required
	// TransactionTimeout bounds how long a transaction of a dead member
	// blocks its partitions for read_committed readers; default 10s.
	TransactionTimeout time.Duration
	// SessionTimeout is how long the group waits for a silent member
	// before its partitions move: the failure detection of a takeover.
	// The broker bounds it (group.min.session.timeout.ms, 6s by default);
	// default 6s. Heartbeats go every sixth of it.
	SessionTimeout time.Duration
	// TickInterval is the longest a member waits for records before it runs
	// Handler.Tick anyway; default 250ms.
	TickInterval time.Duration
	// Standby keeps every partition not owned here warm: its store follows
	// the changelog, so a takeover only catches up the last records, and
	// View reads any partition from this instance's own state. It costs
	// every partition's state on every instance.
	Standby bool
	// StaleAfter rebuilds from scratch a store that was last caught up
	// with its changelog longer ago than this (or never recorded when),
	// before it follows the changelog again: the changelog keeps a
	// tombstone only delete.retention.ms, so such a store may hold keys
	// deleted since, which no replay from its offset would delete. Set it
	// below the changelog's delete.retention.ms (the clocks of the
	// brokers and this host differ). Default 0: never.
	StaleAfter time.Duration
	Logger     *slog.Logger // default slog.Default()
	// Metrics of the cycles; nil for none.
	Metrics *Metrics
	Opts    []kgo.Opt // TLS, SASL, more options, appended last
	Handler Handler   // required
}

// Loop is one member of the group.
type Loop struct {
	cfg    Config
	log    *slog.Logger
	client *kgo.Client // the member's consumer and transactional producer
	// implicitOffsets: the brokers add the group's offsets to a transaction
	// at its TxnOffsetCommit (transaction version 2), so no AddOffsetsToTxn.
	implicitOffsets bool

	mu        sync.Mutex
	stores    map[int32]*state.Partition // ready partitions
	restoring map[int32]*restoreJob
	standby   map[int32]*standby // warm stores of partitions not owned here (Config.Standby)
	closed    bool               // the member stopped: no new standby
	fenced    bool               // intake paused for a repartition (Fence)
	leaving   bool               // the client is closing: its revoke follows no committed cycle
	// joins counts the member's joins of the group (joinWatch); owned is
	// its value when the stores were last matched to an assignment. They
	// differ from the moment a rebalance began until its assignment
	// arrived: a cycle that ends in that window is aborted, since the
	// stores it decided with may already belong to another member.
	joins atomic.Int64
	owned int64
	// committed is when a cycle last committed: a session that failed
	// after it was a new incident (another broker restart), not the same
	// failure again, and its member rejoins after the shortest pause.
	committed time.Time
}

// standby is a store following its changelog while another member owns the
// partition; stop hands the store back once the follower returned.
type standby struct {
	st     *state.Partition
	cancel context.CancelFunc
	done   chan struct{}
	// fresh is set once the store has caught up with its changelog since
	// it was opened; View answers reads from it only then.
	fresh atomic.Bool
}

func (s *standby) stop() *state.Partition {
	s.cancel()
	<-s.done
	return s.st
}

// restoreJob is one restore of a partition; a partition revoked and
// assigned again while its first restore winds down gets a new job, and
// only the current job's result counts.
type restoreJob struct{ cancel context.CancelFunc }

type restored struct {
	job       *restoreJob
	partition int32
	store     *state.Partition
	err       error
}

// New checks cfg; Run starts the member.
func New(cfg Config) (*Loop, error) {
	var errs []error
	if len(cfg.Brokers) == 0 || cfg.Group == "" || cfg.TransactionalID == "" || len(cfg.Inputs) == 0 ||
		cfg.Changelog == "" || cfg.Partitions <= 0 || cfg.Dir == "" || cfg.Handler == nil {
		errs = append(errs, errors.New("txloop: Brokers, Group, TransactionalID, Inputs, Changelog, Partitions, Dir and Handler are required"))
	}
	if cfg.TransactionTimeout == 0 {
		cfg.TransactionTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// franz-go's warnings (a broker unreachable, a fetch refused) in the
	// instance's log; its joins and transactions too at debug.
	cfg.Opts = append([]kgo.Opt{kgo.WithLogger(kgolog.New(cfg.Logger))}, cfg.Opts...)
	if cfg.Metrics != nil {
		cfg.Opts = append(cfg.Opts, kgo.WithHooks(cfg.Metrics))
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 6 * time.Second
	}
	if cfg.TickInterval == 0 {
		cfg.TickInterval = 250 * time.Millisecond
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Loop{cfg: cfg, log: cfg.Logger, stores: map[int32]*state.Partition{}, restoring: map[int32]*restoreJob{},
		standby: map[int32]*standby{}}, nil
}

// Status counts the partitions owned here that are ready and those still
// restoring.
func (l *Loop) Status() (ready, restoring int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.stores), len(l.restoring)
}

// Store is the ready store of a partition owned here, or nil; for reads.
func (l *Loop) Store(partition int32) *state.Partition {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stores[partition]
}

// View is the store of any partition this instance keeps: owned and ready,
// or a warm standby that has caught up since it was opened (Config.Standby;
// a standby trails its owner by the time a fetch takes). Nil when neither:
// the caller asks the owner.
func (l *Loop) View(partition int32) *state.Partition {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.stores[partition]; st != nil {
		return st
	}
	if s := l.standby[partition]; s != nil && s.fresh.Load() {
		return s.st
	}
	return nil
}

// Run is the member's life: join, restore, decide cycle after cycle, until
// ctx ends or the producer fails for good.
func (l *Loop) Run(ctx context.Context) error {
	if l.cfg.Standby {
		go l.warmAll(ctx)
	}
	defer l.closeAll()
	pause := time.Second
	for {
		began := time.Now()
		err := l.member(ctx)
		var lost *sessionError
		switch {
		case ctx.Err() != nil:
			return nil
		case !errors.As(err, &lost):
			return err
		}
		l.mu.Lock()
		worked := l.committed.After(began)
		l.mu.Unlock()
		if worked {
			pause = time.Second
		}
		l.log.Warn("txloop: the transactional session failed (is the broker restarting or unreachable?); joining again with a new one",
			"in", pause, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
		pause = min(2*pause, 30*time.Second)
	}
}

// sessionError is a failure of the transactional session itself (a
// transaction that could not begin or end): the member leaves the group and
// joins again with a new session. Whatever the failed cycle decided was
// never applied to the stores; if its transaction did commit, the stores
// catch up from the changelog when their partitions come back.
type sessionError struct{ err error }

func (e *sessionError) Error() string { return e.err.Error() }
func (e *sessionError) Unwrap() error { return e.err }

// member is one membership of the group, from joining to leaving.
func (l *Loop) member(ctx context.Context) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(l.cfg.Brokers...),
		kgo.ConsumerGroup(l.cfg.Group),
		kgo.ConsumeTopics(l.cfg.Inputs...),
		kgo.TransactionalID(l.cfg.TransactionalID),
		kgo.TransactionTimeout(l.cfg.TransactionTimeout),
		kgo.SessionTimeout(l.cfg.SessionTimeout),
		kgo.HeartbeatInterval(max(l.cfg.SessionTimeout/6, 100*time.Millisecond)),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// A fetch in flight is not re-sent when partitions resume (a
		// restore done, a fence lifted): with franz-go's default of 5s, a
		// resumed partition waited up to 5s behind a long poll of the
		// others. 100ms bounds that wait and the idle fetch rate alike.
		kgo.FetchMaxWait(100 * time.Millisecond),
		// A produce refused with a retriable error (CONCURRENT_TRANSACTIONS
		// when a cycle writes to a partition whose previous transaction's
		// markers are still being written, KIP-890) is retried only after a
		// metadata update, and franz-go spaces those 5s apart by default:
		// a cycle then stalled up to 5s (seen in the soak as expiries 3s
		// late, and in the benchmark as a 4s stop). Updates are cheap;
		// 100ms bounds that stall.
		kgo.MetadataMinAge(metadataMinAge),
		kgo.RequireStableFetchOffsets(),
		// The loop commits its input offsets in its transactions, never
		// otherwise (offsets.go).
		kgo.DisableAutoCommit(),
		kgo.MaxVersions(clientVersions()),
		kgo.BlockRebalanceOnPoll(),
		// Partition p of every input must belong to the same member: the
		// store of partition p serves them all. The range balancer gives
		// co-partitioned topics the same assignment; the cooperative-sticky
		// default balances each topic on its own and does not.
		kgo.Balancers(joinWatch{kgo.RangeBalancer(), &l.joins}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), // a new group reads everything: nothing accepted is skipped
		// A cycle produces its records together and then flushes, and a
		// flush sends at once whatever the linger: with a linger longer
		// than the producing, a cycle's records leave in one produce
		// request. With no linger they left in 2.4–2.7 (franz-go sends
		// what is buffered as soon as a request may go, while the rest is
		// still being produced). The broker's cost is per request, and a
		// request with partitions new to the transaction also costs it a
		// check with the coordinator (KIP-890).
		kgo.ProducerLinger(cycleLinger),
		kgo.RecordPartitioner(partitioner{manual: map[string]bool{l.cfg.Changelog: true}}),
		kgo.OnPartitionsAssigned(l.assigned),
		kgo.OnPartitionsRevoked(l.revoked),
		kgo.OnPartitionsLost(l.lost),
	}, l.cfg.Opts...)...)
	if err != nil {
		return fmt.Errorf("txloop: %w", err)
	}
	implicit, err := implicitOffsets(ctx, cl)
	if err != nil {
		cl.Close()
		return err
	}
	l.mu.Lock()
	l.client, l.implicitOffsets = cl, implicit
	if l.fenced && len(l.cfg.Intake) > 0 {
		cl.PauseFetchTopics(l.cfg.Intake...)
	}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		for p, job := range l.restoring {
			job.cancel()
			delete(l.restoring, p)
		}
		l.leaving = true // the revoke that closing reports is not between committed cycles
		l.mu.Unlock()
		cl.CloseAllowingRebalance() // BlockRebalanceOnPoll: a plain Close would wait for AllowRebalance
		l.dropAll()
		l.mu.Lock()
		l.leaving = false
		l.mu.Unlock()
	}()
	for ctx.Err() == nil {
		began := time.Now()
		pctx, cancel := context.WithTimeout(ctx, l.cfg.TickInterval)
		fetches := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		polled := time.Now()
		l.fetchErrors(fetches)
		recs := fetches.Records()
		if len(recs) > 0 && !slices.ContainsFunc(recs, isFenceMarker) { // what came after a marker is the fence's
			recs = append(recs, l.fresh(ctx, cl)...)
		}
		if err := l.cycle(ctx, recs, stages{wait: polled.Sub(began), fresh: time.Since(polled)}); err != nil {
			if ctx.Err() != nil {
				return nil // stopping: the cycle's transaction was aborted or completed
			}
			return err
		}
		cl.AllowRebalance()
	}
	return nil
}

// metadataMinAge is the shortest time between two metadata updates of the
// loop's client (franz-go's default is 5s); see member.
const metadataMinAge = 100 * time.Millisecond

// cycleLinger is longer than a cycle takes to produce its records. Should
// a cycle produce for longer (a load fanned out to tens of thousands of
// records), it bounds how long a partly filled batch waits meanwhile; a
// full batch leaves at once, and takes the others of its broker along.
const cycleLinger = 20 * time.Millisecond

// freshWait bounds the second poll of a cycle (fresh): about a fetch's
// round trip on a busy broker, so it returns what arrived, and costs at
// most this when nothing did. In closed loop it nearly always runs out
// (the clients wait for this cycle's answers), so it is paid on every
// cycle: 1 ms decided 7–10 % more orders a second than 2 ms (three
// interleaved pairs, bench/README.md round 9), at the same CPU per order;
// 0.5 ms was no better than 1 ms.
const freshWait = 1 * time.Millisecond

// fresh polls once more, briefly, for the records that arrived while the
// previous cycle ran. franz-go keeps one fetch per broker buffered and
// sends the next only once that one is polled, so the records a poll
// returns were fetched as the previous cycle began: without this, a
// command that arrived during a cycle waited for the whole next cycle too
// (flash sale, 128 clients, real broker: from a command's produce to the
// engine's poll 5–21 ms at p50, 2–3 ms with this; bench/README.md).
func (l *Loop) fresh(ctx context.Context, cl *kgo.Client) []*kgo.Record {
	pctx, cancel := context.WithTimeout(ctx, freshWait)
	defer cancel()
	fetches := cl.PollFetches(pctx)
	l.fetchErrors(fetches)
	return fetches.Records()
}

// fetchErrors logs the errors of a poll, but not its timeout.
func (l *Loop) fetchErrors(fetches kgo.Fetches) {
	fetches.EachError(func(t string, p int32, err error) {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			l.log.Warn("txloop: fetch error", "topic", t, "partition", p, "err", err)
		}
	})
}

// cycle decides recs in one transaction. A cycle that cannot commit is
// aborted and its inputs come again; an error returned is fatal. st has
// the polls' times; the cycle adds its own.
func (l *Loop) cycle(ctx context.Context, recs []*kgo.Record, st stages) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	decided := time.Now()
	inputs := inputsOf(recs) // fence markers included: their offsets must commit
	recs = l.markers(recs)
	c := &Cycle{stores: l.stores, dirty: map[int32]map[string][]byte{}, fenced: l.fenced}
	if len(recs) > 0 {
		if err := l.cfg.Handler.Process(c, recs); err != nil {
			return fmt.Errorf("txloop: processing %d records: %w", len(recs), err)
		}
	}
	if err := l.cfg.Handler.Tick(c, time.Now()); err != nil {
		return fmt.Errorf("txloop: tick: %w", err)
	}
	if len(inputs) == 0 && len(c.out) == 0 && len(c.dirty) == 0 {
		l.cfg.Handler.Committed(c) // nothing to commit: what it read stands as it was
		return nil
	}
	if len(inputs) > 0 && len(c.out) == 0 && len(c.dirty) == 0 {
		c.Put(firstPartition(inputs), emptyCycleKey, nil) // see emptyCycleKey
	}
	// Begin only now: the cycle's writes and outputs were buffered.
	began := time.Now()
	st.decide = began.Sub(decided)
	if err := l.client.BeginTransaction(); err != nil {
		l.cfg.Handler.Aborted(c) // what it decided is void
		return &sessionError{fmt.Errorf("txloop: begin a transaction: %w", err)}
	}
	// Every record's outcome is checked before the commit: a record that
	// failed (a topic not yet known to a broker that just started, a
	// message too large) must abort the transaction, or its input offsets
	// would commit without it.
	// A cycle that began finishes even when ctx ends meanwhile (shutdown):
	// its records are produced and its transaction ended on a context that
	// outlives the stop (franz-go fails a record whose context ends, and a
	// cancelled end leaves the transaction to time out).
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.cfg.TransactionTimeout)
	defer cancel()
	failed := &produceErr{}
	for _, r := range c.out {
		l.client.Produce(ectx, r, failed.promise)
	}
	offsets := l.produceChangelog(ectx, c, failed)
	try := kgo.TryCommit
	flushErr := l.client.Flush(ectx)
	st.produce = time.Since(began)
	if err := flushErr; err != nil || failed.get() != nil {
		l.log.Warn("txloop: a record of the cycle failed; aborting its transaction", "records", len(recs), "err", errors.Join(err, failed.get()))
		try = kgo.TryAbort
	}
	ending := time.Now()
	switch {
	case try == kgo.TryAbort:
	case len(inputs) > 0:
		// Only once the records are acknowledged: the broker checks the
		// transaction with its coordinator for the commit as for a
		// produce (KIP-890), and two checks of one transaction at once
		// held one of them 200–300 ms in a tenth of the cycles.
		if err := l.txnOffsetCommit(ectx, inputs); err != nil {
			l.log.Info("txloop: the cycle's input offsets were refused (a rebalance, or this member left the group); aborting its transaction",
				"records", len(recs), "err", err)
			try = kgo.TryAbort
		}
	default:
		if err := l.stillMember(ectx); err != nil {
			l.log.Info("txloop: the group no longer knows this member as it was; aborting a cycle without input", "err", err)
			try = kgo.TryAbort
		}
	}
	if l.joins.Load() != l.owned {
		// The cycle's records are in the log, so a member assigned these
		// partitions by the rebalance that began will wait for this
		// transaction to end; but what it decided may rest on stores
		// that are no longer this member's.
		l.log.Info("txloop: a rebalance began during the cycle; aborting its transaction", "records", len(recs))
		try = kgo.TryAbort
	}
	committed, err := l.endTransaction(ectx, try)
	st.end = time.Since(ending)
	if err != nil {
		l.cfg.Handler.Aborted(c)
		return &sessionError{fmt.Errorf("txloop: ending a transaction: %w", err)}
	}
	l.cfg.Metrics.observe(committed, len(recs), len(c.out), c.Writes(), time.Since(began))
	if !committed {
		l.log.Info("txloop: a cycle was aborted (a rebalance or a fenced commit); its inputs are read again", "records", len(recs))
		l.client.SetOffsets(inputs.rewind())
		l.cfg.Handler.Aborted(c)
		return nil
	}
	l.committed = time.Now()
	if err := c.apply(offsets.get); err != nil {
		return err
	}
	l.cfg.Handler.Committed(c)
	if len(inputs) > 0 {
		st.apply = time.Since(ending) - st.end
		l.cfg.Metrics.observeStages(st)
	}
	return nil
}

// firstPartition is a partition the cycle polled: one this member owns.
func firstPartition(in inputOffsets) int32 {
	for _, ps := range in {
		for p := range ps {
			return p
		}
	}
	return 0
}

// stillMember asks the group coordinator whether this member still holds
// its generation, with a heartbeat of its own. A cycle with input records
// needs no such check: their offsets' commit is refused to a member the
// group expelled. A cycle without input (expiries, acknowledgements)
// commits no offsets: a member paused (SIGSTOP, a long GC) until the group
// expelled it would, on waking, commit writes decided on stores that now
// belong to another member. After a heartbeat that succeeds, the session
// cannot expire before EndTxn, and no rebalance can complete without this
// member rejoining first.
func (l *Loop) stillMember(ctx context.Context) error {
	cl := l.client
	member, generation := cl.GroupMetadata()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.Generation = l.cfg.Group, member, generation
	resp, err := req.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	return err
}

// produceErr keeps the first error of a cycle's records.
type produceErr struct {
	mu  sync.Mutex
	err error
}

func (p *produceErr) promise(r *kgo.Record, err error) {
	if err == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = fmt.Errorf("produce to %s[%d]: %w", r.Topic, r.Partition, err)
	}
}

func (p *produceErr) get() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// changelogOffsets collects, per partition, the offset of the last
// changelog record a cycle wrote.
type changelogOffsets struct {
	mu sync.Mutex
	by map[int32]int64
}

func (o *changelogOffsets) get(p int32) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.by[p]
}

func (l *Loop) produceChangelog(ctx context.Context, c *Cycle, failed *produceErr) *changelogOffsets {
	offsets := &changelogOffsets{by: map[int32]int64{}}
	for p, keys := range c.dirty {
		for k, v := range keys {
			r := &kgo.Record{Topic: l.cfg.Changelog, Partition: p, Key: []byte(k), Value: v}
			l.client.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err != nil {
					failed.promise(r, err)
					return
				}
				offsets.mu.Lock()
				if r.Offset > offsets.by[r.Partition] {
					offsets.by[r.Partition] = r.Offset
				}
				offsets.mu.Unlock()
			})
		}
	}
	return offsets
}

// assigned pauses the new partitions and restores their stores in the
// background; the loop resumes each once it has caught up.
func (l *Loop) assigned(_ context.Context, cl *kgo.Client, m map[string][]int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	// The range balancer is eager: every rebalance revokes every
	// partition before the join, so nothing should be held here now.
	// franz-go's GroupTransactSession, which ran the loop until round 9,
	// did not pass a revoke on to OnPartitionsRevoked when no transaction
	// ended since the previous one (two rebalances in a row), and a store
	// held through such a gap may be stale, changed by the member that
	// owned its partition in between. The plain client reports every
	// revoke; should one still be missed, let go of the store; it is
	// restored again from where it stands.
	if held := l.heldLocked(); len(held) > 0 {
		l.log.Warn("txloop: partitions still held at a new assignment (a revoke the client did not report); restoring them again",
			"partitions", held)
		l.goneLocked(held, false) // another member may have owned them since
	}
	l.owned = l.joins.Load()
	var parts []int32 // new here: paused until restored
	for _, p := range partitionsOf(m) {
		if l.stores[p] == nil && l.restoring[p] == nil {
			parts = append(parts, p)
		}
	}
	pause := map[string][]int32{}
	for _, t := range l.cfg.Inputs {
		pause[t] = parts
	}
	cl.PauseFetchPartitions(pause)
	for _, p := range parts {
		ctx, cancel := context.WithCancel(context.Background())
		job := &restoreJob{cancel: cancel}
		l.restoring[p] = job
		warm := l.standby[p]
		delete(l.standby, p)
		go func() {
			var st *state.Partition
			if warm != nil {
				st = warm.stop() // its follower has returned: the store is this job's alone
			}
			for pause := 100 * time.Millisecond; ; pause = min(2*pause, 5*time.Second) {
				var err error
				if st == nil {
					st, err = state.OpenPartition(l.storeDir(p), state.PartitionOptions{})
				}
				if err == nil {
					err = l.follow(ctx, p, st, nil)
				}
				if err == nil || ctx.Err() != nil {
					l.ready(restored{job: job, partition: p, store: st, err: err})
					return
				}
				l.log.Warn("txloop: restoring a partition failed; trying again", "partition", p, "in", pause, "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
		}()
	}
}

// warmAll opens the store of every partition not owned here and follows
// its changelog (Config.Standby).
func (l *Loop) warmAll(ctx context.Context) {
	for p := range l.cfg.Partitions {
		l.mu.Lock()
		if ctx.Err() != nil || l.closed {
			l.mu.Unlock()
			return
		}
		if l.stores[p] == nil && l.restoring[p] == nil && l.standby[p] == nil {
			st, err := state.OpenPartition(l.storeDir(p), state.PartitionOptions{})
			if err != nil {
				l.log.Warn("txloop: opening a standby store failed; the partition is restored in full if assigned", "partition", p, "err", err)
			} else {
				l.follow1(p, st, false) // opened from disk: as old as the last time it ran
			}
		}
		l.mu.Unlock()
	}
}

// follow1 keeps st warm as partition p's standby; call with l.mu held.
// fresh says st has every committed record now (a store that was owned
// here until this moment), so it answers reads at once.
func (l *Loop) follow1(p int32, st *state.Partition, fresh bool) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &standby{st: st, cancel: cancel, done: make(chan struct{})}
	s.fresh.Store(fresh)
	l.standby[p] = s
	go func() {
		defer close(s.done)
		for pause := 100 * time.Millisecond; ctx.Err() == nil; pause = min(2*pause, 5*time.Second) {
			err := l.follow(ctx, p, st, s)
			if ctx.Err() != nil {
				return
			}
			l.log.Warn("txloop: a standby store stopped following its changelog; trying again", "partition", p, "in", pause, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
		}
	}()
}

// release closes a store that is no longer owned here, or keeps it warm as
// a standby, answering reads at once if fresh (follow1); call with l.mu
// held.
func (l *Loop) release(p int32, st *state.Partition, fresh bool) {
	if l.cfg.Standby && !l.closed {
		l.follow1(p, st, fresh)
		return
	}
	if err := st.Close(); err != nil {
		l.log.Warn("txloop: closing the store of a partition that left", "partition", p, "err", err)
	}
}

// ready makes a partition whose restore finished ready and resumes its
// inputs; it waits for the cycle in progress, so the handler sees it between
// cycles.
func (l *Loop) ready(r restored) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.restoring[r.partition] != r.job || l.closed { // revoked meanwhile, or the member stopped
		switch {
		case r.store == nil:
		case l.restoring[r.partition] != nil || l.closed: // assigned again: another job restores it now
			_ = r.store.Close()
		default:
			l.release(r.partition, r.store, false) // its restore did not finish
		}
		return
	}
	r.job.cancel()
	delete(l.restoring, r.partition)
	if r.err != nil { // cancelled: the partition left meanwhile
		if r.store != nil {
			l.release(r.partition, r.store, false) // its restore did not finish
		}
		return
	}
	l.stores[r.partition] = r.store
	l.cfg.Handler.Ready(r.partition, r.store)
	resume := map[string][]int32{}
	for _, t := range l.cfg.Inputs {
		resume[t] = []int32{r.partition}
	}
	l.client.ResumeFetchPartitions(resume)
}

// revoked lets go of partitions revoked between cycles: their stores have
// every commit applied. Not so when the member leaves after a failed
// session: its last cycle may have committed without reaching the stores,
// so they answer reads only once they have caught up (dropAll).
func (l *Loop) revoked(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.goneLocked(partitionsOf(m), !l.leaving)
}

// lost lets go of partitions the group took away (this member's session
// expired): another member may own them already.
func (l *Loop) lost(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.goneLocked(partitionsOf(m), false)
}

// heldLocked lists the partitions ready or restoring here; call with l.mu
// held.
func (l *Loop) heldLocked() []int32 {
	var held []int32
	for p := range l.stores {
		held = append(held, p)
	}
	for p := range l.restoring {
		held = append(held, p)
	}
	slices.Sort(held)
	return held
}

// goneLocked lets go of partitions that left this member, their stores
// kept as standbys that answer reads at once if fresh; call with l.mu held.
func (l *Loop) goneLocked(parts []int32, fresh bool) {
	for _, p := range parts {
		if job, ok := l.restoring[p]; ok {
			job.cancel()
			delete(l.restoring, p)
		}
		if st := l.stores[p]; st != nil {
			delete(l.stores, p)
			l.cfg.Handler.Gone(p)
			l.release(p, st, fresh)
		}
	}
}

// dropAll lets go of the partitions of a session that ended: stores
// closed, or kept warm as standbys.
func (l *Loop) dropAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for p, job := range l.restoring { // assigned while the session closed
		job.cancel()
		delete(l.restoring, p)
	}
	for p, st := range l.stores {
		l.cfg.Handler.Gone(p)
		l.release(p, st, false) // the failed cycle may have committed
		delete(l.stores, p)
	}
}

func (l *Loop) closeAll() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.dropAll()
	l.mu.Lock()
	defer l.mu.Unlock()
	for p, s := range l.standby {
		_ = s.stop().Close()
		delete(l.standby, p)
	}
}

func (l *Loop) storeDir(p int32) string {
	return filepath.Join(l.cfg.Dir, fmt.Sprintf("%s.%d", l.cfg.Changelog, p))
}

// partitionsOf lists the partition numbers of an assignment (the inputs are
// co-partitioned: partition p of every input belongs to the same member).
func partitionsOf(m map[string][]int32) []int32 {
	seen := map[int32]bool{}
	var out []int32
	for _, ps := range m {
		for _, p := range ps {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// partitioner sends records of the manual topics to Record.Partition and
// the others by murmur2 of the key, as the Java client does.
type partitioner struct{ manual map[string]bool }

func (p partitioner) ForTopic(topic string) kgo.TopicPartitioner {
	if p.manual[topic] {
		return kgo.ManualPartitioner().ForTopic(topic)
	}
	return kgo.StickyKeyPartitioner(nil).ForTopic(topic)
}

// joinWatch counts the member's joins of the group. JoinGroupMetadata runs
// at every join, right after the revoke that precedes it, whether or not
// the revoke reached OnPartitionsRevoked (see Loop.assigned).
type joinWatch struct {
	kgo.GroupBalancer
	joins *atomic.Int64
}

func (w joinWatch) JoinGroupMetadata(interests []string, current map[string][]int32, generation int32) []byte {
	w.joins.Add(1)
	return w.GroupBalancer.JoinGroupMetadata(interests, current, generation)
}
