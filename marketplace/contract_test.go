package marketplace_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/marketplace/mock"
)

// The conformance suite every adapter passes against its mock: what the
// sink relies on whatever the marketplace.

var update = flag.Bool("update", false, "rewrite the golden request bodies in testdata/")

var kinds = []struct {
	name  string
	start func() *mock.Server
}{
	{"ozon", mock.NewOzon},
	{"wildberries", mock.NewWildberries},
	{"yandex", mock.NewYandex},
	{"webhook", mock.NewWebhook},
}

// start runs a mock for the test and an adapter on it; edit changes the
// adapter's config.
func start(t *testing.T, newServer func() *mock.Server, edit ...func(*marketplace.Config)) (*mock.Server, marketplace.Adapter) {
	t.Helper()
	srv := newServer()
	t.Cleanup(srv.Close)
	return srv, adapterFor(t, srv, edit...)
}

func adapterFor(t *testing.T, srv *mock.Server, edit ...func(*marketplace.Config)) marketplace.Adapter {
	t.Helper()
	cfg := srv.Config()
	for _, e := range edit {
		e(&cfg)
	}
	a, err := marketplace.New(srv.Kind(), cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", srv.Kind(), err)
	}
	return a
}

// batch builds updates with Available 10, 20, … and Version 1, 2, …
func batch(skus ...string) []marketplace.Update {
	out := make([]marketplace.Update, len(skus))
	for i, s := range skus {
		out[i] = marketplace.Update{SKU: s, Available: int64(10 * (i + 1)), Version: int64(i + 1)}
	}
	return out
}

// verdict is an ItemResult without the reason's wording.
type verdict struct {
	SKU           string
	OK, Retryable bool
}

func verdicts(rs []marketplace.ItemResult) []verdict {
	out := make([]verdict, len(rs))
	for i, r := range rs {
		out[i] = verdict{r.SKU, r.OK, r.Retryable}
	}
	return out
}

func equal(a, b []verdict) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func wantStock(t *testing.T, srv *mock.Server, sku string, want int64, set bool) {
	t.Helper()
	got, ok := srv.Stock(sku)
	if ok != set || got != want {
		t.Errorf("%s shows %s = %d (set %v), want %d (set %v)", srv.Kind(), sku, got, ok, want, set)
	}
}

// waitFor polls cond: for states another goroutine reaches, not a timing.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("never reached: %s", what)
}

func TestContractOrderAndPartialFailure(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			srv, a := start(t, k.start)
			in := batch("C", "A", "NEG", "B")
			in[2].Available = -1 // refused per item, before sending
			got, err := a.Push(context.Background(), in)
			if err != nil {
				t.Fatalf("Push: %v", err)
			}
			want := []verdict{{"C", true, false}, {"A", true, false}, {"NEG", false, false}, {"B", true, false}}
			if !equal(verdicts(got), want) {
				t.Fatalf("results %+v, want %+v", got, want)
			}
			if got[2].Reason == "" {
				t.Error("a refused item has no reason")
			}
			wantStock(t, srv, "C", 10, true)
			wantStock(t, srv, "A", 20, true)
			wantStock(t, srv, "B", 40, true)
			wantStock(t, srv, "NEG", 0, false)
		})
	}
}

// updatedAt is the one field that varies between runs (Yandex's).
var updatedAt = regexp.MustCompile(`"updatedAt":"([^"]*)"`)

func TestContractRequestBodyGolden(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			srv, a := start(t, k.start)
			in := []marketplace.Update{{SKU: "SKU-1", Available: 7, Version: 3}, {SKU: "SKU-2", Available: 0, Version: 4}}
			if _, err := a.Push(context.Background(), in); err != nil {
				t.Fatalf("Push: %v", err)
			}
			body := srv.LastBody()
			for _, m := range updatedAt.FindAllSubmatch(body, -1) {
				if _, err := time.Parse(time.RFC3339, string(m[1])); err != nil {
					t.Errorf("updatedAt %q is not RFC 3339", m[1])
				}
			}
			body = updatedAt.ReplaceAll(body, []byte(`"updatedAt":"<now>"`))
			var got bytes.Buffer
			if err := json.Indent(&got, body, "", "  "); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, body)
			}
			got.WriteByte('\n')
			path := filepath.Join("testdata", k.name+"_request.json")
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("request body differs from %s:\n got: %s\nwant: %s", path, got.Bytes(), want)
			}
		})
	}
}

