package opsui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/examples"
	"github.com/stocksync/stocksync/instance"
	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/marketplace/mock"
	"github.com/stocksync/stocksync/processors"
	"github.com/stocksync/stocksync/topology"
)

// TestConsoleInABrowser drives the ops console in a real headless Chromium
// against a whole stocksync on kfake while orders keep coming: the live
// charts move, the cluster lists this instance, a mode switch asks for
// confirmation, the pending values page, a DLQ message is replayed and takes
// effect, and an order and a SKU are looked up. With
// STOCKSYNC_SCREENSHOT_DIR set, a screenshot of each tab is written there
// (docs/ holds the ones the README shows).
func TestConsoleInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts an engine and a browser")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (apt-get install chromium): the ops console browser test is skipped")
	}
	st := startStack(t)
	for i := range 20 {
		put(t, fmt.Sprintf("%s/v1/stock/LOAD-%02d/locations/msk-wh-1", st.base, i), `{"on_hand":100,"source":"erp","version":1}`)
	}
	orders := st.load(t)
	// Two reconciliations of 4 SKUs: the first export says 12 of RC-1 where
	// the engine has 10 (a drift rate of 25 %), the second agrees.
	for i := 1; i <= 4; i++ {
		put(t, fmt.Sprintf("%s/v1/stock/RC-%d/locations/msk-wh-1", st.base, i), `{"on_hand":10,"source":"erp","version":1}`)
	}
	for _, rc1 := range []int{12, 10} {
		export := fmt.Sprintf("sku,location,on_hand\nRC-1,msk-wh-1,%d\nRC-2,msk-wh-1,10\nRC-3,msk-wh-1,10\nRC-4,msk-wh-1,10\n", rc1)
		if status, body := postCSV(st.base+"/v1/reconciliations?source=erp&version=2&locations=msk-wh-1", export); status != 202 {
			t.Fatalf("POST /v1/reconciliations: %d %s", status, body)
		}
		waitFor(t, "the reconciliation to end", func() bool {
			return !strings.Contains(getBody(t, st.base+"/v1/reconciliations"), `"status":"running"`)
		})
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.WindowSize(1400, 1000))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelTimeout()
	must(t, "start chromium", chromedp.Do(ctx)) // on this context: the steps' shorter ones would close it

	// Live: the charts move while the orders come.
	do(t, ctx, "open the console", chromedp.Navigate(st.base+"/ops/"), chromedp.WaitVisible(`#chart-orders`), chromedp.WaitVisible(`#ready.ok`))
	first := attr(t, ctx, `#chart-orders`, "data-last")
	waitFor(t, "the orders chart to show a new sample with orders in it", func() bool {
		return attr(t, ctx, `#chart-orders`, "data-last") != first && attr(t, ctx, `#chart-orders`, "data-recent") != "0"
	})
	waitText(t, ctx, `#top-demand tbody`, "LOAD-")
	waitFor(t, "the units chart to show reserved units", func() bool { return attr(t, ctx, `#chart-units`, "data-recent") != "0" })
	waitText(t, ctx, `#top-refused tbody`, "LOAD-") // 100 units each run out: out-of-stock refusals
	if recon := waitText(t, ctx, `#recon tbody`, "done"); !strings.Contains(recon, "0.000 %") || !strings.Contains(recon, "25.000 %") {
		t.Fatalf("reconciliation runs = %q, want two runs done, drift rates 0 %% and 25 %%", recon)
	}
	if os.Getenv("STOCKSYNC_SCREENSHOT_DIR") != "" {
		waitFor(t, "half a minute of samples for the screenshot", func() bool { return atoiAttr(t, ctx, `#chart-orders`, "data-points") >= 30 })
	}
	shot(t, ctx, "ops-live.png")

	// A reload keeps the hour: the server holds it.
	points := atoiAttr(t, ctx, `#chart-orders`, "data-points")
	do(t, ctx, "reload", chromedp.Reload(), chromedp.WaitVisible(`#chart-orders`))
	if after := atoiAttr(t, ctx, `#chart-orders`, "data-points"); after < points {
		t.Fatalf("after a reload the orders chart has %d samples, before it had %d: the history was lost", after, points)
	}

	// Cluster: this instance, ready, with its partitions; the groups' lag.
	do(t, ctx, "open the cluster tab", chromedp.Click(`#tabs button[data-tab="cluster"]`))
	group, another := "stocksync.inventory", "stocksync.orders" // the goka engine's groups
	if b, _ := config.ParseBackend(os.Getenv(config.EnvBackend)); b == config.BackendTxloop {
		group, another = "stocksync.engine", "stocksync.engine" // the new engine's one group
	}
	inst := waitText(t, ctx, `#instances tbody`, "(this one)")
	if !strings.Contains(inst, "ready") || !strings.Contains(inst, group+":") {
		t.Fatalf("instances table = %q, want this instance, ready, with its %s partitions", inst, group)
	}
	waitText(t, ctx, `#groups tbody`, another)
	waitText(t, ctx, `#partitions tbody`, "stocksync.stock.feed")
	shot(t, ctx, "ops-cluster.png")

	// Channels: a mode switch asks first; Cancel changes nothing.
	ozonRow := `#channels tr[data-channel="ozon"]`
	do(t, ctx, "open the channels tab and ask to switch Ozon",
		chromedp.Click(`#tabs button[data-tab="channels"]`), chromedp.WaitVisible(ozonRow),
		chromedp.Click(ozonRow+` button.toggle-mode`), chromedp.WaitVisible(`#confirm`))
	if q := text(t, ctx, `#confirm-text`); !strings.Contains(q, "Switch channel ozon to manual?") {
		t.Fatalf("confirmation = %q, want it to name the channel and the mode", q)
	}
	do(t, ctx, "cancel", chromedp.Click(`#confirm-no`), chromedp.WaitNotVisible(`#confirm`))
	time.Sleep(2500 * time.Millisecond) // two refreshes of the table
	if mode := text(t, ctx, ozonRow+` td:nth-child(3)`); mode != "auto" {
		t.Fatalf("after Cancel Ozon's mode is %q, want auto", mode)
	}
	do(t, ctx, "switch Ozon to manual, confirmed",
		chromedp.Click(ozonRow+` button.toggle-mode`), chromedp.WaitVisible(`#confirm`),
		chromedp.Click(`#confirm-yes`), chromedp.WaitVisible(ozonRow+` td.mode-manual`))

	// New stock while Ozon is manual: its values wait, 130 of them, paged by 100.
	putMany(t, st.base, 130)
	put(t, st.base+"/v1/stock/UI-1/locations/msk-wh-1", `{"on_hand":40,"source":"erp","version":1}`)
	do(t, ctx, "list Ozon's pending values", chromedp.Click(ozonRow+` button.show-pending`), chromedp.WaitVisible(`#pending-section`))
	waitText(t, ctx, `#page-info`, "page 1 of 2")
	if rows := count(t, ctx, `#pending tbody tr`); rows != 100 {
		t.Fatalf("the first page of pending values has %d rows, want 100", rows)
	}
	do(t, ctx, "next page", chromedp.Click(`#page-next`))
	waitText(t, ctx, `#page-info`, "page 2 of 2")
	page2 := waitText(t, ctx, `#pending tbody`, "UI-1")
	if !strings.Contains(page2, "18") { // floor(0.5 × 40) − 2
		t.Fatalf("pending page 2 = %q, want UI-1 at Ozon's value 18 (share 0.5, safety 2)", page2)
	}
	if v, ok := st.ozon.Stock("UI-1"); ok {
		t.Fatalf("manual mode pushed %d to Ozon before the operator asked", v)
	}
	shot(t, ctx, "ops-channels.png")

	// The CSV export saves every pending value, for an upload by hand.
	downloads := t.TempDir()
	_, err = chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
	must(t, "allow downloads", err)
	do(t, ctx, "export CSV", chromedp.Click(`#export-csv`))
	var csv []byte
	waitFor(t, "ozon-pending.csv to be saved", func() bool {
		csv, err = os.ReadFile(filepath.Join(downloads, "ozon-pending.csv"))
		return err == nil && strings.Contains(string(csv), "UI-1,18,")
	})
	if lines := strings.Count(string(csv), "\n"); lines < 152 {
		t.Fatalf("the CSV has %d lines, want a header and every pending value (151 and more)", lines)
	}

	do(t, ctx, "push now", chromedp.Click(`#push-now`))
	waitFor(t, "Ozon to show 18 for UI-1 after Push now", func() bool { v, ok := st.ozon.Stock("UI-1"); return ok && v == 18 })
	waitText(t, ctx, ozonRow+` td.last-ack`, "20") // a date, not "—"

	// DLQ: a parked feed message, inspected and replayed, takes effect.
	id := st.park(t, `{"type":"snapshot","sku":"DLQ-1","location":"msk-wh-1","on_hand":7,"source":"erp","version":1}`)
	row := fmt.Sprintf(`#dlq tr[data-id="%s"]`, id)
	do(t, ctx, "open the DLQ tab", chromedp.Click(`#tabs button[data-tab="dlq"]`))
	click(t, ctx, `#dlq-classes button[data-class="operator test"]`) // the list is redrawn every 5 s: a click may land on a row just replaced
	clickUntil(t, ctx, row, `#dlq-detail`)                           // inspect the parked message
	if js := waitText(t, ctx, `#dlq-json`, "DLQ-1"); !strings.Contains(js, `"on_hand": 7`) {
		t.Fatalf("inspected message = %q, want the snapshot of DLQ-1", js)
	}
	do(t, ctx, "replay it", chromedp.Click(`#dlq-replay-one`))
	waitText(t, ctx, `#dlq-one-note`, "1 replayed")
	waitFor(t, "DLQ-1 to have stock after the replay", func() bool { return get(st.base+"/v1/stock/DLQ-1") == 200 })
	waitText(t, ctx, row+` td.replayed`, "20")
	shot(t, ctx, "ops-dlq.png")

	// Lookups: an order of the load, with its history; a SKU per location and channel.
	orderID := orders.reserved()
	do(t, ctx, "find an order",
		chromedp.Click(`#tabs button[data-tab="lookups"]`), chromedp.WaitVisible(`#order-id`),
		chromedp.SendKeys(`#order-id`, orderID), chromedp.Click(`#order-form button`), chromedp.WaitVisible(`#order-view`))
	if view := text(t, ctx, `#order`); !strings.Contains(view, "LOAD-") || !strings.Contains(view, "reserve") {
		t.Fatalf("order %s shows %q, want its line and its reserve answer in the history", orderID, view)
	}
	do(t, ctx, "look a SKU up",
		chromedp.SendKeys(`#sku`, "UI-1"), chromedp.Click(`#stock-form button`), chromedp.WaitVisible(`#stock-channels`))
	if s := text(t, ctx, `#stock-table`); !strings.Contains(s, "msk-wh-1") || !strings.Contains(s, "40") {
		t.Fatalf("stock table = %q, want msk-wh-1 with 40 on hand", s)
	}
	// The lookup reads the stores, which show an acknowledgement up to a
	// second after the marketplace gave it (inventory.Config.AckWriteDelay):
	// the operator looks again.
	var chans string
	waitFor(t, "the lookup to show Ozon projected 18, acknowledged 18", func() bool {
		if chans = text(t, ctx, `#stock-channels`); strings.Contains(chans, "ozon\t18\t18") {
			return true
		}
		t.Logf("channel table = %q; looking again", chans)
		do(t, ctx, "look the SKU up again", chromedp.Click(`#stock-form button`))
		return false
	})
	shot(t, ctx, "ops-lookups.png")
	if who := text(t, ctx, `#answered`); !strings.Contains(who, st.base) {
		t.Fatalf("header says %q, want the instance that answered (%s)", who, st.base)
	}
}

