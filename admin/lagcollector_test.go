package admin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestLagCollectorExportsLagPerGroupAndPartition runs the collector on kfake:
// the inventory group has committed 3 of the 5 messages of stock.feed's
// partition 0 and none of partition 1's 2; every other partition is empty.
func TestLagCollectorExportsLagPerGroupAndPartition(t *testing.T) {
	names := topology.New("lagtest.")
	var topics []string
	for _, in := range Inputs(names, config.BackendGoka) {
		topics = append(topics, in.Topics...)
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topics...))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	feed := string(names.StockFeed)
	for i, p := range []int32{0, 0, 0, 0, 0, 1, 1} {
		r := &kgo.Record{Topic: feed, Partition: p, Key: []byte{byte(i)}, Value: []byte("x")}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	var committed kadm.Offsets
	committed.AddOffset(feed, 0, 3, -1)
	if _, err := adm.CommitOffsets(ctx, string(names.Inventory), committed); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	c, err := NewLagCollector(LagCollectorConfig{Admin: adm, Names: names, Registry: reg, Interval: 5 * time.Second, Backend: config.BackendGoka})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	want.WriteString(`# HELP stocksync_consumer_lag Messages of the partition the group has not committed yet (end offset minus committed offset).
# TYPE stocksync_consumer_lag gauge
`)
	line := func(group, topic, partition, lag string) {
		want.WriteString(`stocksync_consumer_lag{group="lagtest.` + group + `",partition="` + partition + `",topic="lagtest.` + topic + `"} ` + lag + "\n")
	}
	line("channels", "sink.verdicts", "0", "0")
	line("channels", "sink.verdicts", "1", "0")
	line("channels", "stock.changes", "0", "0")
	line("channels", "stock.changes", "1", "0")
	line("inventory", "stock.commands", "0", "0")
	line("inventory", "stock.commands", "1", "0")
	line("inventory", "stock.feed", "0", "2")
	line("inventory", "stock.feed", "1", "2")
	line("orders", "orders.commands", "0", "0")
	line("orders", "orders.commands", "1", "0")
	line("orders", "stock.replies", "0", "0")
	line("orders", "stock.replies", "1", "0")
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want.String()), "stocksync_consumer_lag"); err != nil {
		t.Error(err)
	}

	// Kafka gone: every group's refresh fails and counts an error; the
	// metric keeps the last good values rather than dropping the series.
	cluster.Close()
	short, done := context.WithTimeout(ctx, 500*time.Millisecond)
	defer done()
	if err := c.Refresh(short); err == nil {
		t.Fatal("a refresh without brokers succeeded")
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want.String()), "stocksync_consumer_lag"); err != nil {
		t.Error(err)
	}
	const errorsWant = `# HELP stocksync_consumer_lag_refresh_errors_total Refreshes of a group's consumer lag that failed; its last good values stay exported.
# TYPE stocksync_consumer_lag_refresh_errors_total counter
stocksync_consumer_lag_refresh_errors_total{group="lagtest.channels"} 1
stocksync_consumer_lag_refresh_errors_total{group="lagtest.inventory"} 1
stocksync_consumer_lag_refresh_errors_total{group="lagtest.orders"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(errorsWant), "stocksync_consumer_lag_refresh_errors_total"); err != nil {
		t.Error(err)
	}
}

func TestLagCollectorConfigErrors(t *testing.T) {
	_, err := NewLagCollector(LagCollectorConfig{Interval: time.Millisecond})
	for _, want := range []string{"Admin is required", "Names is required", "Registry is required", "Interval 1ms is below 1s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

// TestLagCollectorFollowsARepartition: once the new engine's inputs grew
// and its next generation's table exists, the lag is the new group's, the
// old group (which lags for good) is no longer exported, and a failed
// refresh counts against the new group.
func TestLagCollectorFollowsARepartition(t *testing.T) {
	names := topology.New("lagrp.")
	in := Inputs(names, config.BackendTxloop)[0].Topics
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, append(in, string(names.EngineTable()))...))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	reg := prometheus.NewRegistry()
	c, err := NewLagCollector(LagCollectorConfig{Admin: adm, Names: names, Registry: reg, Interval: 5 * time.Second, Backend: config.BackendTxloop})
	if err != nil {
		t.Fatal(err)
	}
	groups := func() map[string]int {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, mf := range mfs {
			if mf.GetName() != "stocksync_consumer_lag" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "group" {
						out[l.GetValue()]++
					}
				}
			}
		}
		return out
	}
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := groups(); got["lagrp.engine"] != 6 || len(got) != 1 {
		t.Errorf("before the repartition: series by group %v, want lagrp.engine's 3 inputs × 2 partitions", got)
	}
	grown := names.AtPartitions(4)
	if _, err := adm.CreateTopics(ctx, 4, 1, nil, string(grown.EngineTable())); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.UpdatePartitions(ctx, 4, in...); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := groups(); got["lagrp.engine.p4"] != 12 || len(got) != 1 {
		t.Errorf("after the repartition: series by group %v, want only lagrp.engine.p4's 3 inputs × 4 partitions", got)
	}
	cluster.Close()
	short, done := context.WithTimeout(ctx, 500*time.Millisecond)
	defer done()
	if err := c.Refresh(short); err == nil {
		t.Fatal("a refresh without brokers succeeded")
	}
	const errorsWant = `# HELP stocksync_consumer_lag_refresh_errors_total Refreshes of a group's consumer lag that failed; its last good values stay exported.
# TYPE stocksync_consumer_lag_refresh_errors_total counter
stocksync_consumer_lag_refresh_errors_total{group="lagrp.engine"} 0
stocksync_consumer_lag_refresh_errors_total{group="lagrp.engine.p4"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(errorsWant), "stocksync_consumer_lag_refresh_errors_total"); err != nil {
		t.Error(err)
	}
}
