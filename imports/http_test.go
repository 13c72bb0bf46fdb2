package imports_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/imports"
	"github.com/stocksync/stocksync/queryapi"
)

// feedEngine is what POST /v1/imports uses of an instance: the
// catalogue's locations, and a FeedBatcher that keeps what it was sent.
type feedEngine struct {
	mu   sync.Mutex
	sent []contract.FeedMessage
}

func (e *feedEngine) Locations() []contract.LocationInfo {
	return []contract.LocationInfo{{Name: "msk-1", Kind: "warehouse"}}
}

func (e *feedEngine) Channels() []contract.ChannelInfo { return nil }

func (e *feedEngine) SendFeed(ctx context.Context, msgs []contract.FeedMessage) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sent = append(e.sent, msgs...)
	return nil
}

// notCalled stands for the engine roles POST /v1/imports does not use;
// calling one panics.
type notCalled struct {
	queryapi.StockReader
	queryapi.FeedSubmitter
	queryapi.OrderReader
	queryapi.OrderSubmitter
	queryapi.Readiness
	queryapi.ChannelOperator
}

// TestImportOverHTTP sends a JSON Lines export through a real API server:
// rows the file gets wrong and rows the server refuses (an unknown
// location) are reported by their line in the file; the rest arrive.
func TestImportOverHTTP(t *testing.T) {
	eng := &feedEngine{}
	reg := prometheus.NewRegistry()
	h, err := queryapi.New(queryapi.Config{Stock: notCalled{}, Feed: notCalled{}, Orders: notCalled{},
		OrderCommands: notCalled{}, Readiness: notCalled{}, Channels: notCalled{}, Catalogue: eng, Imports: eng, Registry: reg, Gatherer: reg, Open: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	file := filepath.Join(t.TempDir(), "export.jsonl")
	data := strings.Join([]string{
		`{"sku":"A","location":"msk-1","on_hand":1}`,
		`{"sku":"B","location":"spb-9","on_hand":2}`, // the server knows no spb-9
		`{"sku":"C","location":"msk-1","on_hand":-3}`,
		`{"sku":"D","location":"msk-1","on_hand":4,"version":9}`,
		`{"sku":"E","location":"spb-9","on_hand":2}`,
		`{"sku":"F","location":"msk-1","on_hand":6}`,
	}, "\n") + "\n"
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	sender, err := imports.NewHTTPSender(srv.URL, "", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	sum, err := imports.Run(context.Background(), imports.Config{File: file, Version: 5, Sender: sender, BatchRows: 2})
	if !errors.Is(err, imports.ErrBadRows) {
		t.Fatalf("Run: %v, want ErrBadRows", err)
	}
	got := map[int64]string{}
	for _, b := range sum.BadRows {
		got[b.Line] = b.Reason
	}
	want := map[int64]string{2: `"spb-9" is not configured`, 3: "on_hand: -3 is outside", 5: `"spb-9" is not configured`}
	if len(got) != len(want) || sum.Sent != 3 || sum.Rows != 6 || sum.Bad != 3 {
		t.Fatalf("summary %+v", sum)
	}
	for line, w := range want {
		if !strings.Contains(got[line], w) {
			t.Errorf("line %d: %q, want %q", line, got[line], w)
		}
	}
	var skus []string
	for _, m := range eng.sent {
		skus = append(skus, m.SKU)
		if m.Source != "erp" || (m.SKU == "D") != (m.Version == 9) {
			t.Errorf("sent %+v", m)
		}
	}
	if strings.Join(skus, ",") != "A,D,F" {
		t.Errorf("sent %v, want A,D,F", skus)
	}
}
