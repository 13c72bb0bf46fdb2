package txloop

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/stocksync/stocksync/state"
)

// counter counts the records of each key: its state is the count, and it
// emits the new count for every record, so exactly-once shows as each key's
// outputs being 1, 2, 3, … with no gap and no repeat. It ignores a record
// whose value is "noop".
type counter struct{ out string }

func (h counter) Process(c *Cycle, recs []*kgo.Record) error {
	for _, r := range recs {
		if string(r.Value) == "noop" {
			continue
		}
		v, err := c.Get(r.Partition, string(r.Key))
		if err != nil {
			return err
		}
		n, _ := strconv.Atoi(string(v))
		n++
		c.Put(r.Partition, string(r.Key), []byte(strconv.Itoa(n)))
		c.Emit(&kgo.Record{Topic: h.out, Key: r.Key, Value: []byte(strconv.Itoa(n))})
	}
	return nil
}
func (counter) Ready(int32, *state.Partition) {}
func (counter) Gone(int32)                    {}
func (counter) Committed(*Cycle)              {}
func (counter) Tick(*Cycle, time.Time) error  { return nil }
func (counter) Aborted(*Cycle)                {}

// brokersForTest is the real broker of STOCKSYNC_TEST_BROKERS, else kfake.
// On a broker started just before it (as in CI) this test caught the loop
// committing a transaction whose records had failed: a member stopped
// mid-cycle produced on its cancelled context, franz-go failed the records,
// and the commit went on with the input offsets, losing outputs and state.
func brokersForTest(t *testing.T) []string {
	if v := os.Getenv("STOCKSYNC_TEST_BROKERS"); v != "" {
		return strings.Split(v, ",")
	}
	return kfakeForTest(t)
}

func kfakeForTest(t *testing.T, opts ...kfake.Opt) []string {
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// transactionVersion2 reports what the member's last join found about the
// brokers' transaction version.
func (l *Loop) transactionVersion2() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.implicitOffsets
}

// testKafka is a test's broker (brokersForTest), a client of it, a prefix
// for the test's topics and a context bounding the test; it skips the test
// with -short.
func testKafka(t *testing.T, tag string, timeout time.Duration, opts ...kgo.Opt) ([]string, string, *kgo.Client, context.Context) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a Kafka (kfake or STOCKSYNC_TEST_BROKERS)")
	}
	brokers := brokersForTest(t)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return brokers, fmt.Sprintf("%s-%d.", tag, time.Now().UnixNano()), cl, ctx
}

// createTopics creates a test's topics with n partitions each: changelog
// compacted, as the engine's is, and the others plain.
func createTopics(t *testing.T, ctx context.Context, cl *kgo.Client, n int32, changelog string, plain ...string) {
	t.Helper()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopics(ctx, n, 1, nil, plain...); err != nil {
		t.Fatal(err)
	}
	compact := "compact"
	if _, err := adm.CreateTopics(ctx, n, 1, map[string]*string{"cleanup.policy": &compact}, changelog); err != nil {
		t.Fatal(err)
	}
}

// TestExactlyOnceAcrossRebalances counts increments through members that
// join and leave mid-stream: every key's outputs must be 1..n exactly once,
// and the stores and the changelog must agree on n. With standby stores,
// the members take partitions over from stores that followed the
// changelog while another member owned them.
func TestExactlyOnceAcrossRebalances(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Kafka (kfake or STOCKSYNC_TEST_BROKERS)")
	}
	t.Run("restored", func(t *testing.T) { exactlyOnce(t, brokersForTest(t), false) })
	t.Run("standby", func(t *testing.T) { exactlyOnce(t, brokersForTest(t), true) })
	// Before transaction version 2 (Kafka 3.9 and older), the group's
	// offsets join a transaction only through AddOffsetsToTxn.
	t.Run("transaction version 1", func(t *testing.T) {
		exactlyOnce(t, kfakeForTest(t, kfake.MaxVersions(kversion.V3_9_0())), false)
	})
}

