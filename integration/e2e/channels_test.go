// Package e2e_test drives the whole loop of stocksync, orders and feeds in,
// marketplaces out, against misbehaving marketplaces, and checks DESIGN.md
// invariant 5: after the input stops, every channel's acknowledged value
// equals its projection, and the marketplace shows it.
package e2e_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stocksync/stocksync/client"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/examples"
	"github.com/stocksync/stocksync/instance"
	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/marketplace/mock"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	skus     = 300
	loadFor  = 20 * time.Second
	converge = 120 * time.Second
)

func TestChannelsConvergeDespiteMisbehavingMarketplaces(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the whole engine for a minute")
	}
	onEachKafka(t, run)
}

// onEachKafka runs test as a subtest on kfake, and on the real Kafka of
// $STOCKSYNC_TEST_BROKERS when it is set.
func onEachKafka(t *testing.T, test func(t *testing.T, brokers []string)) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	backends := map[string][]string{"kfake": cluster.ListenAddrs()}
	if b := os.Getenv("STOCKSYNC_TEST_BROKERS"); b != "" {
		backends["kafka"] = strings.Split(b, ",")
	} else {
		t.Log("STOCKSYNC_TEST_BROKERS not set: the real-Kafka variant is skipped; run make test-kafka")
	}
	for _, name := range []string{"kfake", "kafka"} {
		if brokers, ok := backends[name]; ok {
			t.Run(name, func(t *testing.T) { test(t, brokers) })
		}
	}
}

type stack struct {
	eng      instance.Engine
	reg      *prometheus.Registry
	mocks    map[string]*mock.Server
	settings *config.Config
}

func startStack(t *testing.T, brokers []string) *stack {
	t.Helper()
	settings := testSettings(t, brokers, fmt.Sprintf("e2e-%d.", rand.Uint32()), 4)
	in := start(t, instance.Config{Settings: settings,
		TuneMock: func(c config.Channel, m *mock.Server, ep *marketplace.Config) {
			if c.Marketplace == "ozon" { // the real 30 s would make the test wait minutes
				m.SetCooldown(time.Second)
				ep.Limits.ItemCooldown = time.Second
			}
		}})
	return &stack{eng: in.Engine(), reg: in.Registry(), mocks: in.Mocks(), settings: in.Settings()}
}

// testSettings is examples/stocksync.yaml on brokers, with a topic prefix,
// partitions and a data directory of the test's own.
func testSettings(t *testing.T, brokers []string, prefix string, partitions int32) *config.Config {
	t.Helper()
	settings, err := config.Parse(examples.Config)
	if err != nil {
		t.Fatal(err)
	}
	settings.Kafka.Brokers, settings.Kafka.TopicPrefix, settings.Kafka.Partitions = brokers, prefix, partitions
	settings.DataDir = t.TempDir()
	settings.HTTP.Addr = "127.0.0.1:0"
	return settings
}

// start runs an instance on the backend of $STOCKSYNC_ENGINE (default txloop)
// until the test ends, and waits until it is ready.
func start(t *testing.T, cfg instance.Config) *instance.Instance {
	t.Helper()
	cfg.Backend = os.Getenv(config.EnvBackend)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	in, err := instance.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := in.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return in
}

