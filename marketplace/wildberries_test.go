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

// noMirror turns off the adapter's copy of WB's token bucket, so that WB's
// own answer is what the test sees.
func noMirror(c *marketplace.Config) { c.Limits.Rate, c.Limits.Burst = 1e9, 1e9 }

// WB accepts unknown field names with 204 and changes nothing. The first
// cases pin that in the mock, so the last one, the adapter's push, can only
// pass with the right field names.
func TestWildberriesSilent204ForUnknownFields(t *testing.T) {
	cases := []struct {
		name      string
		body      string
		wantStock bool
	}{
		{name: "quantity instead of amount", body: `{"stocks":[{"sku":"A","quantity":7}]}`},
		{name: "barcode instead of sku", body: `{"stocks":[{"barcode":"A","amount":7}]}`},
		{name: "stock instead of stocks", body: `{"stock":[{"sku":"A","amount":7}]}`},
		{name: "the documented names", body: `{"stocks":[{"sku":"A","amount":7}]}`, wantStock: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := mock.NewWildberries()
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodPut, srv.URL()+"/api/v3/stocks/1001", strings.NewReader(c.body))
			req.Header.Set("Authorization", mock.Token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("status %d, want 204", resp.StatusCode)
			}
			if c.wantStock {
				wantStock(t, srv, "A", 7, true)
			} else {
				wantStock(t, srv, "A", 0, false)
			}
		})
	}
	t.Run("adapter", func(t *testing.T) {
		srv, a := start(t, mock.NewWildberries)
		got, err := a.Push(context.Background(), []marketplace.Update{{SKU: "A", Available: 7, Version: 1}})
		if err != nil || !got[0].OK {
			t.Fatalf("Push: %+v, %v", got, err)
		}
		wantStock(t, srv, "A", 7, true) // a 204 alone proves nothing
	})
}

// A 409 applies nothing of the batch: the SKUs its data names are refused,
// the others are retryable.
func TestWildberriesConflict(t *testing.T) {
	cases := []struct {
		name  string
		setup func(*mock.Server)
		want  []verdict
	}{
		{
			name:  "data names the unknown SKU",
			setup: func(s *mock.Server) { s.AddProducts("A", "B") },
			want:  []verdict{{"A", false, true}, {"GHOST", false, false}, {"B", false, true}},
		},
		{
			name:  "no SKU named: the whole batch, retryable",
			setup: func(s *mock.Server) { s.FailNext(1, http.StatusConflict) },
			want:  []verdict{{"A", false, true}, {"GHOST", false, true}, {"B", false, true}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, a := start(t, mock.NewWildberries)
			c.setup(srv)
			got, err := a.Push(context.Background(), batch("A", "GHOST", "B"))
			if err != nil {
				t.Fatalf("Push: %v", err)
			}
			if !equal(verdicts(got), c.want) {
				t.Fatalf("results %+v, want %+v", got, c.want)
			}
			for _, r := range got {
				if !strings.Contains(r.Reason, "409") {
					t.Errorf("reason %q does not say 409", r.Reason)
				}
			}
			wantStock(t, srv, "A", 0, false)
		})
	}
}

