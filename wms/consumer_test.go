package wms

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/processors"
	"github.com/stocksync/stocksync/stock"
	"github.com/stocksync/stocksync/topology"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	wmsTopic  = "wms.movements"
	feedTopic = "t.stock.feed"
	dlqTopic  = "t.dlq"
)

// TestMovementsApplyOnceAndBadOnesGoToTheDLQ runs the consumer on kfake:
// movements in the WMS's shape become adjusts keyed by SKU on the partition
// murmur2 picks; a movement delivered twice, by the WMS and by a restart
// before the commit, moves stock once once the engine's ledger applies the
// adjusts; unmappable messages reach the DLQ with their reason.
func TestMovementsApplyOnceAndBadOnesGoToTheDLQ(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, wmsTopic), kfake.SeedTopics(4, feedTopic, dlqTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	brokers := cluster.ListenAddrs()
	wmsClient, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wmsClient.Close)
	send := func(key string, values ...string) {
		t.Helper()
		for _, v := range values {
			if err := wmsClient.ProduceSync(context.Background(), &kgo.Record{Topic: wmsTopic, Key: []byte(key), Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	send("m", // the WMS's own key, not ours
		`{"item":{"code":"A"},"site":"WH1","qty":10,"move_id":"m-1","ts":"2026-01-02T03:04:05Z"}`,
		`{"item":{"code":"A"},"site":"WH1","qty":-3,"move_id":"m-2","ts":"2026-01-02T03:05:00Z"}`,
		`{"item":{"code":"A"},"site":"WH1","qty":10,"move_id":"m-1","ts":"2026-01-02T03:04:05Z"}`, // the WMS sent it twice
		`{"item":{"code":"B"},"site":"spb-1","qty":"4","move_id":77,"ts":1767225600}`,
		`not json`,
		`{"item":{"code":"A"},"site":"WH9","qty":1,"move_id":"m-9","ts":1}`,
		`{"item":{"code":"A"},"site":"WH1","qty":1.5,"move_id":"m-8","ts":1}`,
	)

	cfg := Config{Brokers: brokers, Locations: []string{"msk-1", "spb-1"}, FeedTopic: feedTopic, DLQTopic: dlqTopic,
		Logger: slog.New(slog.DiscardHandler),
		Sources: []config.WMS{{Topic: wmsTopic, Group: "t.wms." + wmsTopic, Reason: "wms",
			Fields:    config.WMSFields{SKU: "item.code", Location: "site", Delta: "qty", ID: "move_id", Time: "ts"},
			Locations: map[string]string{"WH1": "msk-1"}}}}
	reg := prometheus.NewRegistry()
	cfg.Registry = reg
	stop := runConsumer(t, cfg)

	feed := readTopic(t, brokers, feedTopic, 4)
	dlq := readTopic(t, brokers, dlqTopic, 3)
	stop()
	if got := testutil.ToFloat64(mustCounter(t, reg, "sent")); got != 4 {
		t.Errorf("sent counter %v, want 4", got)
	}

	// A restart with a new registry: committed movements are not read again,
	// a new duplicate of m-2 is sent again and still applies once.
	send("m", `{"item":{"code":"A"},"site":"WH1","qty":-3,"move_id":"m-2","ts":"2026-01-02T03:05:00Z"}`)
	cfg.Registry = prometheus.NewRegistry()
	stop = runConsumer(t, cfg)
	feed = readTopic(t, brokers, feedTopic, 5)
	stop()

	ledgers := map[string]*stock.SKU{}
	for _, r := range feed {
		msg, err := contract.DecodeFeed(r.Value)
		if err != nil {
			t.Fatalf("stock.feed holds %s: %v", r.Value, err)
		}
		if string(r.Key) != msg.SKU || r.Partition != topology.PartitionOf(msg.SKU, 4) {
			t.Errorf("adjust %s has key %q on partition %d, want its SKU on %d", r.Value, r.Key, r.Partition, topology.PartitionOf(msg.SKU, 4))
		}
		if msg.Type != contract.Adjust || msg.Reason != "wms" {
			t.Errorf("not a wms adjust: %s", r.Value)
		}
		if msg.ID == "m-1" && !r.Timestamp.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
			t.Errorf("m-1 has timestamp %v, want the movement's time", r.Timestamp)
		}
		if ledgers[msg.SKU] == nil {
			ledgers[msg.SKU] = &stock.SKU{}
		}
		ledgers[msg.SKU].Adjust(msg) // what the inventory processor does
	}
	onHand := func(sku, loc string) int64 {
		if l := ledgers[sku].Location(loc); l != nil {
			return l.OnHand
		}
		return 0
	}
	if a, b := onHand("A", "msk-1"), onHand("B", "spb-1"); a != 7 || b != 4 {
		t.Errorf("on_hand A@msk-1 = %d (want 10-3 = 7), B@spb-1 = %d (want 4)", a, b)
	}

	wantReasons := []string{"not JSON", `location "WH9" is not configured`, `field qty is "1.5", not a whole number`}
	for i, r := range dlq {
		dec := json.NewDecoder(bytes.NewReader(r.Value))
		dec.DisallowUnknownFields() // the processors' shape, nothing else
		var dl processors.DeadLetter
		if err := dec.Decode(&dl); err != nil {
			t.Fatalf("dead letter %s: %v", r.Value, err)
		}
		if dl.Topic != wmsTopic || dl.Key != "m" || !strings.Contains(dl.Reason, wantReasons[i]) || dl.At == "" {
			t.Errorf("dead letter %d: %+v, want reason %q", i, dl, wantReasons[i])
		}
	}
}

func runConsumer(t *testing.T, cfg Config) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

// readTopic reads topic from the start until it holds n records, ordered
// by partition then offset within a partition as produced.
func readTopic(t *testing.T, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s holds %d records after 30s, want %d", topic, len(out), n)
		}
		out = append(out, f.Records()...)
	}
	if len(out) != n {
		t.Fatalf("%s holds %d records, want %d", topic, len(out), n)
	}
	return out
}

func mustCounter(t *testing.T, g prometheus.Gatherer, outcome string) prometheus.Collector {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if f.GetName() == "stocksync_wms_movements_total" && l.GetName() == "outcome" && l.GetValue() == outcome {
					return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x"}, func() float64 { return m.GetCounter().GetValue() })
				}
			}
		}
	}
	t.Fatalf("no stocksync_wms_movements_total{outcome=%q}", outcome)
	return nil
}