func exactlyOnce(t *testing.T, brokers []string, standby bool) {
	prefix := fmt.Sprintf("txl-%d.", time.Now().UnixNano())
	in, out, changelog := prefix+"in", prefix+"out", prefix+"table"
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	createTopics(t, ctx, cl, 4, changelog, in, out)
	dirs := map[string]string{}
	member := func(name string) (stop func(), l *Loop) {
		if dirs[name] == "" {
			dirs[name] = t.TempDir()
		}
		return runMember(t, ctx, name, Config{Brokers: brokers, Group: prefix + "g", TransactionalID: prefix + name, Inputs: []string{in},
			Changelog: changelog, Partitions: 4, Dir: dirs[name], Handler: counter{out: out},
			TransactionTimeout: 5 * time.Second, Standby: standby})
	}
	const keys = 12
	sent := map[string]int{}
	send := func(n int) {
		for i := range n {
			k := "k" + strconv.Itoa(i%keys)
			sent[k]++
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: in, Key: []byte(k), Value: []byte("inc")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	stopA, a := member("a")
	send(120)
	stopB, _ := member("b")
	send(120)
	if standby { // every partition readable on a, owned or warm
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
			n := 0
			for p := range int32(4) {
				if a.View(p) != nil {
					n++
				}
			}
			if n == 4 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("member a keeps %d of 4 partitions a minute after b joined; want all, owned or warm", n)
			}
		}
	}
	stopA()
	send(120)
	stopC, _ := member("c")
	send(120)
	stopB()
	stopC()
	// A restart on the same data directory restores from where its stores
	// were, the rest from the changelog.
	stopA, last := member("a")
	send(120)
	defer stopA()

	// Read the outputs (committed only) until every key reached its count.
	rd, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(out),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	got := map[string][]int{}
	done := func() bool {
		for k, n := range sent {
			if len(got[k]) < n {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("outputs so far %v; sent %v", got, sent)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n, _ := strconv.Atoi(string(r.Value))
			got[string(r.Key)] = append(got[string(r.Key)], n)
		})
	}
	for k, n := range sent {
		for i, v := range got[k] {
			if v != i+1 {
				t.Fatalf("key %s: outputs %v; want 1..%d once each", k, got[k], n)
			}
		}
		if len(got[k]) != n {
			t.Fatalf("key %s: %d outputs, want %d", k, len(got[k]), n)
		}
	}
	want := !strings.HasSuffix(t.Name(), "transaction_version_1")
	if got := last.transactionVersion2(); got != want {
		t.Fatalf("the member took the brokers' transaction version for 2: %v, want %v", got, want)
	}
}

// TestInputThatChangesNothingCommits feeds a member records it ignores: a
// cycle that reads them writes and emits nothing, and its input offsets
// must still commit (franz-go ends a transaction it saw nothing produced in
// without EndTxn, which would leave the offsets pending until the
// transaction timed out, and then aborted).
func TestInputThatChangesNothingCommits(t *testing.T) {
	brokers, prefix, cl, ctx := testKafka(t, "txl0", 3*time.Minute)
	in, out, changelog := prefix+"in", prefix+"out", prefix+"table"
	createTopics(t, ctx, cl, 1, changelog, in, out)
	stop, _ := runMember(t, ctx, "a", Config{Brokers: brokers, Group: prefix + "g", TransactionalID: prefix + "a", Inputs: []string{in},
		Changelog: changelog, Partitions: 1, Dir: t.TempDir(), Handler: counter{out: out}, TransactionTimeout: 5 * time.Second})
	defer stop()
	const n = 5
	for range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: in, Key: []byte("k"), Value: []byte("noop")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		offs, err := adm.FetchOffsets(ctx, prefix+"g") // stable offsets: a pending transaction's are not shown
		if err == nil {
			if o, ok := offs.Lookup(in, 0); ok && o.Err == nil && o.At == n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the group's committed offset of %s[0] a minute after %d ignored records: %+v (err %v); want %d", in, n, offs, err, n)
		}
	}
}

