package queryapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/reconcile"
)

// withRecon serves the reconciliation routes from a running service over
// the test server's fake engine (A: 10 on hand at msk-1).
func withRecon(t *testing.T) func(*Config) {
	return func(c *Config) {
		s, err := reconcile.New(reconcile.Config{Engine: struct {
			StockReader
			FeedSubmitter
			Catalogue
		}{c.Stock, c.Feed, c.Catalogue}, Instance: "t", Registry: prometheus.NewRegistry(),
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = s.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		c.Reconciliations = s
	}
}

// TestReconciliationRoutes: a CSV or NDJSON export starts a run that a
// stock:read token follows to its end; an apply needs ops:admin; an
// instance without reconciliation answers 503.
func TestReconciliationRoutes(t *testing.T) {
	ts := newTestServer(t, withAuth(t), withRecon(t))
	post := func(tok, query, body string) answer {
		t.Helper()
		return ts.doAuth(t, "Bearer "+tok, "POST", "/v1/reconciliations"+query, body)
	}
	if got := post(tokRead, "", "sku,location,on_hand\nA,msk-1,10\n"); got.status != 403 {
		t.Fatalf("stock:read starts a run: %d %s", got.status, got.body)
	}
	if got := post(tokStock, "?format=xml", "x"); got.status != 400 {
		t.Fatalf("format xml: %d %s", got.status, got.body)
	}
	if got := post(tokStock, "", "sku,qty\nA,1\n"); got.status != 400 || !strings.Contains(got.body, "lacks location,on_hand") {
		t.Fatalf("not an export: %d %s", got.status, got.body)
	}
	// A is 10 on hand, the ERP counts 40: reported.
	got := post(tokStock, "?format=jsonl", `{"sku":"A","location":"msk-1","on_hand":40}`+"\n"+`{"sku":"A","location":"msk-1","on_hand":"x"}`)
	if got.status != 202 || !strings.HasPrefix(got.header.Get("Location"), "/v1/reconciliations/rc-") {
		t.Fatalf("POST: %d %s", got.status, got.body)
	}
	loc := got.header.Get("Location")
	var run reconcile.Run
	for deadline := time.Now().Add(10 * time.Second); run.Status != reconcile.Done && time.Now().Before(deadline); {
		if got = ts.doAuth(t, "Bearer "+tokRead, "GET", loc, ""); got.status != 200 {
			t.Fatalf("GET run: %d %s", got.status, got.body)
		}
		run = mustRun(t, got.body)
	}
	if run.ReportedN != 1 || run.Bad != 1 || len(run.Reported) != 1 || run.Reported[0].Drift != 30 || run.BadRows[0].Line != 2 {
		t.Fatalf("run: %s", got.body)
	}
	path := "/v1/reconciliations/" + run.ID
	if got := ts.doAuth(t, "Bearer "+tokStock, "POST", path+"/apply", `{"sku":"A","location":"msk-1"}`); got.status != 403 {
		t.Errorf("stock:write applies: %d", got.status)
	}
	if got := ts.doAuth(t, "Bearer "+tokAdmin, "POST", path+"/apply", `{"sku":"B","location":"msk-1"}`); got.status != 404 {
		t.Errorf("apply an unreported row: %d %s", got.status, got.body)
	}
	if got := ts.doAuth(t, "Bearer "+tokAdmin, "POST", path+"/apply", `{"sku":"A","location":"msk-1"}`); got.status != 200 || !strings.Contains(got.body, `"decision":"applied"`) {
		t.Errorf("apply: %d %s", got.status, got.body)
	}
	if f := ts.engine.lastFeed(); f.Delta != 30 || f.Reason != "reconcile" || f.ID != run.Reported[0].FixID {
		t.Errorf("the applied adjust: %+v", f)
	}
	if got := ts.doAuth(t, "Bearer "+tokAdmin, "POST", path+"/dismiss", `{"sku":"A","location":"msk-1"}`); got.status != 409 {
		t.Errorf("dismiss an applied row: %d %s", got.status, got.body)
	}
	csv := ts.doAuth(t, "Bearer "+tokRead, "GET", path+"/report.csv", "")
	if csv.status != 200 || !strings.HasPrefix(csv.body, "sku,location,class,") || !strings.Contains(csv.body, "A,msk-1,reported,over_threshold,40,10,2,1,30,applied,") {
		t.Errorf("report.csv: %d\n%s", csv.status, csv.body)
	}
	list := ts.doAuth(t, "Bearer "+tokRead, "GET", "/v1/reconciliations?limit=5", "")
	if list.status != 200 || !strings.Contains(list.body, `"applied":1`) || strings.Contains(list.body, "reported_rows") {
		t.Errorf("list: %d %s", list.status, list.body)
	}
	if got := ts.doAuth(t, "Bearer "+tokRead, "GET", "/v1/reconciliations/rc-nope", ""); got.status != 404 {
		t.Errorf("unknown run: %d", got.status)
	}

	off := newTestServer(t)
	if got := off.do(t, "POST", "/v1/reconciliations", "sku,location,on_hand\nA,msk-1,1\n"); got.status != 503 {
		t.Errorf("without reconciliation: %d %s", got.status, got.body)
	}
}

func mustRun(t *testing.T, body string) reconcile.Run {
	t.Helper()
	var r reconcile.Run
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("not a run: %v: %s", err, body)
	}
	return r
}

// ownedElsewhere reads and writes the stock of an instance that owns no SKU
// "Z", the rest through the fake engine.
type ownedElsewhere struct {
	fakeEngine *fakeEngine
	owner      string
}

func (o ownedElsewhere) Stock(ctx context.Context, sku string) (contract.StockView, error) {
	if sku == "Z" {
		return contract.StockView{}, &contract.NotOwnerError{Key: sku, Owner: o.owner}
	}
	return o.fakeEngine.Stock(ctx, sku)
}

func (o ownedElsewhere) SubmitFeed(ctx context.Context, m contract.FeedMessage) (contract.FeedAnswer, error) {
	if m.SKU == "Z" {
		return contract.FeedAnswer{}, &contract.NotOwnerError{Key: m.SKU, Owner: o.owner}
	}
	return o.fakeEngine.SubmitFeed(ctx, m)
}

// TestReconcileAsksTheOwner: a SKU another instance owns is read from it
// and fixed through it, with the caller's token.
func TestReconcileAsksTheOwner(t *testing.T) {
	owner := newTestServer(t, withAuth(t))
	owner.engine.set(func(e *fakeEngine) {
		e.stock["Z"] = contract.StockView{SKU: "Z", Locations: []contract.LocationView{{Location: "msk-1", OnHand: 100}}}
	})
	ts := newTestServer(t, withAuth(t), func(c *Config) {
		o := ownedElsewhere{fakeEngine: c.Stock.(*fakeEngine), owner: owner.URL}
		c.Stock, c.Feed = o, o
	}, withRecon(t))
	got := ts.doAuth(t, "Bearer "+tokAll, "POST", "/v1/reconciliations", "sku,location,on_hand\nZ,msk-1,102\n")
	if got.status != 202 {
		t.Fatalf("POST: %d %s", got.status, got.body)
	}
	loc := got.header.Get("Location")
	var run reconcile.Run
	for deadline := time.Now().Add(10 * time.Second); run.Status == "" || run.Status == reconcile.Running; {
		if time.Now().After(deadline) {
			t.Fatalf("run: %+v", run)
		}
		run = mustRun(t, ts.doAuth(t, "Bearer "+tokAll, "GET", loc, "").body)
	}
	if run.Status != reconcile.Done || run.FixedN != 1 {
		t.Fatalf("run: %+v", run)
	}
	if f := owner.engine.lastFeed(); f.SKU != "Z" || f.Delta != 2 || f.Reason != "reconcile" {
		t.Errorf("the owner got %+v", f)
	}
}