// exampleOnKfake is the example configuration on a new kfake cluster of 2
// partitions, with a mock marketplace per channel (by channel name).
func exampleOnKfake(t *testing.T) (*config.Config, map[string]marketplace.Config, map[string]*mock.Server) {
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
	settings.Kafka.Brokers, settings.Kafka.Partitions, settings.DataDir = cluster.ListenAddrs(), 2, t.TempDir()
	endpoints, mocks := map[string]marketplace.Config{}, map[string]*mock.Server{}
	for _, c := range settings.Channels {
		s, err := mock.New(c.Marketplace)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		endpoints[c.Name], mocks[c.Name] = s.Config(), s
	}
	return settings, endpoints, mocks
}

type stack struct {
	base   string
	ozon   *mock.Server
	kafka  []string
	names  topology.Names
	client *kgo.Client
}

// startStack runs the example configuration on kfake with mock
// marketplaces as `stocksync serve` does (package instance: the console and
// a lag collector included), on the engine of $STOCKSYNC_ENGINE.
func startStack(t *testing.T) *stack {
	t.Helper()
	settings, endpoints, mocks := exampleOnKfake(t)
	settings.HTTP.Addr = "127.0.0.1:0"
	st := &stack{kafka: settings.Kafka.Brokers, names: topology.New(settings.Kafka.TopicPrefix), ozon: mocks["ozon"]}
	in, err := instance.Start(context.Background(), instance.Config{Settings: settings, Backend: os.Getenv(config.EnvBackend),
		Endpoints: endpoints, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), LagInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Stop() })
	st.base = in.URL()
	st.client, err = kgo.NewClient(kgo.SeedBrokers(st.kafka...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.client.Close)
	waitFor(t, "the engine to be ready", func() bool { return in.Engine().Ready() == nil })
	return st
}