func TestContractAuthHeader(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			srv, a := start(t, k.start, func(c *marketplace.Config) { c.Token = "wrong-token" })
			_, err := a.Push(context.Background(), batch("A"))
			var rej *marketplace.RejectedError
			if !errors.As(err, &rej) || rej.Status != 401 {
				t.Fatalf("Push with a wrong token: %v, want *RejectedError 401", err)
			}
			if marketplace.Retryable(err) {
				t.Error("a rejected request reads as retryable")
			}
			wantStock(t, srv, "A", 0, false)
		})
	}
}

func TestContractContextCancelled(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name+"/in flight", func(t *testing.T) {
			srv, a := start(t, k.start)
			release := srv.Stall()
			defer release()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := a.Push(ctx, batch("A"))
				done <- err
			}()
			waitFor(t, "the push in flight", func() bool { return srv.InFlight() == 1 })
			cancel()
			select {
			case err := <-done:
				var un *marketplace.UnavailableError
				if !errors.Is(err, context.Canceled) || errors.As(err, &un) {
					t.Fatalf("Push after cancel: %v, want context.Canceled and no *UnavailableError", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Push ignored the cancelled context")
			}
		})
		t.Run(k.name+"/before", func(t *testing.T) {
			srv, a := start(t, k.start)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := a.Push(ctx, batch("A")); !errors.Is(err, context.Canceled) {
				t.Fatalf("Push: %v, want context.Canceled", err)
			}
			if n := srv.Requests(); n != 0 {
				t.Errorf("%d requests sent on a cancelled context", n)
			}
		})
	}
}

func TestContractUnavailable(t *testing.T) {
	cases := []struct {
		name       string
		breakIt    func(*mock.Server)
		wantStatus int
		recovers   bool // the next push succeeds
	}{
		{name: "down", breakIt: func(s *mock.Server) { s.SetDown(true) }, wantStatus: 503},
		{name: "one 500", breakIt: func(s *mock.Server) { s.FailNext(1, 500) }, wantStatus: 500, recovers: true},
		{name: "one 502", breakIt: func(s *mock.Server) { s.FailNext(1, 502) }, wantStatus: 502, recovers: true},
		{name: "connection refused", breakIt: func(s *mock.Server) { s.Close() }, wantStatus: 0},
	}
	for _, k := range kinds {
		for _, c := range cases {
			t.Run(k.name+"/"+c.name, func(t *testing.T) {
				srv, a := start(t, k.start)
				c.breakIt(srv)
				_, err := a.Push(context.Background(), batch("A"))
				var un *marketplace.UnavailableError
				if !errors.As(err, &un) || un.Status != c.wantStatus {
					t.Fatalf("Push: %v, want *UnavailableError with status %d", err, c.wantStatus)
				}
				if !marketplace.Retryable(err) {
					t.Error("an unavailable marketplace reads as not retryable")
				}
				if c.recovers {
					if _, err := a.Push(context.Background(), batch("A")); err != nil {
						t.Fatalf("next Push: %v", err)
					}
					wantStock(t, srv, "A", 10, true)
				}
			})
		}
	}
}

func TestContractBatchBounds(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name+"/empty", func(t *testing.T) {
			srv, a := start(t, k.start)
			got, err := a.Push(context.Background(), nil)
			if err != nil || len(got) != 0 {
				t.Fatalf("Push(nil) = %v, %v; want nothing", got, err)
			}
			if n := srv.Requests(); n != 0 {
				t.Errorf("%d requests for an empty batch", n)
			}
		})
		t.Run(k.name+"/over MaxBatch", func(t *testing.T) {
			srv, a := start(t, k.start)
			in := make([]marketplace.Update, a.Limits().MaxBatch+1)
			for i := range in {
				in[i] = marketplace.Update{SKU: "S", Available: 1}
			}
			_, err := a.Push(context.Background(), in)
			var rej *marketplace.RejectedError
			if !errors.As(err, &rej) || !errors.Is(err, marketplace.ErrBatchTooLarge) {
				t.Fatalf("Push: %v, want *RejectedError wrapping ErrBatchTooLarge", err)
			}
			if n := srv.Requests(); n != 0 {
				t.Errorf("%d requests for an oversized batch", n)
			}
		})
	}
}
