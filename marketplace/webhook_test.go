package marketplace_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/marketplace/mock"
)

func TestWebhookPerItemResults(t *testing.T) {
	cases := []struct {
		name       string
		setup      func(*mock.Server, marketplace.Adapter)
		in         []marketplace.Update
		want       []verdict
		wantReason string
	}{
		{
			name:       "unknown SKU refused, the others applied",
			setup:      func(s *mock.Server, _ marketplace.Adapter) { s.AddProducts("A", "B") },
			in:         batch("A", "GHOST", "B"),
			want:       []verdict{{"A", true, false}, {"GHOST", false, false}, {"B", true, false}},
			wantReason: "unknown_sku",
		},
		{
			name: "stale version refused",
			setup: func(_ *mock.Server, a marketplace.Adapter) {
				if _, err := a.Push(context.Background(), []marketplace.Update{{SKU: "A", Available: 1, Version: 9}}); err != nil {
					t.Fatal(err)
				}
			},
			in:         []marketplace.Update{{SKU: "A", Available: 2, Version: 8}},
			want:       []verdict{{"A", false, false}},
			wantReason: "stale_version",
		},
		{
			name:  "no results in the answer: all acknowledged",
			setup: func(s *mock.Server, _ marketplace.Adapter) { s.SetResults(false) },
			in:    batch("A", "B"),
			want:  []verdict{{"A", true, false}, {"B", true, false}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, a := start(t, mock.NewWebhook)
			c.setup(srv, a)
			got, err := a.Push(context.Background(), c.in)
			if err != nil {
				t.Fatalf("Push: %v", err)
			}
			if !equal(verdicts(got), c.want) {
				t.Fatalf("results %+v, want %+v", got, c.want)
			}
			for _, r := range got {
				if !r.OK && !strings.Contains(r.Reason, c.wantReason) {
					t.Errorf("reason %q does not say %s", r.Reason, c.wantReason)
				}
			}
		})
	}
}

// A result the receiver leaves out is retryable: nothing says it was applied.
func TestWebhookMissingResult(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"results":[{"sku":"A","ok":true}]}`))
	}))
	defer srv.Close()
	a, err := marketplace.New("webhook", marketplace.Config{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Push(context.Background(), batch("A", "B"))
	want := []verdict{{"A", true, false}, {"B", false, true}}
	if err != nil || !equal(verdicts(got), want) {
		t.Fatalf("Push: %+v, %v; want %+v", got, err, want)
	}
}

func TestWebhookThrottled(t *testing.T) {
	cases := []struct {
		name       string
		setup      func(*mock.Server, marketplace.Adapter)
		wantStatus int
		wantAfter  time.Duration
	}{
		{name: "503 with Retry-After", setup: func(s *mock.Server, _ marketplace.Adapter) { s.FailNext(1, 503) }, wantStatus: 503, wantAfter: time.Second},
		{name: "429 with Retry-After", setup: func(s *mock.Server, _ marketplace.Adapter) { s.FailNext(1, 429) }, wantStatus: 429, wantAfter: time.Second},
		{name: "past 20 requests at once", wantStatus: 429, wantAfter: time.Second, setup: func(s *mock.Server, a marketplace.Adapter) {
			// The limit's clock stands still: however slowly this machine
			// sends the 20, no token comes back before the 21st.
			frozen := time.Now()
			s.SetClock(func() time.Time { return frozen })
			for i := range 20 {
				if _, err := a.Push(context.Background(), batch("A")); err != nil {
					t.Fatalf("request %d: %v", i+1, err)
				}
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, a := start(t, mock.NewWebhook)
			c.setup(srv, a)
			_, err := a.Push(context.Background(), batch("B"))
			var th *marketplace.ThrottledError
			if !errors.As(err, &th) || th.Status != c.wantStatus || th.RetryAfter != c.wantAfter {
				t.Fatalf("Push: %v, want *ThrottledError %d with RetryAfter %s", err, c.wantStatus, c.wantAfter)
			}
			wantStock(t, srv, "B", 0, false)
		})
	}
}
