package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stocksync/stocksync/admin"
	"github.com/stocksync/stocksync/topology"
)

// TestDevIsReadyOnlyWithItsCatalogue runs `stocksync dev` on its embedded
// Kafka: once /readyz answers 200, the last SKU of the demo catalogue is
// there, and /metrics shows the build and the lag collector.
func TestDevIsReadyOnlyWithItsCatalogue(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the engine on an embedded Kafka")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runMain(ctx, []string{"dev", "--http", addr, "--kafka-port", "0", "--data", t.TempDir(), "--skus", "300"},
			func(string) string { return "" }, &stdout, io.Discard)
	}()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(2 * time.Minute)
	var notReady []string
	for {
		code, body := get("/readyz")
		if code == http.StatusOK {
			break
		}
		if code == http.StatusServiceUnavailable && strings.Contains(body, "dev: ") && len(notReady) < 5 {
			notReady = append(notReady, body)
		}
		select {
		case c := <-done:
			t.Fatalf("stocksync dev ended with status %d before it was ready", c)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 after 2 minutes; last answer %d %s", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("503 answers naming the demo catalogue before ready: %q", notReady)
	if code, body := get("/v1/stock/SKU-00300"); code != http.StatusOK || !strings.Contains(body, `"sku":"SKU-00300"`) {
		t.Errorf("ready, but the catalogue's last SKU answers %d %s", code, body)
	}
	_, metrics := get("/metrics")
	// The lag of the default engine's group (admin.Inputs) is exported.
	lagOf := fmt.Sprintf(`stocksync_consumer_lag_refresh_errors_total{group=%q}`, admin.Inputs(topology.New(""), "")[0].Group)
	for _, want := range []string{`stocksync_build_info{goversion="go`, lagOf} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("stocksync dev exited %d after its context ended, want 0", code)
		}
	case <-time.After(time.Minute):
		t.Fatal("stocksync dev did not stop within a minute of its context ending")
	}
	if !strings.Contains(stdout.String(), "stocksync dev is running.") {
		t.Errorf("stdout lacks the banner:\n%s", stdout.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