// TestOneOwnerPerPartition lets members join one after another while no
// record flows, so no transaction ends between the rebalances. franz-go's
// GroupTransactSession then does not report the second revoke to
// OnPartitionsRevoked; a member that kept deciding with the store of a
// partition it no longer owns lost acknowledged orders in the scale-out
// test. Every partition must end up ready at exactly one member.
func TestOneOwnerPerPartition(t *testing.T) {
	brokers, prefix, cl, ctx := testKafka(t, "txl1", 3*time.Minute)
	const partitions = 6
	createTopics(t, ctx, cl, partitions, prefix+"table", prefix+"in")
	var members []*Loop
	var wg sync.WaitGroup
	mctx, stop := context.WithCancel(ctx)
	defer func() { stop(); wg.Wait() }()
	settled := func(want int) string { // "" once want members own every partition once between them
		owners := make([][]string, partitions)
		total := 0
		for i, l := range members {
			ready, restoring := l.Status()
			if ready == 0 || restoring > 0 {
				return fmt.Sprintf("member %d: %d ready, %d restoring", i, ready, restoring)
			}
			for p := range int32(partitions) {
				if l.Store(p) != nil {
					owners[p] = append(owners[p], strconv.Itoa(i))
					total++
				}
			}
		}
		if len(members) < want || total != partitions {
			return fmt.Sprintf("owners by partition %v", owners)
		}
		return ""
	}
	for i := range 3 {
		l, err := New(Config{Brokers: brokers, Group: prefix + "g", TransactionalID: prefix + strconv.Itoa(i),
			Inputs: []string{prefix + "in"}, Changelog: prefix + "table", Partitions: partitions, Dir: t.TempDir(),
			Handler: counter{out: prefix + "in"}, Logger: testLogger(), Opts: kgoLogOpts()})
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, l)
		wg.Go(func() {
			if err := l.Run(mctx); err != nil {
				t.Errorf("member %d: %v", i, err)
			}
		})
		var state string
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
			if state = settled(i + 1); state == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d members a minute after member %d joined: %s; want each partition ready at exactly one member", i+1, i, state)
			}
		}
	}
}

// runMember starts a member of cfg (its test logger and franz-go options
// filled in) until stop, which waits for it to leave.
func runMember(t *testing.T, ctx context.Context, name string, cfg Config) (stop func(), l *Loop) {
	t.Helper()
	cfg.Logger, cfg.Opts = testLogger(), append(cfg.Opts, kgoLogOpts()...)
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := l.Run(mctx); err != nil {
			t.Errorf("member %s: %v", name, err)
		}
	})
	return func() { cancel(); wg.Wait() }, l
}

func testLogger() *slog.Logger {
	if os.Getenv("STOCKSYNC_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// kgoLogOpts logs franz-go at debug level when STOCKSYNC_TEST_LOG=kgo.
func kgoLogOpts() []kgo.Opt {
	if os.Getenv("STOCKSYNC_TEST_LOG") != "kgo" {
		return nil
	}
	return []kgo.Opt{kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelDebug, nil))}
}

