package processors

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lovoo/goka/storage"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stocksync/stocksync/contract"
)

func newExpiry(t *testing.T) (*Expiry, *sendLog, *prometheus.Registry) {
	t.Helper()
	sends, reg := new(sendLog), prometheus.NewRegistry()
	return &Expiry{Send: sends.send, Interval: 10 * time.Millisecond, Metrics: NewMetrics(reg), Logger: quiet}, sends, reg
}

// metric is the value of an unlabelled counter or gauge.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			m := f.GetMetric()[0]
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return 0 // a counter never incremented is not gathered
}

func TestExpiryIndex(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(e *Expiry)
		at      int64 // popDue at this unix ms
		want    []string
		tracked float64 // the stocksync_reservations_tracked gauge before popDue
	}{
		{name: "nothing tracked", setup: func(e *Expiry) {}, at: 1 << 50},
		{
			name:  "due orders come in expiry order, later ones wait",
			setup: func(e *Expiry) { e.Track(0, "a", 300); e.Track(0, "b", 100); e.Track(0, "c", 200) },
			at:    250, want: []string{"b", "c"}, tracked: 3,
		},
		{name: "due exactly at its expiry", setup: func(e *Expiry) { e.Track(0, "a", 100) }, at: 100, want: []string{"a"}, tracked: 1},
		{name: "not due a millisecond before", setup: func(e *Expiry) { e.Track(0, "a", 100) }, at: 99, tracked: 1},
		{
			name:  "an untracked order is not sent",
			setup: func(e *Expiry) { e.Track(0, "a", 100); e.Track(0, "b", 100); e.Untrack(0, "a") },
			at:    100, want: []string{"b"}, tracked: 1,
		},
		{name: "tracked twice with one expiry, sent once", setup: func(e *Expiry) { e.Track(0, "a", 100); e.Track(0, "a", 100) }, at: 100, want: []string{"a"}, tracked: 1},
		{name: "tracked again, the new expiry counts", setup: func(e *Expiry) { e.Track(0, "a", 100); e.Track(0, "a", 500) }, at: 499, tracked: 1},
		{name: "tracked again, sent once at the new expiry", setup: func(e *Expiry) { e.Track(0, "a", 100); e.Track(0, "a", 500) }, at: 500, want: []string{"a"}, tracked: 1},
		{
			name:  "forget drops the orders of one partition",
			setup: func(e *Expiry) { e.Track(0, "a", 100); e.Track(1, "b", 100); e.Track(1, "c", 100); e.Forget(1) },
			at:    100, want: []string{"a"}, tracked: 1,
		},
		{
			name: "untracking most orders keeps the rest due",
			setup: func(e *Expiry) {
				for i := range 3000 {
					e.Track(int32(i%3), fmt.Sprintf("o-%04d", i), int64(i))
				}
				for i := range 3000 {
					if i%500 != 0 {
						e.Untrack(int32(i%3), fmt.Sprintf("o-%04d", i))
					}
				}
			},
			at: 1 << 50, want: []string{"o-0000", "o-0500", "o-1000", "o-1500", "o-2000", "o-2500"}, tracked: 6,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _, m := newExpiry(t)
			tc.setup(e)
			if got := metric(t, m, "stocksync_reservations_tracked"); got != tc.tracked {
				t.Errorf("tracked gauge = %v, want %v", got, tc.tracked)
			}
			if got := e.popDue(tc.at); !slices.Equal(got, tc.want) {
				t.Errorf("popDue(%d) = %v, want %v", tc.at, got, tc.want)
			}
		})
	}
}

// TestExpiryResends: a due order is sent again every 5 s until the orders
// processor untracks it, so a lost expire command is not the end of it.
func TestExpiryResends(t *testing.T) {
	e, _, _ := newExpiry(t)
	e.Track(0, "a", 1000)
	steps := []struct {
		at   int64
		want []string
	}{
		{1000, []string{"a"}},
		{1001, nil},
		{5999, nil},
		{6000, []string{"a"}},
		{11000, []string{"a"}},
	}
	for _, s := range steps {
		if got := e.popDue(s.at); !slices.Equal(got, s.want) {
			t.Fatalf("popDue(%d) = %v, want %v", s.at, got, s.want)
		}
	}
	e.Untrack(0, "a")
	if got := e.popDue(1 << 50); got != nil {
		t.Fatalf("after Untrack: popDue = %v, want nothing", got)
	}
}

