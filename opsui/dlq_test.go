package opsui

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/admin"
	"github.com/stocksync/stocksync/processors"
	"github.com/stocksync/stocksync/topology"
)

// replayEngine records the channels whose parked values were released.
type replayEngine struct {
	mu       sync.Mutex
	released []string
}

func (e *replayEngine) Ready() error                        { return nil }
func (e *replayEngine) ConsumerGroups() []admin.GroupInputs { return nil }
func (e *replayEngine) ReplayChannelDLQ(_ context.Context, ch string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.released = append(e.released, ch)
	return nil
}

// TestDeadLetters parks what each engine parks (an input message, the old
// engine's refusal from sink.verdicts, the new one's marketplace:<channel>),
// browses them by class and replays them all.
func TestDeadLetters(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t.dlq", "t.stock.feed"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	names := topology.New("t.")
	reg := prometheus.NewRegistry()
	orders, err := NewOrders(reg)
	if err != nil {
		t.Fatal(err)
	}
	eng := &replayEngine{}
	c, err := New(Config{Engine: eng, Orders: orders, Gatherer: reg, Brokers: cluster.ListenAddrs(), Names: names, Instance: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	verdict, _ := json.Marshal(map[string]any{"channel": "ozon", "sku": "A", "ok": false, "reason": "bad barcode"})
	for _, dl := range []processors.DeadLetter{
		{Topic: string(names.StockFeed), Key: "A", Value: `{"type":"snapshot","sku":"A","location":"w","on_hand":1,"source":"erp","version":1}`,
			Reason: "not a feed message: unknown location"},
		{Topic: string(names.SinkVerdicts), Key: "A", Value: string(verdict), Reason: `channel ozon: the marketplace refused SKU "A": bad barcode`},
		{Topic: "marketplace:ozon", Key: "B", Value: `{}`, Reason: `channel ozon: the marketplace refused SKU "B": bad barcode`},
		{Topic: "marketplace:web", Key: "C", Value: `{}`, Reason: `channel web: the marketplace refused SKU "C": 400`},
	} {
		v, _ := json.Marshal(dl)
		if err := c.client.ProduceSync(ctx, &kgo.Record{Topic: string(names.DLQ), Key: []byte(dl.Key), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	page, err := c.DeadLetters(ctx, "channel ozon", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([]ClassCount{{"channel ozon", 2}, {"channel web", 1}, {"not a feed message", 1}})
	if got := fmt.Sprint(page.Classes); got != want || page.Total != 2 || len(page.Items) != 2 || page.Scanned != 4 {
		t.Fatalf("page of class channel ozon: classes %s (want %s), total %d, items %d, scanned %d", got, want, page.Total, len(page.Items), page.Scanned)
	}
	one, err := c.DeadLetter(ctx, "0-0")
	if err != nil || one.Key != "A" || one.Class != "not a feed message" {
		t.Fatalf("dead letter 0-0 = %+v, %v; want the feed message of A", one, err)
	}
	if _, err := c.DeadLetter(ctx, "0-99"); err == nil {
		t.Fatal("dead letter 0-99 was found; the DLQ holds 4 messages")
	}

	out := c.Replay(ctx, []string{"0-0", "0-1", "0-2", "0-3", "bad"})
	got := map[string]string{}
	for _, r := range out {
		got[r.ID] = r.Status + " " + r.To
	}
	for id, w := range map[string]string{"0-0": "replayed t.stock.feed", "0-1": "replayed channel ozon", "0-2": "replayed channel ozon",
		"0-3": "replayed channel web", "bad": "failed "} {
		if got[id] != w {
			t.Errorf("replay of %s: %q, want %q", id, got[id], w)
		}
	}
	if fmt.Sprint(eng.released) != "[ozon web]" {
		t.Errorf("channels released: %v, want ozon once, then web", eng.released)
	}
	feed, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics(string(names.StockFeed)))
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	rec := feed.PollFetches(ctx).Records()
	if len(rec) != 1 || string(rec[0].Key) != "A" || len(rec[0].Headers) != 1 || string(rec[0].Headers[0].Value) != "t.dlq/0-0" {
		t.Fatalf("stock.feed after the replay: %v; want the feed message of A, marked as replayed from t.dlq/0-0", rec)
	}
	if d, _ := c.DeadLetter(ctx, "0-0"); d.Replayed == "" {
		t.Error("a replayed message is not marked replayed")
	}
}
