package sinks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stocksync/stocksync/marketplace"
)

// scripted is an adapter whose answers a test decides; it records what the
// marketplace would show.
type scripted struct {
	limits marketplace.Limits
	mu     sync.Mutex
	shown  map[string]int64
	calls  int
	fail   func(call int, batch []marketplace.Update) ([]marketplace.ItemResult, error)
	block  chan struct{} // when set, Push waits for it
}

func (s *scripted) Name() string               { return "scripted" }
func (s *scripted) Limits() marketplace.Limits { return s.limits }
func (s *scripted) Push(ctx context.Context, batch []marketplace.Update) ([]marketplace.ItemResult, error) {
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != nil {
		if res, err := s.fail(s.calls, batch); res != nil || err != nil {
			return res, err
		}
	}
	out := make([]marketplace.ItemResult, len(batch))
	for i, u := range batch {
		s.shown[u.SKU] = u.Available
		out[i] = marketplace.ItemResult{SKU: u.SKU, OK: true}
	}
	return out, nil
}

func (s *scripted) show(sku string) (int64, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shown[sku], s.calls
}

// harness runs a pusher whose verdicts are acknowledged at once, as the sink
// processor would.
type harness struct {
	p        *Pusher
	mu       sync.Mutex
	verdicts []Verdict
}