// A 409 weighs five requests against WB's bucket of 20: after four, WB
// refuses the fifth request, and the adapter, which mirrors the bucket,
// holds it back before sending.
func TestWildberriesConflictCostsFive(t *testing.T) {
	cases := []struct {
		name         string
		edit         func(*marketplace.Config)
		wantStatus   int // of the fifth push's *ThrottledError
		wantRequests int
	}{
		{name: "the adapter holds the fifth back", edit: func(*marketplace.Config) {}, wantStatus: 0, wantRequests: 4},
		{name: "WB refuses the fifth", edit: noMirror, wantStatus: 429, wantRequests: 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, a := start(t, mock.NewWildberries, c.edit)
			srv.AddProducts("A")
			for i := range 4 {
				got, err := a.Push(context.Background(), batch("GHOST"))
				if err != nil || got[0].OK || got[0].Retryable {
					t.Fatalf("409 #%d: %+v, %v; want GHOST refused", i+1, got, err)
				}
			}
			_, err := a.Push(context.Background(), batch("A"))
			var th *marketplace.ThrottledError
			if !errors.As(err, &th) || th.Status != c.wantStatus || th.RetryAfter <= 0 {
				t.Fatalf("fifth Push: %v, want *ThrottledError status %d with a RetryAfter", err, c.wantStatus)
			}
			if n := srv.Requests(); n != c.wantRequests {
				t.Errorf("%d requests reached WB, want %d", n, c.wantRequests)
			}
			wantStock(t, srv, "A", 0, false)
		})
	}
}

func TestWildberriesThrottled(t *testing.T) {
	t.Run("past the burst of 20", func(t *testing.T) {
		srv, a := start(t, mock.NewWildberries, noMirror)
		frozen := time.Now() // no token comes back, however slowly this machine sends the 20
		srv.SetClock(func() time.Time { return frozen })
		for i := range 20 {
			if _, err := a.Push(context.Background(), batch("A")); err != nil {
				t.Fatalf("request %d: %v", i+1, err)
			}
		}
		_, err := a.Push(context.Background(), batch("B"))
		var th *marketplace.ThrottledError
		if !errors.As(err, &th) || th.Status != 429 || th.RetryAfter != time.Second {
			t.Fatalf("21st Push: %v, want *ThrottledError 429 with RetryAfter 1s (X-Ratelimit-Retry)", err)
		}
		wantStock(t, srv, "B", 0, false)
	})

	headers := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{name: "Retry-After seconds", header: map[string]string{"Retry-After": "3"}, want: 3 * time.Second},
		{name: "X-Ratelimit-Retry", header: map[string]string{"X-Ratelimit-Retry": "2"}, want: 2 * time.Second},
		{name: "Retry-After wins", header: map[string]string{"Retry-After": "4", "X-Ratelimit-Retry": "2"}, want: 4 * time.Second},
		{name: "neither: unknown", want: 0},
	}
	for _, c := range headers {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range c.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(http.StatusTooManyRequests)
			}))
			defer srv.Close()
			a, err := marketplace.New("wildberries", marketplace.Config{BaseURL: srv.URL, Token: "t", WarehouseID: 1})
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.Push(context.Background(), batch("A"))
			var th *marketplace.ThrottledError
			if !errors.As(err, &th) || th.RetryAfter != c.want {
				t.Fatalf("Push: %v, want *ThrottledError with RetryAfter %s", err, c.want)
			}
		})
	}
}

// A value above 100000 is refused per item and never sent, not clamped.
func TestWildberriesAmountAboveMax(t *testing.T) {
	cases := []struct {
		name         string
		in           []marketplace.Update
		want         []verdict
		wantRequests int
	}{
		{
			name:         "alone: nothing sent",
			in:           []marketplace.Update{{SKU: "HUGE", Available: 100_001}},
			want:         []verdict{{"HUGE", false, false}},
			wantRequests: 0,
		},
		{
			name:         "with others: they are sent",
			in:           []marketplace.Update{{SKU: "A", Available: 100_000}, {SKU: "HUGE", Available: 100_001}},
			want:         []verdict{{"A", true, false}, {"HUGE", false, false}},
			wantRequests: 1,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, a := start(t, mock.NewWildberries)
			got, err := a.Push(context.Background(), c.in)
			if err != nil {
				t.Fatal(err)
			}
			if !equal(verdicts(got), c.want) {
				t.Fatalf("results %+v, want %+v", got, c.want)
			}
			if n := srv.Requests(); n != c.wantRequests {
				t.Errorf("%d requests, want %d", n, c.wantRequests)
			}
			wantStock(t, srv, "HUGE", 0, false)
		})
	}
}
