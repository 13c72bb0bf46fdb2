package inventory

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/processors"
	"github.com/stocksync/stocksync/topology"
)

// picky is a shelf that refuses, for good, the SKUs it does not list yet.
type picky struct {
	*shelf
	mu      sync.Mutex
	refused map[string]bool
}

func (p *picky) Push(ctx context.Context, batch []marketplace.Update) ([]marketplace.ItemResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]marketplace.ItemResult, len(batch))
	for i, u := range batch {
		if p.refused[u.SKU] {
			out[i] = marketplace.ItemResult{SKU: u.SKU, Reason: "unknown product"}
			continue
		}
		res, err := p.shelf.Push(ctx, batch[i:i+1])
		if err != nil {
			return nil, err
		}
		out[i] = res[0]
	}
	return out, nil
}

func (p *picky) list(skus ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, sku := range skus {
		delete(p.refused, sku)
	}
}

// TestReplayReleasesParkedValuesAcrossInstances: values the marketplace
// refused are parked in their push states on both instances' partitions;
// once the marketplace lists them, a replay sent once (as the API sends it)
// brings every one there, the value changed while parked at its newest.
func TestReplayReleasesParkedValuesAcrossInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Kafka (kfake or STOCKSYNC_TEST_BROKERS)")
	}
	mp := &picky{shelf: &shelf{shown: map[string]int64{}}, refused: map[string]bool{}}
	w := newCluster(t, 0)
	w.pushTo = mp
	w.start(0)
	w.start(1)
	waitFor(t, "both instances to own partitions", func() bool {
		owned := map[int]int{}
		w.mu.Lock()
		defer w.mu.Unlock()
		for i, in := range w.instances {
			for part := range int32(partitions) {
				if in.loop.Store(part) != nil {
					owned[i]++
				}
			}
		}
		return owned[0] > 0 && owned[1] > 0 && owned[0]+owned[1] == partitions
	})
	// Two refused SKUs on each partition, one listed SKU as a witness.
	var bad []string
	for i, per := 0, map[int32]int{}; len(bad) < 2*partitions; i++ {
		sku := fmt.Sprintf("R%02d", i)
		if part := topology.PartitionOf(sku, partitions); per[part] < 2 {
			per[part]++
			bad = append(bad, sku)
		}
	}
	mp.mu.Lock()
	for _, sku := range bad {
		mp.refused[sku] = true
	}
	mp.mu.Unlock()
	want := map[string]int64{"OK": 5}
	w.snapshot("OK", "msk-wh-1", 5)
	for i, sku := range bad {
		want[sku] = int64(10 + i)
		w.snapshot(sku, "msk-wh-1", want[sku])
	}
	parked := func(sku string) string {
		if s := w.pushState(sku); s != nil {
			return s.Parked
		}
		return ""
	}
	waitFor(t, "every refused SKU parked", func() bool {
		for _, sku := range bad {
			if parked(sku) == "" {
				return false
			}
		}
		return true
	})
	// A new value while parked is pushed, refused and parked again.
	want[bad[0]] = 99
	w.snapshot(bad[0], "msk-wh-1", 99)
	waitFor(t, bad[0]+"'s new value parked", func() bool {
		s := w.pushState(bad[0])
		return s != nil && s.Want == 99 && s.Parked != ""
	})
	if got := mp.shows(); len(got) != 1 || got["OK"] != 5 {
		t.Fatalf("before the replay the marketplace shows %v; want only OK: 5", got)
	}

	mp.list(bad...)
	if err := w.cl.ProduceSync(context.Background(), UnparkRecords(w.names, partitions, "web")...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the marketplace to show every released value, the newest of each", func() bool { return maps.Equal(mp.shows(), want) })
	waitFor(t, "no value parked", func() bool {
		for _, sku := range bad {
			if parked(sku) != "" {
				return false
			}
		}
		return true
	})
	for part := range int32(partitions) {
		if st := w.store(part); st != nil {
			if v, _ := st.Get([]byte(unparkKey("web"))); v != nil {
				t.Errorf("partition %d still keeps the replay's cursor %s after it ended", part, v)
			}
		}
	}
}

// pushState is channel web's push state of a SKU as its partition's store
// has it; nil while no instance serves the partition.
func (w *world) pushState(sku string) *processors.SinkState {
	st := w.store(topology.PartitionOf(sku, partitions))
	if st == nil {
		return nil
	}
	s, err := ChannelStock(st, "web", sku)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(25 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within a minute: %s", what)
		}
	}
}

// TestReplayResumesAtTheNextOwner: a replay in progress is kept in each
// partition's store, so the instance that takes a partition over goes on
// releasing its parked values without being asked again.
func TestReplayResumesAtTheNextOwner(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Kafka (kfake or STOCKSYNC_TEST_BROKERS)")
	}
	mp := &picky{shelf: &shelf{shown: map[string]int64{}}, refused: map[string]bool{"P1": true, "P2": true}}
	w := newCluster(t, 0)
	w.pushTo = mp
	w.start(0)
	w.snapshot("P1", "msk-wh-1", 3)
	w.snapshot("P2", "msk-wh-1", 4)
	waitFor(t, "P1 and P2 parked", func() bool {
		for _, sku := range []string{"P1", "P2"} {
			if s := w.pushState(sku); s == nil || s.Parked == "" {
				return false
			}
		}
		return true
	})
	w.stop(0)
	// What an owner stopped in the middle of a replay leaves in the
	// changelog: the replay's cursor, at the start.
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for part := range int32(partitions) {
		r := &kgo.Record{Topic: string(w.names.EngineTable()), Partition: part, Key: []byte(unparkKey("web")), Value: mustJSON(unparkCursor{})}
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	mp.list("P1", "P2")
	w.start(1)
	waitFor(t, "the next owner to release P1 and P2", func() bool {
		return maps.Equal(mp.shows(), map[string]int64{"P1": 3, "P2": 4})
	})
}
