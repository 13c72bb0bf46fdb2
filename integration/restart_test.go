package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/contract"
)

// bulkSKUs gives the tables some weight, so the rebuild time means something.
const bulkSKUs = 1000

// testRestartAndRebuild: an instance stopped gracefully and started again on
// its data dir still has the stock and the live reservations (a reserved
// order can be confirmed, a short one still expires); an instance started on
// an EMPTY data dir rebuilds its tables from the changelog topics and answers
// exactly as before.
func testRestartAndRebuild(t *testing.T, e *env) {
	dir := t.TempDir()
	in := e.start(dir)
	t.Logf("first start on an empty data dir and new topics: ready in %s", in.ReadyIn.Round(time.Millisecond))

	in.snapshot("R1", "msk-wh-1", 10, 1)
	in.snapshot("R2", "msk-dark-1", 6, 1)
	in.snapshot("R3", "msk-wh-1", 4, 1)
	cl := e.client()
	var bulk []*kgo.Record
	var skus []string
	for i := range bulkSKUs {
		sku := fmt.Sprintf("BULK-%04d", i)
		skus = append(skus, sku)
		n := int64(i%50 + 1)
		bulk = append(bulk, record(e.names.StockFeed, sku, contract.FeedMessage{Type: contract.Snapshot, SKU: sku,
			Location: "msk-wh-1", OnHand: &n, Source: "erp", Version: 1}))
	}
	began := time.Now()
	e.produce(cl, bulk...)
	eventually(t, 60*time.Second, fmt.Sprintf("%d bulk snapshots applied", bulkSKUs), func() (bool, string) {
		_, m := in.do(http.MethodGet, "/metrics", nil)
		n := metric(string(m), `stocksync_commands_total{outcome="accepted",type="snapshot"}`)
		return n >= bulkSKUs+3, fmt.Sprintf("%g snapshots accepted", n)
	})
	t.Logf("%d snapshots produced to %s and applied in %s", bulkSKUs, e.names.StockFeed, time.Since(began).Round(time.Millisecond))

	mustReserve(t, in, "o-r1", lines("R1", 3), 600)
	mustReserve(t, in, "o-r2", lines("R1", 2, "R2", 1), 600)
	in.command("o-r2", "confirm", contract.StatusConfirmed)
	mustReserve(t, in, "o-r3", lines("R2", 2), 600)
	in.command("o-r3", "release", contract.StatusReleased)
	mustReserve(t, in, "o-r4", lines("R1", 1), 600)
	in.command("o-r4", "confirm", contract.StatusConfirmed)
	in.command("o-r4", "ship", contract.StatusShipped)
	mustReserve(t, in, "o-r6", lines("R3", 2), 3) // expires after the restart
	orders := []string{"o-r1", "o-r2", "o-r3", "o-r4"}
	touched := append([]string{"R1", "R2"}, skus...)
	settled(t, in, "R1", qty{onHand: 9, reserved: 3, committed: 2, available: 4})
	settled(t, in, "R2", qty{onHand: 6, committed: 1, available: 5})
	before := capture(in, touched, orders)

	// Stop gracefully, start again on the same data dir.
	old := in
	in = in.Restart()
	t.Logf("graceful stop in %s; restart on the same data dir: ready in %s, data dir %s",
		old.StoppedIn.Round(time.Millisecond), in.ReadyIn.Round(time.Millisecond), kib(in.tableBytes()))
	same(t, "after a restart on the same data dir", before, capture(in, touched, orders))
	in.command("o-r1", "confirm", contract.StatusConfirmed)
	in.command("o-r2", "ship", contract.StatusShipped)
	mustReserve(t, in, "o-r5", lines("R2", 1), 600)
	settled(t, in, "R1", qty{onHand: 7, committed: 3, available: 4})
	settled(t, in, "R2", qty{onHand: 5, reserved: 1, available: 4})
	eventually(t, 30*time.Second, "o-r6 (ttl 3s, reserved before the restart) expired", func() (bool, string) {
		o := in.order("o-r6")
		return o.State == contract.StatusExpired, "state " + o.State
	})
	eventually(t, 20*time.Second, "R3's units back after o-r6 expired", func() (bool, string) {
		s := in.stock("R3")
		return s.Reserved == 0 && s.Available == 4, fmt.Sprintf("%+v", s)
	})
	orders = append(orders, "o-r5", "o-r6")
	touched = append(touched, "R3")
	before = capture(in, touched, orders)
	sizeBefore := in.tableBytes()
	in.Stop()

	// A new instance on an empty data dir: the tables come back from the changelogs.
	fresh := e.start(t.TempDir())
	t.Logf("rebuild from the changelog topics on an empty data dir: ready in %s; tables %s (the old instance's data dir: %s); %d SKUs, %d orders",
		fresh.ReadyIn.Round(time.Millisecond), kib(fresh.tableBytes()), kib(sizeBefore), len(touched), len(orders))
	same(t, "after a rebuild from the changelog on an empty data dir", before, capture(fresh, touched, orders))
	fresh.command("o-r5", "release", contract.StatusReleased)
	settled(t, fresh, "R2", qty{onHand: 5, available: 5})
}

