package inventory

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/client"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/internal/txloop"
	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/processors"
	"github.com/stocksync/stocksync/sinks"
	"github.com/stocksync/stocksync/state"
	"github.com/stocksync/stocksync/stock"
	"github.com/stocksync/stocksync/topology"
)

const partitions = 4

// world is engine instances (the processor on txloop, in one group) on a
// Kafka, with a Go Kafka client and a feed producer.
type world struct {
	t         *testing.T
	dataDir   string // the parent of the instances' data directories
	names     topology.Names
	brokers   []string
	retention time.Duration
	cl        *kgo.Client
	k         *client.Kafka

	mu        sync.Mutex
	instances map[int]*instance

	// answered counts the answers the instances' OnAnswer saw, by request
	// id ("expire" for expiries). A lock of its own: OnAnswer runs inside
	// a loop's cycle, while a test holding mu may wait for that loop.
	answeredMu sync.Mutex
	answered   map[string]int

	// pushTo, when set, gets a pusher for channel web on every instance,
	// holding at most maxPending values; alsoPushTo one for a channel app
	// (the catalogue has app only then).
	pushTo     marketplace.Adapter
	alsoPushTo marketplace.Adapter
	maxPending int
	// ackWriteDelay is the instances' Config.AckWriteDelay; 0 for the default.
	ackWriteDelay time.Duration
}

type instance struct {
	loop *txloop.Loop
	stop func()
}

// newWorld starts one instance, which owns every partition.
func newWorld(t *testing.T, retention time.Duration) *world {
	w := newCluster(t, retention)
	w.start(0)
	return w
}

