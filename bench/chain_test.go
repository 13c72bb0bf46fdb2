package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestChainSmoke runs a short chain day on kfake with stocksync pushing in
// real time and a cron syncing every 5 simulated minutes, on the same
// demand, and checks what the chain's customers would see: marketplaces
// took orders, stocksync never oversold, and fewer of the real-time mode's
// marketplace orders were cancelled for want of stock than the cron's. It
// asserts no timing.
func TestChainSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the chain smoke run starts two engines")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Two simulated minutes a wall second, a gentle promotion: under -race
	// on a shared CI machine the engine must keep up for the real-time mode
	// to be real time.
	// Side by side: one day, not two; the figures' fidelity is make
	// bench-chain's, not the smoke test's.
	res, err := RunChain(ctx, ChainConfig{Modes: []string{ChainRealtime, "batch-5m"}, SideBySide: true, SKUs: 200, Day: 40 * time.Minute,
		Speed: 30, SpikeAt: 20 * time.Minute, SpikeFactor: 4, Restock: 10 * time.Minute, NewSKUs: 100,
		MarketplaceOrders: 40, AppOrders: 5, ShelfSales: 5, Dir: t.TempDir(), Progress: func(line string) { t.Log(line) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteChainReport(t.TempDir(), res); err != nil {
		t.Fatal(err)
	}
	rt, batch := res.Modes[0], res.Modes[1]
	for _, m := range res.Modes {
		t.Logf("%s: orders %v, cancelled %v, not shown %v, %.1f per 1,000, oversold %d, unknown %d",
			m.Mode, m.Orders, m.Cancelled, m.NotShown, m.PerThousand(), m.OversoldUnits, m.Unknown)
		if m.OversoldUnits != 0 {
			t.Errorf("%s: %d units oversold", m.Mode, m.OversoldUnits)
		}
		if m.Orders["ozon"] == 0 || m.Orders["wildberries"] == 0 || m.Orders["yandex"] == 0 {
			t.Errorf("%s: a marketplace took no orders: %v", m.Mode, m.Orders)
		}
	}
	if batch.PerThousand() == 0 {
		t.Fatalf("the 5-minute cron had no cancellations: the day did not sell out (%v)", batch.Cancelled)
	}
	if !(rt.PerThousand() < batch.PerThousand()) {
		t.Errorf("real-time pushing cancelled %.1f per 1,000 marketplace orders, the 5-minute cron %.1f: want fewer with real time",
			rt.PerThousand(), batch.PerThousand())
	}
}

// A mock's throttled answer asks for a wait on the simulated clock; the
// adapters wait on the wall's, so the bench scales it.
func TestWallWaits(t *testing.T) {
	clock := newSimClock(20)
	until := clock.Now().Add(40 * time.Second).UTC()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "1")
		w.Header().Set("X-Ratelimit-Retry", "3")
		w.Header().Set("X-RateLimit-Resource-Until", until.Format(http.TimeFormat))
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	resp, err := (&http.Client{Transport: wallWaits{http.DefaultTransport, clock}}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for h, want := range map[string]string{"Retry-After": "0.050", "X-Ratelimit-Retry": "0.150"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q (simulated seconds ÷ 20)", h, got, want)
		}
	}
	at, err := http.ParseTime(resp.Header.Get("X-RateLimit-Resource-Until"))
	if want := clock.wall(until.Truncate(time.Second)); err != nil || at.Sub(want).Abs() > time.Second {
		t.Errorf("X-RateLimit-Resource-Until: %s, want about %s, 2 wall seconds from now (%v)", at, want, err)
	}
}