// TestRestoreFencesAnAbandonedTransaction: a producer that died with a
// transaction open on a changelog partition (a SIGKILLed owner) would keep
// the partition's next owner restoring until the broker times the
// transaction out, here a minute. The restore fences it instead: the
// partition is ready long before, without the abandoned record, and the
// dead producer can no longer commit.
func TestRestoreFencesAnAbandonedTransaction(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Kafka (kfake or STOCKSYNC_TEST_BROKERS)")
	}
	brokers := brokersForTest(t)
	prefix := fmt.Sprintf("txlf-%d.", time.Now().UnixNano())
	in, changelog := prefix+"in", prefix+"table"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admc, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer admc.Close()
	createTopics(t, ctx, admc, 1, changelog, in)
	zombie, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID(prefix+"zombie"),
		kgo.TransactionTimeout(time.Minute), kgo.DefaultProduceTopic(changelog), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer zombie.Close()
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte("from the dead"), Partition: 0}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	stop, l := runMember(t, ctx, "member", Config{Brokers: brokers, Group: prefix + "g", TransactionalID: prefix + "member", Inputs: []string{in},
		Changelog: changelog, Partitions: 1, Dir: t.TempDir(), Handler: counter{out: in}})
	defer stop()
	for deadline := time.Now().Add(30 * time.Second); l.Store(0) == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("partition 0 still restoring 30 s after the member started, behind a transaction left open for a minute")
		}
	}
	if v, err := l.Store(0).Get([]byte("k")); err != nil || v != nil {
		t.Errorf("the abandoned transaction's record in the store: %q, %v; want none", v, err)
	}
	if err := zombie.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Error("the fenced producer committed its transaction; want it refused")
	}
}

// TestStandbyAnswersOnlyOnceCaughtUp: an instance restarted after a while
// opens its standby stores from disk, behind by everything written while
// it was down. Reads must not be answered from them before they caught up
// (the soak read an order "reserved" there after its owner had expired
// it): whenever View gives a store, it has every increment made before the
// member started.
func TestStandbyAnswersOnlyOnceCaughtUp(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Kafka (kfake or STOCKSYNC_TEST_BROKERS)")
	}
	brokers := brokersForTest(t)
	prefix := fmt.Sprintf("txls-%d.", time.Now().UnixNano())
	in, changelog := prefix+"in", prefix+"table"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	createTopics(t, ctx, cl, 2, changelog, in, prefix+"out")
	dirs := map[string]string{"a": t.TempDir(), "b": t.TempDir()}
	member := func(name string) (stop func(), l *Loop) {
		return runMember(t, ctx, name, Config{Brokers: brokers, Group: prefix + "g", TransactionalID: prefix + name, Inputs: []string{in},
			Changelog: changelog, Partitions: 2, Dir: dirs[name], Handler: counter{out: prefix + "out"},
			TransactionTimeout: 5 * time.Second, Standby: true})
	}
	sent := 0
	send := func(n int) {
		for range n {
			for p := range int32(2) {
				rec := &kgo.Record{Topic: in, Partition: p, Key: []byte(fmt.Sprintf("k%d", p)), Value: []byte("inc")}
				if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
		}
		sent += n
	}
	count := func(st *state.Partition, p int32) int {
		v, err := st.Get([]byte(fmt.Sprintf("k%d", p)))
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(string(v))
		return n
	}
	// waitView waits until l reads sent increments of both keys.
	waitView := func(l *Loop, who string) {
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
			ok := true
			for p := range int32(2) {
				st := l.View(p)
				ok = ok && st != nil && count(st, p) == sent
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("member %s does not read %d increments of both keys a minute on", who, sent)
			}
		}
	}

	stopA, a := member("a")
	defer stopA()
	stopB, b := member("b")
	send(20)
	waitView(b, "b")
	stopB()
	send(30) // b's stores fall behind while it is down
	waitView(a, "a")

	stopB, b = member("b")
	defer stopB()
	for deadline := time.Now().Add(time.Minute); ; {
		fresh := 0
		for p := range int32(2) {
			if st := b.View(p); st != nil {
				if n := count(st, p); n != sent {
					t.Fatalf("member b, restarted, answered a read of partition %d from a store at %d increments; %d were made before it started", p, n, sent)
				}
				fresh++
			}
		}
		if fresh == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("member b, restarted, reads neither partition a minute on")
		}
		time.Sleep(time.Millisecond)
	}
}

// storeWatch hands over the store of every partition that becomes ready.
type storeWatch struct {
	counter
	ready chan *state.Partition
}

func (h storeWatch) Ready(_ int32, st *state.Partition) { h.ready <- st }