func start(t *testing.T, a *scripted, cfg Config) *harness {
	t.Helper()
	if a.limits.MaxBatch == 0 {
		a.limits = marketplace.Limits{MaxBatch: 10, Rate: 1000, Burst: 100, MaxParallel: 2}
	}
	if a.shown == nil {
		a.shown = map[string]int64{}
	}
	h := &harness{}
	cfg.Channel, cfg.Adapter, cfg.Metrics = "test", a, NewMetrics(prometheus.NewRegistry())
	if cfg.Backoff == 0 {
		cfg.Backoff = time.Millisecond
	}
	cfg.Send = func(_ context.Context, v Verdict, done func(error)) {
		h.mu.Lock()
		h.verdicts = append(h.verdicts, v)
		h.mu.Unlock()
		done(nil)
		go func() {
			if v.OK {
				h.p.Acked(v.SKU, v.Version)
			} else {
				h.p.Dropped(v.SKU, v.Version)
			}
		}()
	}
	var err error
	if h.p, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (h *harness) parked() []Verdict {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Verdict
	for _, v := range h.verdicts {
		if !v.OK {
			out = append(out, v)
		}
	}
	return out
}

func TestConflatesToTheNewestValue(t *testing.T) {
	a := &scripted{block: make(chan struct{})}
	h := start(t, a, Config{})
	h.p.Offer(0, marketplace.Update{SKU: "A", Available: 5, Version: 1})
	time.Sleep(20 * time.Millisecond) // v1 is now in flight, blocked
	for v := int64(2); v <= 50; v++ {
		h.p.Offer(0, marketplace.Update{SKU: "A", Available: 100 - v, Version: v})
	}
	h.p.Offer(0, marketplace.Update{SKU: "A", Available: 999, Version: 3}) // older: ignored
	close(a.block)
	eventually(t, "the marketplace shows the newest value", func() bool { v, _ := a.show("A"); return v == 50 })
	eventually(t, "nothing pending", func() bool { return h.p.Status().Pending == 0 })
	if _, calls := a.show("A"); calls != 2 {
		t.Fatalf("49 updates of one SKU behind a push in flight should conflate into one more push, got %d pushes", calls)
	}
}

func TestOneBadItemDoesNotHoldTheBatch(t *testing.T) {
	a := &scripted{fail: func(_ int, batch []marketplace.Update) ([]marketplace.ItemResult, error) {
		out := make([]marketplace.ItemResult, len(batch))
		for i, u := range batch {
			out[i] = marketplace.ItemResult{SKU: u.SKU, OK: u.SKU != "BAD", Reason: "NOT_FOUND"}
		}
		return out, nil
	}}
	h := start(t, a, Config{})
	for _, sku := range []string{"A", "BAD", "C"} {
		h.p.Offer(0, marketplace.Update{SKU: sku, Available: 1, Version: 1})
	}
	eventually(t, "the bad SKU is parked", func() bool { return len(h.parked()) == 1 })
	if p := h.parked()[0]; p.SKU != "BAD" || p.Reason != "NOT_FOUND" {
		t.Fatalf("parked %+v, want BAD with the marketplace's reason", p)
	}
	eventually(t, "nothing pending", func() bool { return h.p.Status().Pending == 0 })
}

func TestThrottlingPausesForRetryAfter(t *testing.T) {
	a := &scripted{fail: func(call int, _ []marketplace.Update) ([]marketplace.ItemResult, error) {
		if call == 1 {
			return nil, &marketplace.ThrottledError{RetryAfter: 300 * time.Millisecond}
		}
		return nil, nil
	}}
	h := start(t, a, Config{})
	begin := time.Now()
	h.p.Offer(0, marketplace.Update{SKU: "A", Available: 7, Version: 1})
	eventually(t, "pushed after the throttle", func() bool { v, _ := a.show("A"); return v == 7 })
	if waited := time.Since(begin); waited < 300*time.Millisecond {
		t.Fatalf("retried after %s, before the marketplace's Retry-After of 300ms", waited)
	}
}

func TestCircuitOpensWhileTheMarketplaceIsDown(t *testing.T) {
	var down sync.Mutex
	isDown := true
	a := &scripted{fail: func(int, []marketplace.Update) ([]marketplace.ItemResult, error) {
		down.Lock()
		defer down.Unlock()
		if isDown {
			return nil, &marketplace.UnavailableError{Err: errors.New("503")}
		}
		return nil, nil
	}}
	h := start(t, a, Config{MaxAttempts: 1000})
	h.p.Offer(0, marketplace.Update{SKU: "A", Available: 3, Version: 1})
	eventually(t, "the circuit opens", func() bool { return h.p.Status().Circuit == "open" })
	_, calls := a.show("A")
	time.Sleep(300 * time.Millisecond)
	if _, after := a.show("A"); after != calls {
		t.Fatalf("%d requests reached a marketplace whose circuit is open", after-calls)
	}
	down.Lock()
	isDown = false
	down.Unlock()
	eventually(t, "the value arrives once it is back", func() bool { v, _ := a.show("A"); return v == 3 })
	eventually(t, "the circuit closes", func() bool { return h.p.Status().Circuit == "closed" })
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	a := &scripted{fail: func(int, []marketplace.Update) ([]marketplace.ItemResult, error) {
		return []marketplace.ItemResult{{SKU: "A", Retryable: true, Reason: "TOO_MANY_REQUESTS"}}, nil
	}}
	h := start(t, a, Config{MaxAttempts: 3})
	h.p.Offer(0, marketplace.Update{SKU: "A", Available: 1, Version: 1})
	eventually(t, "parked after 3 attempts", func() bool { return len(h.parked()) == 1 })
	if _, calls := a.show("A"); calls != 3 {
		t.Fatalf("%d attempts, want 3", calls)
	}
}

func TestManualModeHoldsValuesUntilPushedOnCommand(t *testing.T) {
	a := &scripted{}
	h := start(t, a, Config{})
	h.p.SetManual(true)
	h.p.Offer(0, marketplace.Update{SKU: "A", Available: 4, Version: 1})
	time.Sleep(100 * time.Millisecond)
	if _, calls := a.show("A"); calls != 0 {
		t.Fatalf("manual mode pushed %d times", calls)
	}
	if p := h.p.Pending(); len(p) != 1 || p[0].Available != 4 {
		t.Fatalf("pending %+v, want A=4", p)
	}
	h.p.PushNow()
	eventually(t, "pushed on command", func() bool { v, _ := a.show("A"); return v == 4 })
	h.p.Offer(0, marketplace.Update{SKU: "A", Available: 2, Version: 2})
	time.Sleep(100 * time.Millisecond)
	if v, _ := a.show("A"); v != 4 {
		t.Fatalf("after one push on command, manual mode must hold again; the marketplace shows %d", v)
	}
	h.p.SetManual(false)
	eventually(t, "auto resumes from the newest", func() bool { v, _ := a.show("A"); return v == 2 })
}

func TestThrottlingAndOutagesNeverPark(t *testing.T) {
	a := &scripted{fail: func(call int, _ []marketplace.Update) ([]marketplace.ItemResult, error) {
		switch {
		case call <= 8:
			return nil, &marketplace.ThrottledError{}
		case call <= 12:
			return nil, &marketplace.UnavailableError{Err: errors.New("502")}
		}
		return nil, nil
	}}
	h := start(t, a, Config{MaxAttempts: 3, MaxBackoff: 50 * time.Millisecond})
	h.p.Offer(0, marketplace.Update{SKU: "A", Available: 9, Version: 1})
	eventually(t, "pushed once the marketplace recovers", func() bool { v, _ := a.show("A"); return v == 9 })
	if p := h.parked(); len(p) != 0 {
		t.Fatalf("parked %+v: throttling and outages must wait, not give up", p)
	}
}

func TestShutdownIsNotAMarketplaceFailure(t *testing.T) {
	a := &scripted{block: make(chan struct{})}
	a.limits = marketplace.Limits{MaxBatch: 10, Rate: 1000, Burst: 100, MaxParallel: 2}
	a.shown = map[string]int64{}
	reg := NewMetrics(prometheus.NewRegistry())
	p, err := New(Config{Channel: "test", Adapter: cancelling{a}, Metrics: reg,
		Send: func(context.Context, Verdict, func(error)) {}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	p.Offer(0, marketplace.Update{SKU: "A", Available: 1, Version: 1})
	time.Sleep(20 * time.Millisecond) // the push is in flight, blocked
	cancel()
	close(a.block)
	<-done
	time.Sleep(20 * time.Millisecond)
	if got := testutil.ToFloat64(reg.Pushes.WithLabelValues("test", "unavailable")); got != 0 {
		t.Fatalf("a push cut short by shutdown was counted as %v marketplace failures", got)
	}
	if pend := p.Pending(); len(pend) != 1 || pend[0].Attempts != 0 {
		t.Fatalf("pending after shutdown: %+v; want A kept, with no attempt counted", pend)
	}
}

// cancelling answers like an adapter whose request was cut by its context.
type cancelling struct{ *scripted }

func (c cancelling) Push(ctx context.Context, batch []marketplace.Update) ([]marketplace.ItemResult, error) {
	<-c.block
	<-ctx.Done()
	return nil, ctx.Err()
}

// A catalogue's first sync is queued when a sell-out and a sharp drop come
// in: the marketplace's next request carries them, not routine values.
func TestSellOutsAndSharpDropsGoBeforeRoutineValues(t *testing.T) {
	var mu sync.Mutex
	var batches [][]marketplace.Update
	a := &scripted{fail: func(_ int, batch []marketplace.Update) ([]marketplace.ItemResult, error) {
		mu.Lock()
		batches = append(batches, append([]marketplace.Update(nil), batch...))
		mu.Unlock()
		return nil, nil
	}, limits: marketplace.Limits{MaxBatch: 10, Rate: 1000, Burst: 100, MaxParallel: 1}}
	h := start(t, a, Config{})
	h.p.Offer(0, marketplace.Update{SKU: "drop", Available: 10, Version: 1})
	h.p.Offer(0, marketplace.Update{SKU: "dip", Available: 10, Version: 1})
	eventually(t, "the first values shown", func() bool { return h.p.Status().Pending == 0 })
	h.p.SetManual(true)
	for i := range 95 {
		h.p.Offer(0, marketplace.Update{SKU: fmt.Sprintf("new-%02d", i), Available: int64(i + 1), Version: 1})
	}
	h.p.Offer(0, marketplace.Update{SKU: "sold-out", Available: 0, Version: 1})
	h.p.Offer(0, marketplace.Update{SKU: "drop", Available: 5, Version: 2}) // half of what is shown
	h.p.Offer(0, marketplace.Update{SKU: "dip", Available: 6, Version: 2})  // down, not sharply: routine
	mu.Lock()
	batches = nil
	mu.Unlock()
	h.p.PushNow()
	eventually(t, "everything pushed", func() bool { return h.p.Status().Pending == 0 })
	mu.Lock()
	defer mu.Unlock()
	first := map[string]bool{}
	for _, u := range batches[0] {
		first[u.SKU] = true
	}
	if !first["sold-out"] || !first["drop"] || !first["dip"] {
		t.Fatalf("the first request after the queue built up carried %v; want the sell-out and the sharp drop in it, and the dip before the new SKUs' first values", batches[0])
	}
}

// A marketplace that takes a SKU at most once per interval (Ozon: 30 s)
// refuses a value pushed sooner. The pusher forgets a SKU once its value
// is acknowledged; the next value must still wait out the interval, not
// be refused and retried with backoff.
func TestItemCooldownOutlivesTheAcknowledgement(t *testing.T) {
	const cooldown = 100 * time.Millisecond
	var mu sync.Mutex
	last, refused := map[string]time.Time{}, 0
	a := &scripted{limits: marketplace.Limits{MaxBatch: 10, Rate: 1000, Burst: 100, MaxParallel: 1, ItemCooldown: cooldown},
		fail: func(_ int, batch []marketplace.Update) ([]marketplace.ItemResult, error) {
			mu.Lock()
			defer mu.Unlock()
			out := make([]marketplace.ItemResult, len(batch))
			for i, u := range batch {
				if t, ok := last[u.SKU]; ok && time.Since(t) < cooldown {
					refused++
					out[i] = marketplace.ItemResult{SKU: u.SKU, Retryable: true, Reason: "TOO_MANY_REQUESTS"}
					continue
				}
				last[u.SKU] = time.Now()
				out[i] = marketplace.ItemResult{SKU: u.SKU, OK: true}
			}
			return out, nil
		}}
	h := start(t, a, Config{})
	for v := int64(1); v <= 3; v++ {
		h.p.Offer(0, marketplace.Update{SKU: "A", Available: 10 - v, Version: v})
		eventually(t, fmt.Sprintf("version %d is acknowledged and forgotten", v), func() bool {
			h.mu.Lock()
			defer h.mu.Unlock()
			return len(h.verdicts) == int(v) && h.p.Status().Pending == 0
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if refused != 0 {
		t.Fatalf("the marketplace refused %d pushes within its per-item interval; want none", refused)
	}
}
