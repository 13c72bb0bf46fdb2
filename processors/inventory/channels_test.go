package inventory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/topology"
)

// slowShelf is a shelf that answers each push after a pause.
type slowShelf struct {
	shelf
	pause time.Duration
}

func (s *slowShelf) Push(ctx context.Context, batch []marketplace.Update) ([]marketplace.ItemResult, error) {
	time.Sleep(s.pause)
	return s.shelf.Push(ctx, batch)
}

// TestAcknowledgementsShareARecord: two marketplaces acknowledge a SKU's
// value cycles apart (one answers at once, the other after a pause). The
// stores come to show both acknowledgements, and the changelog holds two
// records of the SKU's push state, its value and then both
// acknowledgements, not one more per acknowledgement.
func TestAcknowledgementsShareARecord(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Kafka (kfake or STOCKSYNC_TEST_BROKERS)")
	}
	web := &shelf{shown: map[string]int64{}}
	app := &slowShelf{shelf: shelf{shown: map[string]int64{}}, pause: 100 * time.Millisecond}
	w := newCluster(t, 0)
	w.pushTo, w.alsoPushTo = web, app
	// Long enough that the slow marketplace's acknowledgements come within
	// it however loaded the machine; the default is 1s.
	w.ackWriteDelay = 5 * time.Second
	w.start(0)
	const skus = 8
	sku := w.stockSKUs("A", skus)
	deadline := time.Now().Add(time.Minute)
	for i := range skus {
		for {
			acked := 0
			for _, ch := range []string{"web", "app"} {
				if w.acked(ch, sku(i), int64(5+i)) {
					acked++
				}
			}
			if acked == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("SKU %s: the store shows %d of 2 channels' acknowledgements a minute later", sku(i), acked)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	records := w.changelogRecords()
	for i := range skus {
		if n := records[channelsKey(sku(i))]; n != 2 {
			t.Errorf("SKU %s: %d records of its push state in the changelog; want 2 (its value, then both acknowledgements)", sku(i), n)
		}
	}
}

// stockSKUs puts 5+i on hand of SKU i of n at msk-wh-1, and returns the
// SKUs' names by i.
func (w *world) stockSKUs(prefix string, n int) func(int) string {
	sku := func(i int) string { return fmt.Sprintf("%s%02d", prefix, i) }
	for i := range n {
		w.snapshot(sku(i), "msk-wh-1", int64(5+i))
	}
	return sku
}

// acked reports whether the store of a SKU's partition shows value want
// acknowledged by channel ch, and nothing newer pending.
func (w *world) acked(ch, sku string, want int64) bool {
	st := w.store(topology.PartitionOf(sku, partitions))
	if st == nil {
		return false
	}
	s, err := ChannelStock(st, ch, sku)
	return err == nil && s != nil && s.Acked == want && s.AckedVersion == s.WantVersion
}

// changelogRecords counts the committed records of each key in the
// engine's changelog.
func (w *world) changelogRecords() map[string]int {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(w.cl).ListEndOffsets(ctx, string(w.names.EngineTable()))
	if err != nil {
		w.t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...), kgo.ConsumeTopics(string(w.names.EngineTable())),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords()) // the changelog's last record is a transaction's marker
	if err != nil {
		w.t.Fatal(err)
	}
	defer cl.Close()
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	out := map[string]int{}
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			w.t.Fatalf("reading the changelog: %v (partitions left: %v)", err, left)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				out[string(r.Key)]++
			}
			if r.Offset+1 >= left[r.Partition] {
				delete(left, r.Partition)
			}
		})
	}
	return out
}

// TestAcknowledgementsOutliveTheCache: with room for 4 decoded push states
// between cycles, 40 SKUs' acknowledgements still reach the stores. The
// cache holds an acknowledgement until it is written, so it must not drop
// those states.
func TestAcknowledgementsOutliveTheCache(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Kafka (kfake or STOCKSYNC_TEST_BROKERS)")
	}
	defer func(n int) { maxCached = n }(maxCached)
	maxCached = 4
	web := &shelf{shown: map[string]int64{}}
	w := newCluster(t, 0)
	w.pushTo = web
	w.start(0)
	const skus = 40
	sku := w.stockSKUs("C", skus)
	deadline := time.Now().Add(time.Minute)
	for {
		missing := 0
		for i := range skus {
			if !w.acked("web", sku(i), int64(5+i)) {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d SKUs' acknowledgements are not in the stores a minute later (the marketplace shows %d)", missing, skus, len(web.shows()))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