// newCluster prepares the topics and the clients; start adds instances.
func newCluster(t *testing.T, retention time.Duration) *world {
	var brokers []string
	if v := os.Getenv("STOCKSYNC_TEST_BROKERS"); v != "" {
		brokers = strings.Split(v, ",")
	} else {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		brokers = c.ListenAddrs()
	}
	names := topology.New(fmt.Sprintf("inv-%d.", time.Now().UnixNano()))
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	adm := kadm.NewClient(cl)
	var streams []string
	for _, s := range names.Streams() {
		streams = append(streams, string(s))
	}
	if _, err := adm.CreateTopics(ctx, partitions, 1, nil, streams...); err != nil {
		t.Fatal(err)
	}
	compact := "compact"
	if _, err := adm.CreateTopics(ctx, partitions, 1, map[string]*string{"cleanup.policy": &compact}, string(names.EngineTable())); err != nil {
		t.Fatal(err)
	}
	k, err := client.NewKafka(ctx, client.KafkaConfig{Brokers: brokers, TopicPrefix: names.Prefix, Timeout: 60 * time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	// The data directories are removed after the instances stop (cleanups
	// run last first), so that a stopping store can still flush.
	w := &world{t: t, names: names, brokers: brokers, retention: retention, cl: cl, k: k, instances: map[int]*instance{},
		answered: map[string]int{}, dataDir: t.TempDir()}
	t.Cleanup(func() {
		w.mu.Lock()
		running := slices.Collect(maps.Keys(w.instances))
		w.mu.Unlock()
		for _, i := range running {
			w.stop(i)
		}
	})
	return w
}

// start runs instance i on a fresh data directory: a new instance, or one
// rebuilt from the changelog.
func (w *world) start(i int) {
	t := w.t
	locs := []string{"msk-wh-1", "spb-store-1"}
	rules := []stock.ChannelRule{{Name: "web", Locations: locs, Share: 1}}
	adapters := map[string]marketplace.Adapter{"web": w.pushTo}
	if w.alsoPushTo != nil {
		rules = append(rules, stock.ChannelRule{Name: "app", Locations: locs, Share: 1})
		adapters["app"] = w.alsoPushTo
	}
	cat := stock.NewCatalog(locs, rules)
	var proc *Processor
	pushers := map[string]*sinks.Pusher{}
	reg := prometheus.NewRegistry()
	metrics := sinks.NewMetrics(reg)
	for ch, ad := range adapters {
		if ad == nil {
			continue
		}
		pu, err := sinks.New(sinks.Config{Channel: ch, Adapter: ad, Metrics: metrics, Logger: testLogger(),
			MaxPending: w.maxPending, Send: func(ctx context.Context, v sinks.Verdict, done func(error)) {
				if !proc.Verdict(ctx, v) {
					done(ctx.Err())
					return
				}
				done(nil)
			}})
		if err != nil {
			t.Fatal(err)
		}
		pushers[ch] = pu
	}
	proc, err := New(Config{Names: w.names, Partitions: partitions, Catalog: cat, Metrics: processors.NewMetrics(reg),
		Logger: testLogger(), Retention: w.retention, HoldGrace: time.Second, Pushers: pushers, OnAnswer: w.onAnswer,
		AckWriteDelay: w.ackWriteDelay})
	if err != nil {
		t.Fatal(err)
	}
	loop, err := txloop.New(txloop.Config{Brokers: w.brokers, Group: string(w.names.Engine), TransactionalID: fmt.Sprintf("%sengine-test-%d", w.names.Prefix, i),
		Inputs:    []string{string(w.names.OrderCommands), string(w.names.StockFeed), string(w.names.EngineMessages)},
		Changelog: string(w.names.EngineTable()), Partitions: partitions, Dir: w.freshDir(), Handler: proc,
		TickInterval: 50 * time.Millisecond, Standby: true, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := loop.Run(ctx); err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	})
	for _, pu := range pushers {
		wg.Go(func() { _ = pu.Run(ctx) })
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.instances[i] = &instance{loop: loop, stop: func() { cancel(); wg.Wait() }}
}

// freshDir is a new, empty data directory.
func (w *world) freshDir() string {
	dir, err := os.MkdirTemp(w.dataDir, "instance-")
	if err != nil {
		w.t.Fatal(err)
	}
	return dir
}

func (w *world) onAnswer(r contract.OrderResult) {
	w.answeredMu.Lock()
	defer w.answeredMu.Unlock()
	key := r.RequestID
	if r.Type == contract.Expire {
		key = contract.Expire
	}
	w.answered[key]++
}

// seenOnce waits until the instances' OnAnswer saw the answer keyed key
// (a request id, or "expire"), and fails unless it saw it exactly once.
func (w *world) seenOnce(key string) {
	w.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		w.answeredMu.Lock()
		n := w.answered[key]
		w.answeredMu.Unlock()
		switch {
		case n == 1:
			return
		case n > 1 || time.Now().After(deadline):
			w.t.Fatalf("OnAnswer saw the answer %s %d times; want once", key, n)
		}
	}
}

// stop ends instance i; its partitions move to the others.
func (w *world) stop(i int) {
	w.mu.Lock()
	in := w.instances[i]
	delete(w.instances, i)
	w.mu.Unlock()
	if in != nil {
		in.stop()
	}
}

// store is a partition's store at the instance serving it, nil if none
// does right now.
func (w *world) store(part int32) *state.Partition {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, in := range w.instances {
		if st := in.loop.Store(part); st != nil {
			return st
		}
	}
	return nil
}

func (w *world) snapshot(sku, loc string, onHand int64) {
	v, _ := json.Marshal(contract.FeedMessage{Type: contract.Snapshot, SKU: sku, Location: loc, OnHand: &onHand, Source: "erp", Version: time.Now().UnixNano()})
	if err := w.cl.ProduceSync(context.Background(), &kgo.Record{Topic: string(w.names.StockFeed), Key: []byte(sku), Value: v}).FirstErr(); err != nil {
		w.t.Fatal(err)
	}
}

// ledger reads a SKU's committed ledger from its partition's store.
func (w *world) ledger(sku string) *stock.SKU {
	w.t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		if st := w.store(topology.PartitionOf(sku, partitions)); st != nil {
			v, err := st.Get([]byte(sku))
			if err != nil {
				w.t.Fatal(err)
			}
			if v != nil {
				s, err := stock.UnmarshalSKU(v)
				if err != nil {
					w.t.Fatal(err)
				}
				return &s
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	w.t.Fatalf("SKU %s never showed in its store within a minute", sku)
	return nil
}

func (w *world) want(what string, r resErr, status string) contract.OrderResult {
	res, err := r.res, r.err
	w.t.Helper()
	if err != nil || res.Status != status {
		b, _ := json.Marshal(res)
		w.t.Fatalf("%s: %s, %v; want status %s", what, b, err, status)
	}
	return res
}

// TestDecidesOrdersInOneHop runs the order lifecycle through one instance
// owning every partition: reserves (one line and several, keyed by order
// id, so forwarded), repeats, conflicts, refusals, confirm and ship by id,
// expiry by the partition's own clock.
func TestDecidesOrdersInOneHop(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Kafka (kfake or STOCKSYNC_TEST_BROKERS)")
	}
	w := newWorld(t, 0)
	ctx := context.Background()
	w.snapshot("A", "msk-wh-1", 10)
	w.snapshot("B", "spb-store-1", 2)
	if got := w.ledger("A"); got.Location("msk-wh-1").OnHand != 10 {
		t.Fatalf("A after the snapshot: %+v", got)
	}
	w.ledger("B")

	a3 := []contract.Line{{SKU: "A", Qty: 3}}
	first := w.want("reserve o-1", withErr(w.k.Reserve(ctx, "o-1", a3, "web", time.Hour)), contract.StatusReserved)
	if first.Lines[0].Location != "msk-wh-1" {
		t.Errorf("reserve o-1 placed at %q, want msk-wh-1", first.Lines[0].Location)
	}
	again := w.want("reserve o-1 again", withErr(w.k.Reserve(ctx, "o-1", a3, "web", time.Hour)), contract.StatusReserved)
	if again.RequestID == first.RequestID || again.ExpiresAt != first.ExpiresAt {
		t.Errorf("a repeat: %+v; want the first answer (expiry %s) with its own request id", again, first.ExpiresAt)
	}
	conflict := w.want("reserve o-1 with another body", withErr(w.k.Reserve(ctx, "o-1", []contract.Line{{SKU: "B", Qty: 1}}, "web", time.Hour)), contract.StatusRejected)
	if conflict.Error.Type != contract.ErrConflict || conflict.Error.Accepted == nil || conflict.Error.Accepted.Lines[0].SKU != "A" {
		t.Errorf("another body: %+v; want a conflict naming A", conflict.Error)
	}
	short := w.want("reserve o-2 (8 of 7)", withErr(w.k.Reserve(ctx, "o-2", []contract.Line{{SKU: "A", Qty: 8}}, "web", time.Hour)), contract.StatusRejected)
	if short.Error.Type != contract.ErrInsufficientStock || *short.Error.Available != 7 {
		t.Errorf("8 of 7: %+v; want insufficient_stock with 7 available", short.Error)
	}
	// A multi-line order, one line short: nothing is held.
	w.want("reserve o-3 (A, 3 of 2 B)", withErr(w.k.Reserve(ctx, "o-3", []contract.Line{{SKU: "A", Qty: 1}, {SKU: "B", Qty: 3}}, "web", time.Hour)), contract.StatusRejected)
	w.want("reserve o-4 (A, B)", withErr(w.k.Reserve(ctx, "o-4", []contract.Line{{SKU: "A", Qty: 1}, {SKU: "B", Qty: 2}}, "web", time.Hour)), contract.StatusReserved)
	w.want("confirm o-1", withErr(w.k.Confirm(ctx, "o-1")), contract.StatusConfirmed)
	w.want("ship o-1", withErr(w.k.Ship(ctx, "o-1")), contract.StatusShipped)
	w.want("ship o-1 again", withErr(w.k.Ship(ctx, "o-1")), contract.StatusShipped)
	w.want("confirm o-9 (never reserved)", withErr(w.k.Confirm(ctx, "o-9")), contract.StatusRejected)
	// A reservation of 1 s ends by itself.
	w.want("reserve o-5 for 1s", withErr(w.k.Reserve(ctx, "o-5", []contract.Line{{SKU: "A", Qty: 2}}, "web", time.Second)), contract.StatusReserved)
	deadline := time.Now().Add(20 * time.Second)
	for w.ledger("A").Reservation("o-5") != nil {
		if time.Now().After(deadline) {
			t.Fatal("o-5 did not expire within 20 s of its 1 s TTL")
		}
		time.Sleep(50 * time.Millisecond)
	}
	late := w.want("confirm o-5 after its expiry", withErr(w.k.Confirm(ctx, "o-5")), contract.StatusRejected)
	if late.Error.Type != contract.ErrExpired {
		t.Errorf("confirm after expiry: %+v; want expired", late.Error)
	}
	a := w.ledger("A").Location("msk-wh-1")
	b := w.ledger("B").Location("spb-store-1")
	if a.OnHand != 7 || a.Reserved != 1 || a.Committed != 0 || b.OnHand != 2 || b.Reserved != 2 {
		t.Errorf("at the end A %+v, B %+v; want A on_hand 7 reserved 1, B on_hand 2 reserved 2", *a, *b)
	}
	// The console counts what the processor answered, each answer once.
	for _, res := range []contract.OrderResult{first, again, conflict, short, late} {
		w.seenOnce(res.RequestID)
	}
	w.seenOnce(contract.Expire)
}

type resErr struct {
	res contract.OrderResult
	err error
}

func withErr(res contract.OrderResult, err error) resErr { return resErr{res, err} }

func testLogger() *slog.Logger {
	if os.Getenv("STOCKSYNC_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// TestFinishedOrdersLeave: a released order stays for its retention (a
// repeat gets its answer), then leaves the table, directory entry included.
func TestFinishedOrdersLeave(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Kafka (kfake or STOCKSYNC_TEST_BROKERS)")
	}
	w := newWorld(t, time.Second)
	ctx := context.Background()
	w.snapshot("A", "msk-wh-1", 10)
	w.ledger("A")
	// Ids whose own partition differs from A's, so a directory entry exists.
	var ids []string
	for i := 0; len(ids) < 3; i++ {
		if id := fmt.Sprintf("r-%d", i); topology.PartitionOf(id, partitions) != topology.PartitionOf("A", partitions) {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		w.want("reserve "+id, withErr(w.k.Reserve(ctx, id, []contract.Line{{SKU: "A", Qty: 1}}, "web", time.Hour)), contract.StatusReserved)
		w.want("release "+id, withErr(w.k.Release(ctx, id)), contract.StatusReleased)
		w.want("release "+id+" again", withErr(w.k.Release(ctx, id)), contract.StatusReleased)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, id := range ids {
		for {
			v, err := FindOrder(w.store, partitions, id)
			if err != nil {
				t.Fatal(err)
			}
			if v == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("order %s still kept 20 s after its release with a retention of 1 s: %+v", id, *v)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if d, _ := w.store(topology.PartitionOf(id, partitions)).Get([]byte(dirKey(id))); d != nil {
			t.Errorf("order %s left, but its directory entry stayed: %s", id, d)
		}
	}
	if a := w.ledger("A").Location("msk-wh-1"); a.OnHand != 10 || a.Reserved != 0 {
		t.Errorf("A after three released orders: %+v; want 10 on hand, none reserved", *a)
	}
}

// TestOrphanHoldEnds: a hold whose order never settles it (its home lost
// the order) ends by itself, its order's expiry plus the grace later.
func TestOrphanHoldEnds(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Kafka (kfake or STOCKSYNC_TEST_BROKERS)")
	}
	w := newWorld(t, 0)
	w.snapshot("A", "msk-wh-1", 10)
	w.ledger("A")
	m := message{Kind: msgHold, Order: "ghost", Route: "Z", Step: contract.Reserve, Lines: []orderLine{{SKU: "A", Qty: 2}},
		ExpiresAt: time.Now().Add(time.Second).UnixMilli()}
	if err := w.cl.ProduceSync(context.Background(), &kgo.Record{Topic: string(w.names.EngineMessages), Key: []byte("A"), Value: mustJSON(m)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for w.ledger("A").Reservation("ghost") == nil {
		if time.Now().After(deadline) {
			t.Fatal("the hold never took effect")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for w.ledger("A").Reservation("ghost") != nil {
		if time.Now().After(deadline) {
			t.Fatal("an orphan hold of 1 s (+1 s grace) was still held 20 s later")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if a := w.ledger("A").Location("msk-wh-1"); a.Reserved != 0 || a.OnHand != 10 {
		t.Errorf("A after the orphan ended: %+v; want 10 on hand, none reserved", *a)
	}
}

// TestPendingReserveExpiresRefused: a reserve whose other line's partition
// does not answer before the TTL (its owner is a member of the group that
// never processes anything) is refused as expired, not turned into an
// expired reservation: the soak's checker caught the engine answering
// "rejected" while the order read "expired". What the home held lets go at
// once, and what the silent partition holds once it has an owner again
// lets go too.
func TestPendingReserveExpiresRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Kafka (kfake or STOCKSYNC_TEST_BROKERS)")
	}
	w := newWorld(t, 0)
	ctx := context.Background()
	skus := make([]string, 16)
	for i := range skus {
		skus[i] = fmt.Sprintf("P%d", i)
		w.snapshot(skus[i], "msk-wh-1", 5)
	}
	for _, sku := range skus {
		w.ledger(sku)
	}
	// A member that takes its share of the partitions and decides nothing.
	assigned := make(chan []int32, 1)
	silent, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...), kgo.ConsumerGroup(string(w.names.Engine)),
		kgo.ConsumeTopics(string(w.names.OrderCommands), string(w.names.StockFeed), string(w.names.EngineMessages)),
		kgo.Balancers(kgo.RangeBalancer()), kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			select {
			case assigned <- m[string(w.names.EngineMessages)]:
			default:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() { // polls, so the member stays in the group, and drops what it gets
		for !silent.PollFetches(ctx).IsClientClosed() {
		}
	}()
	var mute []int32
	select {
	case mute = <-assigned:
	case <-time.After(time.Minute):
		t.Fatal("the silent member got no partitions within a minute")
	}
	var route, far string
	for _, sku := range skus {
		muted := slices.Contains(mute, topology.PartitionOf(sku, partitions))
		switch {
		case muted && far == "":
			far = sku
		case !muted && route == "":
			route = sku
		}
	}
	if route == "" || far == "" {
		t.Fatalf("the silent member has partitions %v: no SKU on each side among %v", mute, skus)
	}
	for deadline := time.Now().Add(time.Minute); w.store(topology.PartitionOf(route, partitions)) == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s's partition is not served a minute after the silent member joined", route)
		}
	}

	lines := []contract.Line{{SKU: route, Qty: 2}, {SKU: far, Qty: 1}}
	t.Logf("silent member's partitions %v; o-p's lines %s (partition %d), %s (partition %d); its id's partition %d",
		mute, route, topology.PartitionOf(route, partitions), far, topology.PartitionOf(far, partitions), topology.PartitionOf("o-p", partitions))
	res := w.want("reserve o-p, one line on a silent partition", withErr(w.k.Reserve(ctx, "o-p", lines, "web", time.Second)), contract.StatusRejected)
	if res.Error == nil || res.Error.Type != contract.ErrExpired {
		t.Fatalf("o-p: %+v; want refused as expired", res.Error)
	}
	if r := w.ledger(route).Reservation("o-p"); r != nil {
		t.Errorf("%s still holds o-p's line after its refusal: %+v", route, *r)
	}

	silent.Close() // instance 0 takes every partition over: the hold and its release come through
	deadline := time.Now().Add(time.Minute)
	for {
		if st := w.store(topology.PartitionOf(far, partitions)); st != nil {
			if l := w.ledger(far); l.Reservation("o-p") == nil && l.Location("msk-wh-1").Reserved == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: o-p's hold still there a minute after its partition got an owner", far)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if a := w.ledger(route).Location("msk-wh-1"); a.Reserved != 0 || a.OnHand != 5 {
		t.Errorf("%s at the end: %+v; want 5 on hand, none reserved", route, *a)
	}
	for { // found by id once its id's partition took the refusal's note
		v, err := FindOrder(w.store, partitions, "o-p")
		if err == nil && v != nil && v.State == string(Rejected) {
			break
		}
		if err == nil && v != nil || time.Now().After(deadline) {
			t.Fatalf("o-p reads %+v (%v); want rejected, as it was answered", v, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shelf is a marketplace that shows the last value pushed for each SKU.
type shelf struct {
	mu    sync.Mutex
	shown map[string]int64
}

func (s *shelf) Name() string { return "shelf" }
func (s *shelf) Limits() marketplace.Limits {
	return marketplace.Limits{MaxBatch: 4, Rate: 1000, Burst: 10, MaxParallel: 1}
}
func (s *shelf) Push(_ context.Context, batch []marketplace.Update) ([]marketplace.ItemResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]marketplace.ItemResult, len(batch))
	for i, u := range batch {
		s.shown[u.SKU] = u.Available
		out[i] = marketplace.ItemResult{SKU: u.SKU, OK: true}
	}
	return out, nil
}

func (s *shelf) shows() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.shown)
}

// TestPushersCatchUpPastTheirMemory: a pusher holding at most 5 values
// still brings 60 SKUs to the marketplace (the rest wait in the push
// states and are offered as it has room), and so does an instance rebuilt
// from the changelog with its marketplace's values partly pushed.
func TestPushersCatchUpPastTheirMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Kafka (kfake or STOCKSYNC_TEST_BROKERS)")
	}
	mp := &shelf{shown: map[string]int64{}}
	w := newCluster(t, 0)
	w.pushTo, w.maxPending = mp, 5
	w.start(0)
	const skus = 60
	want := map[string]int64{}
	for i := range skus {
		sku := fmt.Sprintf("S%02d", i)
		want[sku] = int64(10 + i)
		w.snapshot(sku, "msk-wh-1", want[sku])
	}
	waitShown := func(what string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			got := mp.shows()
			if maps.Equal(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the marketplace shows %d of %d SKUs right a minute later: %v", what, countEqual(got, want), len(want), got)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitShown("first sync")
	// Rebuilt elsewhere: new values, pushed by an instance that starts
	// from the changelog alone.
	w.stop(0)
	for sku := range want {
		want[sku] += 100
		w.snapshot(sku, "msk-wh-1", want[sku])
	}
	w.start(1)
	waitShown("after a rebuild")
}

func countEqual(got, want map[string]int64) int {
	n := 0
	for k, v := range want {
		if got[k] == v {
			n++
		}
	}
	return n
}