func run(t *testing.T, brokers []string) {
	s := startStack(t, brokers)
	names := s.eng.Names()
	producer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(string(names.StockFeed)))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	orders, err := client.NewKafka(context.Background(), client.KafkaConfig{Brokers: brokers, TopicPrefix: names.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer orders.Close()

	sku := func(i int) string { return fmt.Sprintf("E-%03d", i) }
	feed := func(f contract.FeedMessage) {
		v, _ := jsonMarshal(f)
		if err := producer.ProduceSync(context.Background(), &kgo.Record{Key: []byte(f.SKU), Value: v}).FirstErr(); err != nil {
			t.Errorf("produce feed: %v", err)
		}
	}
	for i := 0; i < skus; i++ {
		for j, loc := range []string{"msk-wh-1", "msk-dark-1", "spb-store-1"} {
			n := int64(20 + (i*7+j*3)%40)
			feed(contract.FeedMessage{Type: contract.Snapshot, SKU: sku(i), Location: loc, OnHand: &n, Source: "erp", Version: 1})
		}
	}

	// The misbehaviour: Wildberries is down for a while; Yandex throttles.
	wb, ym := s.mocks["wildberries"], s.mocks["yandex"]
	ctx, stop := context.WithTimeout(context.Background(), loadFor)
	defer stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(3 * time.Second)
		wb.SetDown(true)
		t.Log("wildberries: down")
		time.Sleep(6 * time.Second)
		wb.SetDown(false)
		t.Log("wildberries: back")
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			ym.FailNext(5, 420) // more than four requests in parallel, as Yandex answers
			time.Sleep(time.Second)
		}
	}()
	var sent, reserved int
	var mu sync.Mutex
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for n := 0; ctx.Err() == nil; n++ {
				id := fmt.Sprintf("e-%d-%d", w, n)
				res, err := orders.Reserve(context.Background(), id, []contract.Line{{SKU: sku(rng.IntN(skus)), Qty: int64(1 + rng.IntN(3))}}, "web", time.Hour)
				mu.Lock()
				sent++
				mu.Unlock()
				if err != nil || res.Status != contract.StatusReserved {
					continue
				}
				mu.Lock()
				reserved++
				mu.Unlock()
				switch rng.IntN(3) {
				case 0:
					_, _ = orders.Release(context.Background(), id)
				case 1:
					if _, err := orders.Confirm(context.Background(), id); err == nil {
						_, _ = orders.Ship(context.Background(), id)
					}
				}
				if n%10 == 0 {
					feed(contract.FeedMessage{Type: contract.Adjust, SKU: sku(rng.IntN(skus)), Location: "msk-wh-1",
						Delta: int64(1 + rng.IntN(5)), Reason: "restock", ID: id})
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("input stopped: %d reserve commands, %d reserved", sent, reserved)

	// Invariant 5: projection = acknowledged = what the marketplace shows.
	deadline := time.Now().Add(converge)
	begin := time.Now()
	for {
		bad := diverged(t, s, sku)
		if len(bad) == 0 {
			t.Logf("every channel converged %s after the input stopped", time.Since(begin).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			sort.Strings(bad)
			for i, b := range bad {
				if i == 15 {
					t.Errorf("… and %d more", len(bad)-15)
					break
				}
				t.Error(b)
			}
			return
		}
		time.Sleep(time.Second)
	}
	logLatency(t, s.reg)
	for _, c := range s.settings.Channels {
		m := s.mocks[c.Name]
		t.Logf("%s (%s): %d requests to the marketplace", c.Name, c.Marketplace, m.Requests())
	}
}

// diverged lists every SKU and channel where the value projected from the
// inventory, the value acknowledged, and the value the marketplace shows
// are not all equal.
func diverged(t *testing.T, s *stack, sku func(int) string) []string {
	var bad []string
	ctx := context.Background()
	for i := 0; i < skus; i++ {
		st, err := s.eng.Stock(ctx, sku(i))
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: stock: %v", sku(i), err))
			continue
		}
		for _, c := range s.settings.Channels {
			want := st.Channels[c.Name]
			cs, err := s.eng.ChannelStock(ctx, c.Name, sku(i))
			shown, ok := s.mocks[c.Name].Stock(sku(i))
			switch {
			case err != nil:
				bad = append(bad, fmt.Sprintf("%s/%s: sink: %v", c.Name, sku(i), err))
			case cs.Projected != want || cs.Acknowledged != want || cs.AcknowledgedVersion != cs.Version:
				bad = append(bad, fmt.Sprintf("%s/%s: inventory says %d, sink projected %d (v%d), acknowledged %d (v%d), parked %q",
					c.Name, sku(i), want, cs.Projected, cs.Version, cs.Acknowledged, cs.AcknowledgedVersion, cs.Parked))
			case !ok || shown != want:
				bad = append(bad, fmt.Sprintf("%s/%s: the marketplace shows %d (known %v), want %d", c.Name, sku(i), shown, ok, want))
			}
		}
	}
	return bad
}

// logLatency reports the stock change → marketplace ack latency per channel
// from the engine's histogram (quantiles interpolated within buckets).
func logLatency(t *testing.T, reg *prometheus.Registry) {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "stocksync_sink_e2e_latency_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			t.Logf("E2E %s: n=%d p50 %s p95 %s p99 %s", label(m, "channel"), h.GetSampleCount(),
				quantile(h, .5), quantile(h, .95), quantile(h, .99))
		}
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func quantile(h *dto.Histogram, q float64) string {
	total := float64(h.GetSampleCount())
	if total == 0 {
		return "-"
	}
	rank := q * total
	prevBound, prevCount := 0.0, 0.0
	for _, b := range h.GetBucket() {
		c := float64(b.GetCumulativeCount())
		if c >= rank {
			bound := b.GetUpperBound()
			if math.IsInf(bound, 1) {
				return fmt.Sprintf(">%gs", prevBound)
			}
			v := prevBound + (bound-prevBound)*(rank-prevCount)/math.Max(c-prevCount, 1)
			return (time.Duration(v * float64(time.Second))).Round(time.Millisecond).String()
		}
		prevBound, prevCount = b.GetUpperBound(), c
	}
	return "-"
}