func mustReserve(t *testing.T, in *instance, id string, ls []contract.Line, ttl int64) contract.OrderResult {
	t.Helper()
	code, res, raw := in.reserve(id, reserveBody{Lines: ls, Channel: "web", TTLS: ttl})
	if code != http.StatusOK || res.Status != contract.StatusReserved {
		t.Fatalf("reserve %s: %d %s, want 200 reserved", id, code, raw)
	}
	return res
}

// view is what GET answers for a set of SKUs and orders.
type view struct {
	stock  map[string]contract.StockView
	orders map[string]contract.OrderView
}

// capture GETs every SKU and order, 8 requests at a time.
func capture(in *instance, skus, orders []string) view {
	t := in.env.t
	t.Helper()
	v := view{stock: map[string]contract.StockView{}, orders: map[string]contract.OrderView{}}
	var mu sync.Mutex
	var failures []string
	paths := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for path := range paths {
				code, data, err := call(context.Background(), http.MethodGet, in.url+path, nil)
				mu.Lock()
				switch key, isOrder := strings.CutPrefix(path, "/v1/orders/"); {
				case err != nil || code != http.StatusOK:
					failures = append(failures, fmt.Sprintf("GET %s: %d %s %v", path, code, data, err))
				case isOrder:
					var o contract.OrderView
					err = json.Unmarshal(data, &o)
					v.orders[key] = o
				default:
					var st contract.StockView
					err = json.Unmarshal(data, &st)
					v.stock[strings.TrimPrefix(path, "/v1/stock/")] = st
				}
				if err != nil {
					failures = append(failures, fmt.Sprintf("GET %s: %v: %s", path, err, data))
				}
				mu.Unlock()
			}
		})
	}
	for _, s := range skus {
		paths <- "/v1/stock/" + s
	}
	for _, o := range orders {
		paths <- "/v1/orders/" + o
	}
	close(paths)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d reads failed, the first: %s", len(failures), failures[0])
	}
	return v
}

func same(t *testing.T, when string, want, got view) {
	t.Helper()
	n := 0
	for k, w := range want.stock {
		if g := got.stock[k]; !reflect.DeepEqual(g, w) && n < 10 {
			n++
			t.Errorf("%s: GET /v1/stock/%s = %s, want %s as before", when, k, js(g), js(w))
		}
	}
	for k, w := range want.orders {
		if g := got.orders[k]; !reflect.DeepEqual(g, w) && n < 10 {
			n++
			t.Errorf("%s: GET /v1/orders/%s = %s, want %s as before", when, k, js(g), js(w))
		}
	}
}

func kib(n int64) string { return fmt.Sprintf("%.1f KiB", float64(n)/1024) }
