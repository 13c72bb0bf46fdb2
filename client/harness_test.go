package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"gopkg.in/yaml.v3"

	"github.com/stocksync/stocksync/auth"
	"github.com/stocksync/stocksync/client"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/engine"
	"github.com/stocksync/stocksync/examples"
	"github.com/stocksync/stocksync/queryapi"
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
	eng     *engine.Engine
	api     *httptest.Server
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
	log := slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	reg := prometheus.NewRegistry()
	s.eng, err = engine.New(engine.Config{Settings: settings, Registry: reg, Logger: log, InstanceID: "client-test"})
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	keyring, err := auth.NewKeyring([]auth.Token{
		{Token: tokOrders, Name: "checkout", Scopes: []auth.Scope{auth.OrdersWrite, auth.StockRead}},
		{Token: tokRead, Name: "reader", Scopes: []auth.Scope{auth.StockRead}},
		{Token: tokSlow, Name: "slow", Scopes: []auth.Scope{auth.OrdersWrite}, RatePerS: 0.2},
	})
	if err != nil {
		t.Fatal(err)
	}
	api, err := queryapi.New(queryapi.Config{Engine: s.eng, Registry: reg, Gatherer: reg, Logger: log,
		WriteTimeout: settings.Engine.WriteTimeout.Duration, Auth: keyring,
		RatePerS: settings.HTTP.RatePerS, MaxInFlight: settings.HTTP.MaxInFlight})
	if err != nil {
		t.Fatalf("queryapi.New: %v", err)
	}
	s.api = httptest.NewServer(api)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.eng.Run(ctx) }()
	t.Cleanup(func() {
		s.api.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("engine.Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("engine.Run did not return within 30s of its context ending")
		}
		if t.Failed() {
			t.Logf("engine log:\n%s", s.logs)
		}
	})
	deadline := time.Now().Add(readyWithin)
	for s.eng.Ready() != nil {
		select {
		case err := <-done:
			t.Fatalf("engine.Run returned before it was ready: %v\n%s", err, s.logs)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("engine not ready within %s: %v\n%s", readyWithin, s.eng.Ready(), s.logs)
		}
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
	h, err := client.NewHTTP(client.HTTPConfig{BaseURL: s.api.URL, Token: token, HTTPClient: s.api.Client()})
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
