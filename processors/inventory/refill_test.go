package inventory

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/internal/txloop"
	"github.com/stocksync/stocksync/processors"
	"github.com/stocksync/stocksync/sinks"
	"github.com/stocksync/stocksync/state"
	"github.com/stocksync/stocksync/stock"
	"github.com/stocksync/stocksync/topology"
)

// TestRefillOffersAValueRefusedBehindItsSweep: a pusher with room for 4
// values is behind on a partition of 10 SKUs. While its sweep over the
// push states stands past SKU S00, S00 gets a new value and the full
// pusher refuses it. The sweep must not end the pusher's *behind* when it
// reaches the end: the new value is offered, and acknowledged, all the
// same. Cycles run offline, one after the other, so the sequence is exact.
func TestRefillOffersAValueRefusedBehindItsSweep(t *testing.T) {
	names := topology.New("refill.")
	cat := stock.NewCatalog([]string{"msk-wh-1"}, []stock.ChannelRule{{Name: "web", Locations: []string{"msk-wh-1"}, Share: 1}})
	pu, err := sinks.New(sinks.Config{Channel: "web", Adapter: &shelf{shown: map[string]int64{}}, Metrics: sinks.NewMetrics(prometheus.NewRegistry()),
		Logger: testLogger(), MaxPending: 4, Send: func(context.Context, sinks.Verdict, func(error)) {}}) // never run: the test plays the marketplace
	if err != nil {
		t.Fatal(err)
	}
	proc, err := New(Config{Names: names, Partitions: 1, Catalog: cat, Metrics: processors.NewMetrics(prometheus.NewRegistry()),
		Logger: testLogger(), Pushers: map[string]*sinks.Pusher{"web": pu}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.OpenPartition(filepath.Join(t.TempDir(), "0"), state.PartitionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	off := txloop.NewOffline(proc, map[int32]*state.Partition{0: st}) // Ready: the pusher is behind on it
	now := time.Now()
	cycle := func(recs ...*kgo.Record) {
		t.Helper()
		now = now.Add(2 * time.Second) // past AckWriteDelay: every cycle writes what is due
		if _, err := off.Cycle(proc, recs, now); err != nil {
			t.Fatal(err)
		}
	}
	offset := int64(0)
	snapshot := func(sku string, onHand int64) *kgo.Record {
		v, _ := json.Marshal(contract.FeedMessage{Type: contract.Snapshot, SKU: sku, Location: "msk-wh-1", OnHand: &onHand, Source: "erp", Version: now.UnixNano()})
		offset++
		return &kgo.Record{Topic: string(names.StockFeed), Key: []byte(sku), Value: v, Offset: offset}
	}
	// ackAll plays the marketplace: it takes every value the pusher holds,
	// and the next cycle records the acknowledgements.
	ackAll := func() []string {
		var skus []string
		for _, v := range pu.Pending() {
			if !proc.Verdict(context.Background(), sinks.Verdict{Channel: "web", SKU: v.SKU, Version: v.Version, Available: v.Available, OK: true, At: now.UnixMilli()}) {
				t.Fatal("verdict not taken")
			}
			skus = append(skus, v.SKU)
		}
		return skus
	}
	pending := func() []string {
		var skus []string
		for _, v := range pu.Pending() {
			skus = append(skus, fmt.Sprintf("%s v%d", v.SKU, v.Version))
		}
		return skus
	}

	var feed []*kgo.Record
	for i := range 10 {
		feed = append(feed, snapshot(fmt.Sprintf("S%02d", i), int64(10+i)))
	}
	cycle(feed...) // ten new values: the pusher takes four and refuses six for room
	if got, want := pending(), []string{"S00 v1", "S01 v1", "S02 v1", "S03 v1"}; !slices.Equal(got, want) {
		t.Fatalf("after the first values the pusher holds %v; want %v", got, want)
	}
	ackAll()
	cycle() // the acknowledgements recorded; the pusher is empty
	cycle() // a sweep begins: S00–S03 are acknowledged, S04–S07 offered, the cursor stops there
	if got, want := pending(), []string{"S04 v1", "S05 v1", "S06 v1", "S07 v1"}; !slices.Equal(got, want) {
		t.Fatalf("the sweep's first step offered %v; want %v", got, want)
	}
	cycle(snapshot("S00", 50)) // behind the cursor: the full pusher refuses S00's new value
	if got := pending(); slices.Contains(got, "S00 v2") {
		t.Fatalf("the full pusher took S00 v2: %v", got)
	}
	for range 6 { // the sweep reaches the end; the marketplace takes whatever is offered
		ackAll()
		cycle()
	}
	s, err := ChannelStock(st, "web", "S00")
	if err != nil || s == nil {
		t.Fatalf("S00's push state: %+v, %v", s, err)
	}
	if s.Want != 50 || s.Acked != 50 {
		t.Fatalf("S00 wants %d (v%d) and the marketplace acknowledged %d (v%d): its new value was never offered again", s.Want, s.WantVersion, s.Acked, s.AckedVersion)
	}
}
