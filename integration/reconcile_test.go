package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stocksync/stocksync/reconcile"
)

// testReconcile: a generated catalogue of 40 SKUs, an ERP export with small
// and large drifts of known sizes, and orders flowing (reserve, confirm,
// release) on ten other SKUs during the runs. Every small drift is fixed
// exactly once, even when the export is reconciled again; every large one
// is reported and stays until an operator applies (once) or dismisses it;
// nothing else is touched; after that a run finds zero drift. Every figure
// is read as a user reads it, over HTTP; the runs survive a restart.
func testReconcile(t *testing.T, e *env) {
	in := e.start(t.TempDir())
	const skus, wh = 40, "msk-wh-1"
	var rows []string
	for i := range skus {
		rows = append(rows, fmt.Sprintf(`{"sku":"R-%03d","location":"%s","on_hand":100,"source":"erp","version":100}`, i, wh))
	}
	res, err := httpClient.Post(in.url+"/v1/imports", "application/x-ndjson", strings.NewReader(strings.Join(rows, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("import the catalogue: %s", res.Status)
	}
	eventually(t, 30*time.Second, "the catalogue applied", func() (bool, string) {
		for i := range skus {
			code, data := in.do(http.MethodGet, fmt.Sprintf("/v1/stock/R-%03d", i), nil)
			if code != http.StatusOK {
				return false, fmt.Sprintf("R-%03d: %d %s", i, code, data)
			}
		}
		return true, ""
	})

	// Orders flow on R-000..R-009 until the test ends: reserved, confirmed
	// (committed: still on the shelf) and some released.
	flow, stopFlow := context.WithCancel(context.Background())
	var orders atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; flow.Err() == nil; n++ {
			id := fmt.Sprintf("rc-order-%d", n)
			body := reserveBody{Lines: lines(fmt.Sprintf("R-%03d", n%10), 1), Channel: "web"}
			if code, _, err := call(flow, http.MethodPost, in.url+"/v1/orders/"+id+"/reserve", body); err != nil || code != http.StatusOK {
				continue
			}
			next := "confirm"
			if n%3 == 0 {
				next = "release"
			}
			if code, _, err := call(flow, http.MethodPost, in.url+"/v1/orders/"+id+"/"+next, nil); err == nil && code == http.StatusOK {
				orders.Add(1)
			}
		}
	}()
	t.Cleanup(func() { stopFlow(); wg.Wait() })
	eventually(t, 30*time.Second, "orders flowing", func() (bool, string) { return orders.Load() >= 5, fmt.Sprint(orders.Load()) })

	// The ERP's counts: equal to the engine's but for five drifts.
	erp := map[string]int64{}
	for i := range skus {
		erp[fmt.Sprintf("R-%03d", i)] = 100
	}
	small := map[string]int64{"R-010": -2, "R-011": 3, "R-012": -5} // within max_abs 5 and max_rel 0.1: fixed
	large := map[string]int64{"R-020": -20, "R-021": 40}            // over: reported
	for sku, d := range small {
		erp[sku] += d
	}
	for sku, d := range large {
		erp[sku] += d
	}
	dir := t.TempDir()
	writeExport := func(name string) string {
		var b strings.Builder
		b.WriteString("sku,location,on_hand,name\n")
		for i := range skus {
			sku := fmt.Sprintf("R-%03d", i)
			fmt.Fprintf(&b, "%s,%s,%d,Item %d\n", sku, wh, erp[sku], i)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	export := writeExport("erp.csv")
	remote := &reconcile.Remote{BaseURL: in.url, Poll: 50 * time.Millisecond}
	reconcileFile := func(path string) reconcile.Run {
		t.Helper()
		before := orders.Load()
		run, err := remote.Reconcile(context.Background(), reconcile.File{Path: path})
		if err != nil {
			t.Fatalf("reconcile %s: %v", path, err)
		}
		t.Logf("run %s: %d rows, %d in sync, %d fixed, %d reported, drift rate %.3f; %d orders went through meanwhile",
			run.ID, run.Rows, run.InSync, run.FixedN, run.ReportedN, run.DriftRate, orders.Load()-before)
		return run
	}
	onHand := func(sku string) int64 { return locOf(in.stock(sku), wh).OnHand }

	first := reconcileFile(export)
	if first.Status != reconcile.Done || first.Rows != skus || first.InSync != skus-5 || first.Drifted != 5 ||
		first.FixedN != 3 || first.ReportedN != 2 || first.DriftedUnits != 70 || first.DriftRate != 5.0/skus {
		t.Fatalf("first run: %s", js(first.Counts))
	}
	for sku, d := range small {
		if got := onHand(sku); got != 100+d {
			t.Errorf("%s: on_hand %d after the fix, want %d", sku, got, 100+d)
		}
	}
	for sku := range large {
		if got := onHand(sku); got != 100 {
			t.Errorf("%s: on_hand %d, want 100: a large drift is never applied silently", sku, got)
		}
	}
	var reportedSKUs []string
	for _, r := range first.Reported {
		reportedSKUs = append(reportedSKUs, r.SKU+":"+r.Reason)
		if r.Decision != reconcile.Open || r.Drift != large[r.SKU] {
			t.Errorf("reported row %s", js(r))
		}
	}
	if strings.Join(reportedSKUs, ",") != "R-020:over_threshold,R-021:over_threshold" {
		t.Errorf("reported %v", reportedSKUs)
	}

	// The same export again, while orders flow: nothing is fixed twice.
	second := reconcileFile(export)
	if second.FixedN != 0 || second.ReportedN != 2 || second.InSync != skus-2 {
		t.Fatalf("second run: %s", js(second.Counts))
	}
	for sku, d := range small {
		if got := onHand(sku); got != 100+d {
			t.Errorf("%s: on_hand %d after a second run, want %d (fixed once)", sku, got, 100+d)
		}
	}

	// An operator applies R-020 (twice: once) and dismisses R-021.
	decide := func(action, sku string) (int, reconcile.Row) {
		t.Helper()
		code, data := in.do(http.MethodPost, "/v1/reconciliations/"+first.ID+"/"+action, map[string]string{"sku": sku, "location": wh})
		if code != http.StatusOK {
			return code, reconcile.Row{}
		}
		return code, decode[reconcile.Row](t, action, data)
	}
	for range 2 {
		if code, row := decide("apply", "R-020"); code != http.StatusOK || row.Decision != reconcile.Applied {
			t.Fatalf("apply R-020: %d %s", code, js(row))
		}
	}
	if got := onHand("R-020"); got != 80 {
		t.Errorf("R-020: on_hand %d after the operator applied it (twice), want 80", got)
	}
	if code, row := decide("dismiss", "R-021"); code != http.StatusOK || row.Decision != reconcile.Dismissed {
		t.Fatalf("dismiss R-021: %d %s", code, js(row))
	}
	if code, _ := decide("dismiss", "R-020"); code != http.StatusConflict {
		t.Errorf("dismiss an applied row: %d, want 409", code)
	}
	if got := onHand("R-021"); got != 100 {
		t.Errorf("R-021: on_hand %d after a dismissal, want 100", got)
	}

	// The ERP corrects R-021 on its side; the next run finds no drift.
	erp["R-021"] = 100
	third := reconcileFile(writeExport("erp-2.csv"))
	if third.Drifted != 0 || third.DriftRate != 0 || third.InSync != skus {
		t.Fatalf("third run: %s", js(third.Counts))
	}
	for i := range skus {
		sku := fmt.Sprintf("R-%03d", i)
		if _, changed := small[sku]; changed || sku == "R-020" {
			continue
		}
		if got := onHand(sku); got != 100 {
			t.Errorf("%s: on_hand %d, want 100: untouched", sku, got)
		}
	}

	// What the ops console reads: the runs, newest first, with their figures.
	code, data := in.do(http.MethodGet, "/v1/reconciliations", nil)
	list := decode[struct{ Runs []reconcile.Run }](t, "GET /v1/reconciliations", data)
	if code != http.StatusOK || len(list.Runs) != 3 || list.Runs[0].ID != third.ID || list.Runs[2].ID != first.ID ||
		list.Runs[2].Applied != 1 || list.Runs[2].Dismissed != 1 || list.Runs[2].Open != 0 || list.Runs[2].Reported != nil {
		t.Fatalf("GET /v1/reconciliations: %d %s", code, data)
	}
	code, data = in.do(http.MethodGet, "/v1/reconciliations/"+first.ID+"/report.csv", nil)
	if csv := string(data); code != http.StatusOK || !strings.Contains(csv, "R-020,msk-wh-1,reported,over_threshold,80,100,") ||
		strings.Count(csv, "\n") != 6 {
		t.Errorf("report.csv: %d\n%s", code, csv)
	}
	code, data = in.do(http.MethodGet, "/metrics", nil)
	if m := string(data); code != http.StatusOK || !strings.Contains(m, "stocksync_reconcile_drift_rate 0\n") || !strings.Contains(m, "stocksync_reconcile_rows 40\n") {
		var ours []string
		for _, l := range strings.Split(m, "\n") {
			if strings.HasPrefix(l, "stocksync_reconcile_") {
				ours = append(ours, l)
			}
		}
		t.Errorf("metrics after the third run: %d\n%s", code, strings.Join(ours, "\n"))
	}

	// Without the API (stocksync reconcile --config): the inventory table
	// read from its changelog at one cut; the run is kept where the
	// instance shows it, and the engine applies the fix.
	erp["R-030"] = 97
	direct, err := reconcile.Direct(context.Background(), e.settings(t.TempDir()), reconcile.File{Path: writeExport("erp-3.csv")}, nil)
	if err != nil || direct.FixedN != 1 || direct.InSync != skus-1 || direct.Fixed[0].SKU != "R-030" {
		t.Fatalf("reconcile --config: %v %s", err, js(direct.Counts))
	}
	eventually(t, 20*time.Second, "the --config run's fix applied", func() (bool, string) {
		got := onHand("R-030")
		return got == 97, fmt.Sprint(got)
	})
	eventually(t, 20*time.Second, "the --config run shown by the instance", func() (bool, string) {
		code, data := in.do(http.MethodGet, "/v1/reconciliations/"+direct.ID, nil)
		return code == http.StatusOK && decode[reconcile.Run](t, "run", data).FixedN == 1, fmt.Sprintf("%d %s", code, data)
	})

	// Restarted, the instance reads the runs back with their decisions.
	stopFlow()
	wg.Wait()
	in = in.Restart()
	code, data = in.do(http.MethodGet, "/v1/reconciliations/"+first.ID, nil)
	back := decode[reconcile.Run](t, "GET /v1/reconciliations/"+first.ID, data)
	if code != http.StatusOK || back.Applied != 1 || back.Dismissed != 1 || back.FixedN != 3 || len(back.Fixed) != 3 {
		t.Fatalf("after a restart: %d %s", code, data)
	}
}
