package bench

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/internal/txloop"
	"github.com/stocksync/stocksync/processors"
	"github.com/stocksync/stocksync/processors/inventory"
	"github.com/stocksync/stocksync/state"
	"github.com/stocksync/stocksync/topology"
)

// cycleOrders is how many reserves a cycle of BenchmarkEngineCycle decides:
// about what a transaction carries in the closed-loop flash sale.
const cycleOrders = 100

// BenchmarkEngineCycle is the engine's own cost per decided order, without
// the broker, the network or the load generator: the flash sale's reserves
// (10,000 SKUs, the hot ones selling out), 100 a cycle, decided by the
// inventory processor on Pebble stores (4 partitions) and written to them
// as a committed cycle's are (txloop.Offline). The pushers are left out.
// It moves with the processor and its codecs alone, so a change to them is
// measured here without the end-to-end benchmark's noise:
//
//	go test ./bench -run '^$' -bench EngineCycle -benchmem -count 6
func BenchmarkEngineCycle(b *testing.B) {
	const parts = 4
	wl := WorkloadConfig{Kind: FlashSale, SKUs: 10_000}
	cat, err := wl.Catalogue()
	if err != nil {
		b.Fatal(err)
	}
	settings, _, err := EngineSettings([]string{"127.0.0.1:1"}, "cycle.", parts, b.TempDir(), "127.0.0.1:0", "")
	if err != nil {
		b.Fatal(err)
	}
	names := topology.New(settings.Kafka.TopicPrefix)
	proc, err := inventory.New(inventory.Config{Names: names, Partitions: parts, Catalog: settings.Catalog(),
		Metrics: processors.NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		b.Fatal(err)
	}
	stores := map[int32]*state.Partition{}
	dir := b.TempDir()
	for p := range int32(parts) {
		st, err := state.OpenPartition(filepath.Join(dir, fmt.Sprint(p)), state.PartitionOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = st.Close() })
		stores[p] = st
	}
	off := txloop.NewOffline(proc, stores)
	offsets := map[int32]int64{}
	record := func(topic goka.Stream, key string, v any) *kgo.Record {
		value, err := json.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		p := topology.PartitionOf(key, parts)
		offsets[p]++
		return &kgo.Record{Topic: string(topic), Partition: p, Offset: offsets[p], Key: []byte(key), Value: value}
	}
	var feed []*kgo.Record
	err = cat.Each(func(k Key, onHand int64) error {
		feed = append(feed, record(names.StockFeed, k.SKU, contract.FeedMessage{Type: contract.Snapshot, SKU: k.SKU,
			Location: k.Location, OnHand: &onHand, Source: "erp", Version: 1}))
		if len(feed) == 1000 {
			_, err := off.Cycle(proc, feed, time.Now())
			feed = feed[:0]
			return err
		}
		return nil
	})
	if err == nil && len(feed) > 0 {
		_, err = off.Cycle(proc, feed, time.Now())
	}
	if err != nil {
		b.Fatal(err)
	}
	gen, err := newGenerator(wl, "bench")
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]*kgo.Record, cycleOrders)
	// The process's CPU, less the commands' making: Pebble's compactions
	// and the GC run beside the cycles, on the other core.
	var making time.Duration
	b.ResetTimer()
	began := processCPU(b)
	for b.Loop() {
		b.StopTimer()
		made := processCPU(b)
		for i := range recs {
			op := gen.Next()
			recs[i] = record(names.OrderCommands, op.Lines[0].SKU, contract.OrderCommand{Type: contract.Reserve, OrderID: op.OrderID,
				Lines: op.Lines, Channel: wl.Channel, TTLS: int64(wl.TTL / time.Second), RequestID: op.OrderID})
		}
		making += processCPU(b) - made
		b.StartTimer()
		if _, err := off.Cycle(proc, recs, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	cpu := processCPU(b) - began - making
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*cycleOrders)/1e3, "µs/order")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*cycleOrders)/1e3, "cpu-µs/order")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
