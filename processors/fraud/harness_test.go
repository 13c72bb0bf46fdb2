package fraud

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/config"
)

// startKfake starts an embedded single-broker Kafka, closed when t ends.
func startKfake(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(filepath.Join(t.TempDir(), "kfake")))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// backends are the Kafkas a test runs on: kfake always, and the real
// broker of STOCKSYNC_TEST_BROKERS when it is set (as CI does), each with a
// topic prefix of its own; the real broker's topics are deleted at the end.
func backends(t *testing.T, short string) map[string]struct {
	brokers []string
	prefix  string
} {
	out := map[string]struct {
		brokers []string
		prefix  string
	}{"kfake": {startKfake(t), short + "."}}
	v := strings.TrimSpace(os.Getenv("STOCKSYNC_TEST_BROKERS"))
	if v == "" {
		t.Log("STOCKSYNC_TEST_BROKERS not set: on kfake only")
		return out
	}
	prefix := fmt.Sprintf("fraudtest-%d-%s.", time.Now().UnixNano(), short)
	brokers := strings.Split(v, ",")
	out["kafka"] = struct {
		brokers []string
		prefix  string
	}{brokers, prefix}
	t.Cleanup(func() { deleteTopics(t, brokers, NewNames(prefix)) })
	return out
}

func deleteTopics(t *testing.T, brokers []string, n Names) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Log(err)
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var names []string // all under the test's own prefix
	for topic := range n.topics() {
		names = append(names, topic)
	}
	adm := kadm.NewClient(cl)
	if _, err := adm.DeleteTopics(ctx, names...); err != nil {
		t.Logf("delete the test's topics: %v", err)
	}
	if _, err := adm.DeleteGroups(ctx, string(n.Customers), string(n.Stores)); err != nil {
		t.Logf("delete the test's groups: %v", err)
	}
}

// testSettings is a defaulted config for brokers with the fraud section f.
func testSettings(brokers []string, prefix string, f config.Fraud) *config.Config {
	s := &config.Config{Kafka: config.Kafka{Brokers: brokers, TopicPrefix: prefix, Partitions: 3}, Fraud: f}
	s.Fraud.Enabled = true
	s.Defaults()
	return s
}

// running is a started Service; stop it with stop.
type running struct {
	*Service
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, s *config.Config, dataDir string) *running {
	t.Helper()
	svc, err := New(Config{Settings: s, Registry: prometheus.NewRegistry(), DataDir: dataDir,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Service: svc, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- svc.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	<-r.done
}

// waitAlerts polls the alert store until it holds n alerts or 30 s pass.
func waitAlerts(t *testing.T, svc *Service, n int) []Alert {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := svc.Alerts(AlertFilter{Limit: 1000})
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) < n {
				t.Fatalf("after 30 s %d alerts, want %d: %+v", len(got), n, got)
			}
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// produce sends raw values to topic keyed by key, as any Kafka producer
// would (murmur2 partitioner).
func produce(t *testing.T, brokers []string, topic, key string, values ...[]byte) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: v}).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
	}
}

// consume reads n records of topic from the start, or fails after 30 s.
func consume(t *testing.T, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: %d records after 30 s, want %d", topic, len(out), n)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// ret is a return of customer c with id, at hour h of 2026-11-01, for 10.
func ret(c, id string, h int) []byte {
	ts := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(h) * time.Hour)
	return []byte(fmt.Sprintf(`{"type":"return","return_id":%q,"store":"s1","cashier":"k1","customer_id":%q,"sku":"A","qty":1,"amount":10,"receipt_id":"r-%s","ts":%q}`,
		id, c, id, ts.Format(time.RFC3339)))
}

func decodeAlert(t *testing.T, b []byte) Alert {
	t.Helper()
	var a Alert
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

func mustMetrics(tb testing.TB) *Metrics {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	return m
}
