package opsui_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/engine"
	"github.com/stocksync/stocksync/examples"
	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/marketplace/mock"
	"github.com/stocksync/stocksync/queryapi"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestOpsPageInABrowser drives the ops page in a real headless Chromium
// against a whole stocksync on kfake: an operator switches the Ozon channel
// to manual, sees the value Ozon should show, pushes it by hand, and looks a
// SKU up.
func TestOpsPageInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts an engine and a browser")
	}
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (apt-get install chromium): the ops page browser test is skipped")
	}
	base, ozon := startStack(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.WindowSize(1280, 900))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	ozonRow := `#channels tr[data-channel="ozon"]`
	must(t, "open the page and switch Ozon to manual", chromedp.Do(ctx,
		chromedp.Navigate(base+"/ops/"),
		chromedp.WaitVisible(ozonRow),
		chromedp.WaitVisible(`#ready.ok`),
		chromedp.Click(ozonRow+` button.toggle-mode`),
		chromedp.WaitVisible(ozonRow+` td.mode-manual`),
	))
	ready := text(t, ctx, `#ready`)
	mode := text(t, ctx, ozonRow+` td:nth-child(3)`)
	if ready != "ready" || mode != "manual" {
		t.Fatalf("after the click: readiness %q, ozon mode %q; want ready, manual", ready, mode)
	}

	// New stock while Ozon is manual: its value waits for the operator.
	put(t, base+"/v1/stock/UI-1/locations/msk-wh-1", `{"on_hand":40,"source":"erp","version":1}`)
	must(t, "list ozon's pending values", chromedp.Do(ctx,
		chromedp.Click(ozonRow+` button.show-pending`),
		chromedp.WaitVisible(`#pending-section`),
	))
	pending := waitText(t, ctx, `#pending tbody`, "UI-1")
	if !strings.Contains(pending, "18") { // floor(0.5 × 40) − 2
		t.Fatalf("pending row for UI-1 = %q, want Ozon's value 18 (share 0.5, safety 2)", pending)
	}
	if v, ok := ozon.Stock("UI-1"); ok {
		t.Fatalf("manual mode pushed %d to Ozon before the operator asked", v)
	}

	must(t, "push now", chromedp.Do(ctx, chromedp.Click(`#push-now`)))
	deadline := time.Now().Add(15 * time.Second)
	for {
		if v, ok := ozon.Stock("UI-1"); ok && v == 18 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Ozon does not show 18 for UI-1 within 15s of Push now")
		}
		time.Sleep(50 * time.Millisecond)
	}

	must(t, "look a SKU up", chromedp.Do(ctx,
		chromedp.SendKeys(`#sku`, "UI-1"),
		chromedp.Click(`#stock-form button`),
		chromedp.WaitVisible(`#stock-table`),
	))
	if stockTable := text(t, ctx, `#stock-table`); !strings.Contains(stockTable, "msk-wh-1") || !strings.Contains(stockTable, "40") {
		t.Fatalf("stock table = %q, want msk-wh-1 with 40 on hand", stockTable)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100) /* 100: PNG */)
	must(t, "screenshot", err)
	shot := filepath.Join(t.TempDir(), "ops.png")
	if dir := os.Getenv("STOCKSYNC_SCREENSHOT_DIR"); dir != "" {
		shot = filepath.Join(dir, "ops.png")
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the ops page: %s", shot)
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	must(t, "read "+sel, err)
	return s
}

// waitText waits until the element's text contains want, and returns it.
func waitText(t *testing.T, ctx context.Context, sel, want string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s := text(t, ctx, sel)
		if strings.Contains(s, want) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never showed %q within 15s (last: %q)", sel, want, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func must(t *testing.T, step string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
}

func put(t *testing.T, url, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if b, _ := io.ReadAll(res.Body); res.StatusCode != 200 {
		t.Fatalf("PUT %s: %d %s", url, res.StatusCode, b)
	}
}

// startStack runs the example configuration on kfake with mock marketplaces
// and returns the API's base URL and the Ozon mock.
func startStack(t *testing.T) (string, *mock.Server) {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	settings, err := config.Parse(examples.Config)
	if err != nil {
		t.Fatal(err)
	}
	settings.Kafka.Brokers = cluster.ListenAddrs()
	settings.Kafka.Partitions = 2
	settings.DataDir = t.TempDir()
	endpoints := map[string]marketplace.Config{}
	var ozon *mock.Server
	for _, c := range settings.Channels {
		s, err := mock.New(c.Marketplace)
		if err != nil {
			t.Fatal(err)
		}
		if c.Marketplace == "ozon" {
			ozon = s
		}
		t.Cleanup(s.Close)
		endpoints[c.Name] = s.Config()
	}
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := engine.New(engine.Config{Settings: settings, Registry: reg, Logger: log, Endpoints: endpoints})
	if err != nil {
		t.Fatal(err)
	}
	api, err := queryapi.New(queryapi.Config{Engine: eng, Registry: reg, Gatherer: reg, Logger: log, Open: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(60 * time.Second)
	for eng.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("engine not ready within 60s: %v", eng.Ready())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return srv.URL, ozon
}
