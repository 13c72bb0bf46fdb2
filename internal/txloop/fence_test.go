package txloop

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFenceStopsTheIntakeOnly: a fence marker on a non-intake input fences
// the loop; intake records wait while the other inputs are still decided,
// and lifting the fence decides what waited.
func TestFenceStopsTheIntakeOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Kafka (kfake or STOCKSYNC_TEST_BROKERS)")
	}
	brokers := brokersForTest(t)
	prefix := fmt.Sprintf("txf-%d.", time.Now().UnixNano())
	intake, msgs, out, changelog := prefix+"intake", prefix+"msgs", prefix+"out", prefix+"table"
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ConsumeTopics(out), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	createTopics(t, ctx, cl, 1, changelog, intake, msgs, out)
	l, err := New(Config{Brokers: brokers, Group: prefix + "g", TransactionalID: prefix + "a", Inputs: []string{intake, msgs},
		Intake: []string{intake}, Changelog: changelog, Partitions: 1, Dir: t.TempDir(), Handler: counter{out: out},
		TransactionTimeout: 5 * time.Second, Logger: testLogger(), Opts: kgoLogOpts()})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	lctx, stop := context.WithCancel(ctx)
	defer func() { stop(); wg.Wait() }()
	wg.Go(func() {
		if err := l.Run(lctx); err != nil {
			t.Errorf("loop: %v", err)
		}
	})
	send := func(topic, key string, headers ...kgo.RecordHeader) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Headers: headers}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// seen waits until the loop has decided the record of each key.
	got := map[string]bool{}
	seen := func(keys ...string) {
		for {
			all := true
			for _, k := range keys {
				all = all && got[k]
			}
			if all {
				return
			}
			fetches := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("the loop never decided %v (decided: %v)", keys, got)
			}
			fetches.EachRecord(func(r *kgo.Record) { got[string(r.Key)] = true })
		}
	}
	send(intake, "before")
	seen("before")
	send(msgs, "fence", kgo.RecordHeader{Key: FenceHeader, Value: []byte("run-1")})
	// Intake records polled together with the marker are still decided
	// (markers): send the held one only once the loop says it is fenced.
	for !l.Fenced() {
		if ctx.Err() != nil {
			t.Fatal("the loop never took the fence marker")
		}
		time.Sleep(10 * time.Millisecond)
	}
	send(intake, "held")
	send(msgs, "message")
	seen("message")
	if got["held"] || got["fence"] {
		t.Errorf("a fenced loop decided an intake record or handed the marker to its handler: %v", got)
	}
	l.Fence(false)
	seen("held")
}
