package marketplace_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/marketplace/mock"
)

// A fifth request while four are in flight gets 420: throttled, with
// RetryAfter unknown; the four complete.
func TestYandexParallelLimit(t *testing.T) {
	srv, a := start(t, mock.NewYandex)
	if got := a.Limits().MaxParallel; got != 4 {
		t.Errorf("MaxParallel = %d, want 4", got)
	}
	release := srv.Stall()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range 4 {
		wg.Go(func() { _, errs[i] = a.Push(context.Background(), batch("P"+string(rune('0'+i)))) })
	}
	waitFor(t, "four requests in flight", func() bool { return srv.InFlight() == 4 })

	_, err := a.Push(context.Background(), batch("FIFTH"))
	var th *marketplace.ThrottledError
	if !errors.As(err, &th) || th.Status != 420 || th.RetryAfter != 0 {
		t.Fatalf("fifth Push: %v, want *ThrottledError 420 with RetryAfter 0", err)
	}
	release()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("push %d: %v", i, err)
		}
	}
	wantStock(t, srv, "P0", 10, true)
	wantStock(t, srv, "FIFTH", 0, false)
}

// Yandex refuses the whole request with 400 errors[]; what the adapter can
// check per item it refuses before sending.
func TestYandexBadRequest(t *testing.T) {
	long := strings.Repeat("x", 256)
	cases := []struct {
		name       string
		setup      func(*mock.Server)
		in         []marketplace.Update
		wantReject string // in the *RejectedError's reason; "" for none
		want       []verdict
	}{
		{
			name:       "unknown offer: 400 for the whole request",
			setup:      func(s *mock.Server) { s.AddProducts("A") },
			in:         batch("A", "GHOST"),
			wantReject: `BAD_REQUEST: skus[1]: offer "GHOST" not found`,
		},
		{
			name: "SKU over 255 bytes: refused per item, the rest sent",
			in:   []marketplace.Update{{SKU: "A", Available: 1}, {SKU: long, Available: 1}},
			want: []verdict{{"A", true, false}, {long, false, false}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, a := start(t, mock.NewYandex)
			if c.setup != nil {
				c.setup(srv)
			}
			got, err := a.Push(context.Background(), c.in)
			if c.wantReject != "" {
				var rej *marketplace.RejectedError
				if !errors.As(err, &rej) || rej.Status != 400 || !strings.Contains(rej.Reason, c.wantReject) {
					t.Fatalf("Push: %v, want *RejectedError 400 with %q", err, c.wantReject)
				}
				wantStock(t, srv, "A", 0, false)
				return
			}
			if err != nil || !equal(verdicts(got), c.want) {
				t.Fatalf("Push: %+v, %v; want %+v", got, err, c.want)
			}
			wantStock(t, srv, "A", 1, true)
		})
	}
}

// The offers quota: the adapter reads X-RateLimit-Resource-* to turn a 420
// into a RetryAfter, and holds back a push the last answer says cannot fit.
func TestYandexOffersQuota(t *testing.T) {
	cases := []struct {
		name         string
		first        []marketplace.Update // fits the quota of 3
		fresh        bool                 // the second push comes from an adapter that has seen no headers
		wantStatus   int                  // of the second push's *ThrottledError
		wantRequests int
	}{
		{name: "adapter holds back what the quota cannot take", first: batch("A", "B"), wantStatus: 0, wantRequests: 1},
		{name: "Yandex answers 420 when spent", first: batch("A", "B", "C"), fresh: true, wantStatus: 420, wantRequests: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, a := start(t, mock.NewYandex)
			srv.SetOfferQuota(3)
			if _, err := a.Push(context.Background(), c.first); err != nil {
				t.Fatal(err)
			}
			if c.fresh {
				a = adapterFor(t, srv)
			}
			_, err := a.Push(context.Background(), batch("D", "E"))
			var th *marketplace.ThrottledError
			if !errors.As(err, &th) || th.Status != c.wantStatus {
				t.Fatalf("second Push: %v, want *ThrottledError status %d", err, c.wantStatus)
			}
			if th.RetryAfter <= 0 || th.RetryAfter > time.Minute {
				t.Errorf("RetryAfter %s, want the rest of the minute window", th.RetryAfter)
			}
			if n := srv.Requests(); n != c.wantRequests {
				t.Errorf("%d requests, want %d", n, c.wantRequests)
			}
			wantStock(t, srv, "D", 0, false)
		})
	}
}