// TestStaleStoreIsRebuilt opens a store that holds a key its changelog
// does not (as a store does whose changelog dropped the key's tombstone
// while the store was away). Caught up two days ago, longer than the
// changelog keeps tombstones, the store is rebuilt and the key is gone;
// caught up an hour ago, the store is kept as it is.
func TestStaleStoreIsRebuilt(t *testing.T) {
	for _, c := range []struct {
		name      string
		caughtUp  time.Duration
		wantGhost bool
	}{{"caught up two days ago", 48 * time.Hour, false}, {"caught up an hour ago", time.Hour, true}, {"never recorded (an older build's)", 0, false}} {
		t.Run(c.name, func(t *testing.T) {
			brokers, prefix, cl, ctx := testKafka(t, "txls", 2*time.Minute)
			in, changelog := prefix+"in", prefix+"table"
			createTopics(t, ctx, cl, 1, changelog, in)
			dir := t.TempDir()
			st, err := state.OpenPartition(filepath.Join(dir, changelog+".0"), state.PartitionOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Apply([]state.Write{{Key: []byte("ghost"), Value: []byte("1")}}, 0); err != nil {
				t.Fatal(err)
			}
			if c.caughtUp > 0 {
				if err := st.MarkCaughtUp(time.Now().Add(-c.caughtUp)); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			h := storeWatch{ready: make(chan *state.Partition, 1)}
			stop, _ := runMember(t, ctx, "a", Config{Brokers: brokers, Group: prefix + "g", TransactionalID: prefix + "a", Inputs: []string{in},
				Changelog: changelog, Partitions: 1, Dir: dir, Handler: h, StaleAfter: 23 * time.Hour})
			defer stop()
			select {
			case st = <-h.ready:
			case <-ctx.Done():
				t.Fatal("the partition never became ready")
			}
			v, err := st.Get([]byte("ghost"))
			if err != nil {
				t.Fatal(err)
			}
			if got := v != nil; got != c.wantGhost {
				t.Fatalf("the store holds the key the changelog lacks: %v, want %v", got, c.wantGhost)
			}
		})
	}
}

// TestCyclesRecordThatTheStoreIsCaughtUp: a member that decided a record
// leaves its store marked caught up as of that cycle, so the store is not
// rebuilt when next opened.
func TestCyclesRecordThatTheStoreIsCaughtUp(t *testing.T) {
	brokers, prefix, cl, ctx := testKafka(t, "txlm", 2*time.Minute)
	in, out, changelog := prefix+"in", prefix+"out", prefix+"table"
	createTopics(t, ctx, cl, 1, changelog, in, out)
	dir := t.TempDir()
	h := storeWatch{counter: counter{out: out}, ready: make(chan *state.Partition, 1)}
	stop, _ := runMember(t, ctx, "a", Config{Brokers: brokers, Group: prefix + "g", TransactionalID: prefix + "a", Inputs: []string{in},
		Changelog: changelog, Partitions: 1, Dir: dir, Handler: h, StaleAfter: 23 * time.Hour})
	select { // restored (and marked so) before the record is sent: a later mark is the cycle's
	case <-h.ready:
	case <-ctx.Done():
		t.Fatal("the partition never became ready")
	}
	began := time.Now().Add(-time.Millisecond)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: in, Key: []byte("k"), Value: []byte("1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	reader, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(out), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	for n := 0; n == 0; {
		fs := reader.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("no output within the test's time")
		}
		n = len(fs.Records())
	}
	stop()
	ended := time.Now().Add(time.Millisecond)
	st, err := state.OpenPartition(filepath.Join(dir, changelog+".0"), state.PartitionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at, err := st.CaughtUpAt()
	if err != nil || at.Before(began) || at.After(ended) {
		t.Fatalf("the store was last caught up at %v (err %v), want after the record was sent (%v) and before the member stopped (%v)", at, err, began, ended)
	}
	if v, _ := st.Get([]byte("k")); string(v) != "1" {
		t.Fatalf("the store holds k = %q, want 1", v)
	}
}