// loadGen reserves orders over HTTP until the test ends, 40 a second over
// 20 SKUs of 100 units (soon refused for lack of stock, until the restock
// every 10 s), and confirms every other one.
type loadGen struct {
	mu   sync.Mutex
	last string // an order that was reserved
}

func (l *loadGen) reserved() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

func (st *stack) load(t *testing.T) *loadGen {
	l := &loadGen{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var n atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := n.Add(1)
				id := fmt.Sprintf("load-%d-%d", w, i)
				body := fmt.Sprintf(`{"lines":[{"sku":"LOAD-%02d","qty":%d}],"ttl_s":600}`, i%20, 1+i%7*3)
				if status, _ := post(ctx, st.base+"/v1/orders/"+id+"/reserve", body); status == 200 {
					l.mu.Lock()
					l.last = id
					l.mu.Unlock()
					if i%2 == 0 {
						post(ctx, st.base+"/v1/orders/"+id+"/confirm", "")
					}
				}
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // a restock every 10 s, as a flash sale's warehouse would: reserves succeed again
		defer wg.Done()
		for v := 2; ; v++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Second):
			}
			for i := range 20 {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPut, fmt.Sprintf("%s/v1/stock/LOAD-%02d/locations/msk-wh-1", st.base, i),
					strings.NewReader(fmt.Sprintf(`{"on_hand":%d,"source":"erp","version":%d}`, 100*v, v)))
				if res, err := http.DefaultClient.Do(req); err == nil {
					res.Body.Close()
				}
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	waitFor(t, "the load to reserve an order", func() bool { return l.reserved() != "" })
	return l
}