// TestExpirySeed: after a partition of the orders table is recovered, its
// reserved orders are tracked again, and only those.
func TestExpirySeed(t *testing.T) {
	st := storage.NewMemory()
	if err := st.Open(); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	put := func(key string, v any) {
		var b []byte
		switch v := v.(type) {
		case []byte:
			b = v
		case order:
			b = v.appendBinary(nil) // what the orders processor writes
		default:
			t.Fatalf("put %T", v)
		}
		if err := st.Set(key, b); err != nil {
			t.Fatal(err)
		}
	}
	put("o-1", order{ID: "o-1", State: contract.StatusReserved, ExpiresAt: 2000})
	put("o-2", order{ID: "o-2", State: contract.StatusReserved, ExpiresAt: 1000})
	put("o-3", order{ID: "o-3", State: contract.StatusConfirmed, ExpiresAt: 500})
	put("o-4", order{ID: "o-4", State: contract.StatePending, ExpiresAt: 500})
	put("o-5", order{ID: "o-5", State: contract.StatusRejected, ExpiresAt: 500,
		Answer: &contract.OrderResult{OrderID: "o-5", Type: contract.Reserve, Status: contract.StatusRejected,
			Error: &contract.Reason{Type: contract.ErrConflict, State: contract.StatusReserved}}}) // "state":"reserved" inside, yet not reserved
	put("o-6", []byte(`{"state":"reserved",`)) // undecodable: skipped, not fatal
	legacy, _ := json.Marshal(order{ID: "o-7", State: contract.StatusReserved, ExpiresAt: 3000})
	put("o-7", legacy) // JSON, written by an earlier build

	e, _, m := newExpiry(t)
	e.Track(3, "other-partition", 700)
	if err := e.Seed(7, st); err != nil {
		t.Fatalf("Seed: %v", err)
	}
	if got := metric(t, m, "stocksync_reservations_tracked"); got != 4 {
		t.Errorf("tracked gauge = %v, want 4", got)
	}
	if got, want := e.popDue(1999), []string{"other-partition", "o-2"}; !slices.Equal(got, want) {
		t.Errorf("popDue(1999) = %v, want %v", got, want)
	}
	e.Forget(7)
	if got := e.popDue(1 << 40); !slices.Equal(got, []string{"other-partition"}) {
		t.Errorf("after Forget(7): popDue = %v, want only other-partition's resend", got)
	}
}

// TestExpiryRun: the sweeper sends the due orders by itself, and stops when
// its context ends.
func TestExpiryRun(t *testing.T) {
	e, sends, m := newExpiry(t)
	now := time.Now().UnixMilli()
	e.Track(0, "past", now-1000)
	e.Track(0, "soon", now+30)
	e.Track(0, "later", now+time.Hour.Milliseconds())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	deadline := time.Now().Add(2 * time.Second)
	for {
		got := sends.sent()
		if slices.Contains(got, "past") && slices.Contains(got, "soon") {
			if slices.Contains(got, "later") {
				t.Errorf("sent %v: later is not due for an hour", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("within 2s the sweeper sent %v, want past and soon", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return within 2s of its context ending")
	}
	if got := metric(t, m, "stocksync_expiries_total"); got < 2 {
		t.Errorf("stocksync_expiries_total = %v, want at least 2", got)
	}
}

// TestExpiryRunSendFails: a failed send is not counted and not lost.
func TestExpiryRunSendFails(t *testing.T) {
	e, sends, m := newExpiry(t)
	sends.fail = fmt.Errorf("broker down")
	e.Track(0, "a", time.Now().UnixMilli()-1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	deadline := time.Now().Add(2 * time.Second)
	for len(sends.sent()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("within 2s the sweeper sent nothing")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if got := metric(t, m, "stocksync_expiries_total"); got != 0 {
		t.Errorf("stocksync_expiries_total = %v, want 0: nothing was sent", got)
	}
	if got := e.popDue(time.Now().Add(6 * time.Second).UnixMilli()); !slices.Equal(got, []string{"a"}) {
		t.Errorf("6s later popDue = %v, want a again", got)
	}
}
