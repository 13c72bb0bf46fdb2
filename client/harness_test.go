package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"gopkg.in/yaml.v3"

	"github.com/stocksync/stocksync/auth"
	"github.com/stocksync/stocksync/client"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/examples"
	"github.com/stocksync/stocksync/instance"
)

// Tokens of the test API.
const (
	tokOrders = "checkout-0123456789abcdef" // orders:write
	tokRead   = "reader-0123456789abcdef"   // stock:read only
	tokSlow   = "slow-0123456789abcdef"     // orders:write, 0.2 requests/s
)

const readyWithin = 60 * time.Second

// stack is a whole stocksync in this process: kfake, the engine, and the
// HTTP API with auth on, on a real HTTP server.
type stack struct {
	brokers []string
	prefix  string
	eng     instance.Engine
	url     string // the API's base URL
	logs    *syncBuffer
}

// startStack starts a stack under t's temporary directory; it stops when t
// ends.
func startStack(t *testing.T) *stack {
	t.Helper()
	dir := t.TempDir()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(filepath.Join(dir, "kafka")))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(cluster.Close)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	s := &stack{brokers: cluster.ListenAddrs(), prefix: "client-" + hex.EncodeToString(b) + ".", logs: &syncBuffer{}}

	var doc map[string]any
	if err := yaml.Unmarshal(examples.Config, &doc); err != nil {
		t.Fatal(err)
	}
	doc["kafka"] = map[string]any{"brokers": s.brokers, "topic_prefix": s.prefix, "partitions": 4}
	doc["data_dir"] = filepath.Join(dir, "engine")
	doc["engine"] = map[string]any{"sweep_interval": "100ms", "write_timeout": "5s"}
	// No channels: their sinks need marketplace endpoints, which order
	// commands do not; the locations stay the example's.
	delete(doc, "channels")
	data, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	settings, err := config.Parse(data)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	settings.HTTP.Addr = "127.0.0.1:0"
	keyring, err := auth.NewKeyring([]auth.Token{
		{Token: tokOrders, Name: "checkout", Scopes: []auth.Scope{auth.OrdersWrite, auth.StockRead}},
		{Token: tokRead, Name: "reader", Scopes: []auth.Scope{auth.StockRead}},
		{Token: tokSlow, Name: "slow", Scopes: []auth.Scope{auth.OrdersWrite}, RatePerS: 0.2},
	})
	if err != nil {
		t.Fatal(err)
	}
	in, err := instance.Start(context.Background(), instance.Config{Settings: settings, Backend: os.Getenv(config.EnvBackend),
		Logger: slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelWarn})), Auth: keyring})
	if err != nil {
		t.Fatalf("instance.Start: %v", err)
	}
	s.eng, s.url = in.Engine(), in.URL()
	t.Cleanup(func() {
		stopped := make(chan error, 1)
		go func() { stopped <- in.Stop() }()
		select {
		case err := <-stopped:
			if err != nil {
				t.Errorf("the instance stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the instance did not stop within 30s")
		}
		if t.Failed() {
			t.Logf("engine log:\n%s", s.logs)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), readyWithin)
	defer cancel()
	if err := in.WaitReady(ctx); err != nil {
		t.Fatalf("%v\n%s", err, s.logs)
	}
	return s
}

// stock gives sku onHand units at msk-wh-1 (a snapshot, applied).
func (s *stack) stock(t *testing.T, sku string, onHand int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ans, err := s.eng.SubmitFeed(ctx, contract.FeedMessage{Type: contract.Snapshot, SKU: sku, Location: "msk-wh-1",
		OnHand: &onHand, Source: "erp", Version: time.Now().UnixNano()})
	if err != nil || ans.Status != "applied" {
		t.Fatalf("snapshot of %s: %+v, %v", sku, ans, err)
	}
}

// reserved is the units of sku the engine holds reserved.
func (s *stack) reserved(t *testing.T, sku string) int64 {
	t.Helper()
	v, err := s.eng.Stock(context.Background(), sku)
	if err != nil {
		t.Fatalf("stock of %s: %v", sku, err)
	}
	return v.Reserved
}

func (s *stack) kafka(t *testing.T, mods ...func(*client.KafkaConfig)) *client.Kafka {
	t.Helper()
	cfg := client.KafkaConfig{Brokers: s.brokers, TopicPrefix: s.prefix}
	for _, m := range mods {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	k, err := client.NewKafka(ctx, cfg)
	if err != nil {
		t.Fatalf("NewKafka: %v", err)
	}
	t.Cleanup(func() { _ = k.Close() })
	return k
}

func (s *stack) http(t *testing.T, token string) *client.HTTP {
	t.Helper()
	h, err := client.NewHTTP(client.HTTPConfig{BaseURL: s.url, Token: token})
	if err != nil {
		t.Fatalf("NewHTTP: %v", err)
	}
	return h
}

// syncBuffer is a log sink the engine's goroutines and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