// park writes a dead letter of stock.feed to the DLQ, as the engine does
// with a message it refuses, and returns its console id.
func (st *stack) park(t *testing.T, value string) string {
	t.Helper()
	dl, _ := json.Marshal(processors.DeadLetter{Topic: string(st.names.StockFeed), Key: "DLQ-1", Value: value,
		Reason: "operator test: parked by the browser test", At: time.Now().UTC().Format(time.RFC3339Nano)})
	r, err := st.client.ProduceSync(context.Background(), &kgo.Record{Topic: string(st.names.DLQ), Key: []byte("DLQ-1"), Value: dl}).First()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d-%d", r.Partition, r.Offset)
}

// putMany writes n SKUs of stock in parallel.
func putMany(t *testing.T, base string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			put(t, fmt.Sprintf("%s/v1/stock/PAGE-%03d/locations/msk-wh-1", base, i), `{"on_hand":20,"source":"erp","version":1}`)
		}()
	}
	wg.Wait()
}

func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100) /* 100: PNG */)
	must(t, "screenshot", err)
	dir := os.Getenv("STOCKSYNC_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// click clicks sel once it is there, again if the page redrew it meanwhile.
func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	var err error
	waitFor(t, "a click on "+sel, func() bool {
		err = chromedp.Do(ctx, chromedp.WaitVisible(sel), chromedp.Click(sel))
		return err == nil
	})
}

// clickUntil clicks sel until want is visible. A list redrawn right
// after the click (the DLQ's, when a class is chosen or a message
// arrives) takes the click on a row it just removed, and nothing opens:
// a user clicks again, and so does the test.
func clickUntil(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	try := func(timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return chromedp.Do(ctx, actions...)
	}
	waitFor(t, "a click on "+sel+" to show "+want, func() bool {
		return try(5*time.Second, chromedp.WaitVisible(sel), chromedp.Click(sel)) == nil &&
			try(2*time.Second, chromedp.WaitVisible(want)) == nil
	})
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	must(t, "read "+sel, err)
	return s
}

func attr(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	r, err := chromedp.Run(ctx, chromedp.AttributeValue(sel, name))
	must(t, "read "+sel+" "+name, err)
	return r.Value
}

func atoiAttr(t *testing.T, ctx context.Context, sel, name string) int {
	n, err := strconv.Atoi(attr(t, ctx, sel, name))
	must(t, "a number in "+sel+" "+name, err)
	return n
}

func count(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
	must(t, "count "+sel, err)
	return n
}

// waitText waits until the element's text contains want, and returns it.
func waitText(t *testing.T, ctx context.Context, sel, want string) string {
	t.Helper()
	var s string
	waitFor(t, fmt.Sprintf("%s to show %q", sel, want), func() bool {
		s = text(t, ctx, sel)
		return strings.Contains(s, want)
	})
	return s
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 60s for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// do runs the steps, failing the test with what did not happen within 30 s.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	must(t, what, chromedp.Do(ctx, steps...))
}

func must(t *testing.T, step string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
}

func put(t *testing.T, url, body string) {
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return
	}
	defer res.Body.Close()
	if b, _ := io.ReadAll(res.Body); res.StatusCode != 200 {
		t.Errorf("PUT %s: %d %s", url, res.StatusCode, b)
	}
}

func post(ctx context.Context, url, body string) (int, string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func postCSV(url, body string) (int, string) {
	res, err := http.Post(url, "text/csv", strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func get(url string) int {
	res, err := http.Get(url)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}
