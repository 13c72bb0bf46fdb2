package marketplace_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/marketplace/mock"
)

// Ozon answers 200 with a verdict per item: one bad item must not fail the
// others, and each code maps to a retry decision.
func TestOzonPerItemErrors(t *testing.T) {
	cases := []struct {
		name     string
		setup    func(*mock.Server)
		in       []marketplace.Update
		want     []verdict
		wantCode string // in the failing item's reason
	}{
		{
			name:     "unknown SKU is NOT_FOUND, not retryable; the others are updated",
			setup:    func(s *mock.Server) { s.AddProducts("A", "B") },
			in:       batch("A", "GHOST", "B"),
			want:     []verdict{{"A", true, false}, {"GHOST", false, false}, {"B", true, false}},
			wantCode: "NOT_FOUND",
		},
		{
			name:     "STOCK_TOO_BIG is not retryable",
			in:       []marketplace.Update{{SKU: "A", Available: 5}, {SKU: "BIG", Available: 5_000_000}},
			want:     []verdict{{"A", true, false}, {"BIG", false, false}},
			wantCode: "STOCK_TOO_BIG",
		},
		{
			name:     "INVALID_STATE is not retryable",
			setup:    func(s *mock.Server) { s.ItemError("ARCHIVED", "INVALID_STATE") },
			in:       batch("ARCHIVED", "A"),
			want:     []verdict{{"ARCHIVED", false, false}, {"A", true, false}},
			wantCode: "INVALID_STATE",
		},
		{
			name:     "an unknown code is not retryable",
			setup:    func(s *mock.Server) { s.ItemError("ODD", "SOMETHING_NEW") },
			in:       batch("A", "ODD"),
			want:     []verdict{{"A", true, false}, {"ODD", false, false}},
			wantCode: "SOMETHING_NEW",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, a := start(t, mock.NewOzon)
			if c.setup != nil {
				c.setup(srv)
			}
			got, err := a.Push(context.Background(), c.in)
			if err != nil {
				t.Fatalf("Push: %v", err)
			}
			if !equal(verdicts(got), c.want) {
				t.Fatalf("results %+v, want %+v", got, c.want)
			}
			for i, r := range got {
				if !r.OK && !strings.Contains(r.Reason, c.wantCode) {
					t.Errorf("reason %q does not name %s", r.Reason, c.wantCode)
				}
				if r.OK {
					wantStock(t, srv, r.SKU, c.in[i].Available, true)
				}
			}
		})
	}
}

// A pair updated less than the cooldown ago is refused per item with
// TOO_MANY_REQUESTS: retryable, and the shown value stays the first one.
func TestOzonCooldownIsRetryable(t *testing.T) {
	srv, a := start(t, mock.NewOzon)
	srv.SetCooldown(time.Hour)
	if a.Limits().ItemCooldown != 30*time.Second {
		t.Errorf("ItemCooldown = %s, want 30s", a.Limits().ItemCooldown)
	}
	ctx := context.Background()
	if _, err := a.Push(ctx, []marketplace.Update{{SKU: "A", Available: 1, Version: 1}}); err != nil {
		t.Fatal(err)
	}
	got, err := a.Push(ctx, []marketplace.Update{{SKU: "A", Available: 2, Version: 2}, {SKU: "B", Available: 3, Version: 1}})
	if err != nil {
		t.Fatal(err)
	}
	want := []verdict{{"A", false, true}, {"B", true, false}}
	if !equal(verdicts(got), want) || !strings.Contains(got[0].Reason, "TOO_MANY_REQUESTS") {
		t.Fatalf("results %+v, want %+v with TOO_MANY_REQUESTS", got, want)
	}
	wantStock(t, srv, "A", 1, true)

	srv.SetCooldown(0) // the cooldown has passed
	if got, err := a.Push(ctx, []marketplace.Update{{SKU: "A", Available: 2, Version: 2}}); err != nil || !got[0].OK {
		t.Fatalf("retry after the cooldown: %+v, %v", got, err)
	}
	wantStock(t, srv, "A", 2, true)
}

// Past 80 requests a minute Ozon answers 429 {"code":8}, without
// Retry-After.
func TestOzonThrottled(t *testing.T) {
	cases := []struct {
		name  string
		setup func(*mock.Server, marketplace.Adapter)
	}{
		{name: "81st request in a minute", setup: func(s *mock.Server, a marketplace.Adapter) {
			frozen := time.Now() // the minute does not pass, however slowly this machine sends the 80
			s.SetClock(func() time.Time { return frozen })
			for i := range 80 {
				if _, err := a.Push(context.Background(), batch("A")); err != nil {
					t.Fatalf("request %d: %v", i+1, err)
				}
			}
		}},
		{name: "injected 429", setup: func(s *mock.Server, _ marketplace.Adapter) { s.FailNext(1, 429) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, a := start(t, mock.NewOzon)
			c.setup(srv, a)
			_, err := a.Push(context.Background(), batch("B"))
			var th *marketplace.ThrottledError
			if !errors.As(err, &th) || th.Status != 429 || th.RetryAfter != 0 {
				t.Fatalf("Push: %v, want *ThrottledError 429 with RetryAfter 0 (unknown)", err)
			}
			if !strings.Contains(th.Reason, `"code":8`) {
				t.Errorf("reason %q does not quote code 8", th.Reason)
			}
			wantStock(t, srv, "B", 0, false)
		})
	}
}

func TestOzonClientIDHeader(t *testing.T) {
	_, a := start(t, mock.NewOzon, func(c *marketplace.Config) { c.ClientID = "someone-else" })
	_, err := a.Push(context.Background(), batch("A"))
	var rej *marketplace.RejectedError
	if !errors.As(err, &rej) || rej.Status != 401 {
		t.Fatalf("Push with a wrong Client-Id: %v, want *RejectedError 401", err)
	}
}
