package queryapi

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/opsui"
)

// fakeConsole answers the console's routes from fixed data and records replays.
type fakeConsole struct {
	since    time.Time
	replayed []string
}

func (f *fakeConsole) Series(since time.Time) opsui.Series {
	f.since = since
	return opsui.Series{StepMS: 1000, T: []int64{5000}, Values: map[string]opsui.Floats{"orders/reserved": {12.5}}}
}
func (f *fakeConsole) Top(n int) opsui.Top {
	return opsui.Top{Demand: []opsui.SKUCount{{SKU: "A", Units: float64(n)}}, Refused: []opsui.SKUCount{}}
}
func (f *fakeConsole) History(id string) []opsui.Event {
	if id != "o-1" {
		return nil
	}
	return []opsui.Event{{At: "2026-01-01T00:00:00Z", Type: "reserve", Status: "reserved"}}
}
func (f *fakeConsole) Cluster(context.Context) (opsui.ClusterView, error) {
	return opsui.ClusterView{}, fmt.Errorf("%w: describe group: broker down", contract.ErrUnavailable)
}
func (f *fakeConsole) DeadLetters(_ context.Context, class string, limit int) (opsui.DeadLetterPage, error) {
	return opsui.DeadLetterPage{Items: []opsui.DeadLetter{{ID: "0-1", Class: class}, {ID: "0-2", Class: class, Replayed: "2026-01-01T00:00:00Z"}}[:min(limit, 2)]}, nil
}
func (f *fakeConsole) DeadLetter(_ context.Context, id string) (opsui.DeadLetter, error) {
	return opsui.DeadLetter{}, fmt.Errorf("%w: no message %s", contract.ErrNotFound, id)
}
func (f *fakeConsole) Replay(_ context.Context, ids []string) []opsui.Replayed {
	f.replayed = append(f.replayed, ids...)
	out := make([]opsui.Replayed, len(ids))
	for i, id := range ids {
		out[i] = opsui.Replayed{ID: id, To: "stocksync.stock.feed", Status: "replayed"}
	}
	return out
}

func TestConsoleRoutes(t *testing.T) {
	c := &fakeConsole{}
	ts := newTestServer(t, func(cfg *Config) { cfg.Console, cfg.Instance = c, "http://node-1:8080" })
	runCases(t, ts, []routeCase{
		{name: "series since a time", method: "GET", path: "/v1/ops/series?since=4000", status: 200,
			want: `{"step_ms":1000,"t":[5000],"values":{"orders/reserved":[12.5]},"sample_us":0}` + "\n"},
		{name: "series with a bad since", method: "GET", path: "/v1/ops/series?since=yesterday", status: 400,
			want: errBody(ErrorBadRequest, `since: must be a whole number ≥ 0, is "yesterday"`)},
		{name: "top, capped at 100", method: "GET", path: "/v1/ops/top?n=5000", status: 200,
			want: `{"demand":[{"sku":"A","units":100}],"refused":[]}` + "\n"},
		{name: "cluster while the brokers are down", method: "GET", path: "/v1/ops/cluster", status: 503,
			want: errBody(ErrorUnavailable, "the engine cannot answer for this key yet; retry shortly")},
		{name: "history", method: "GET", path: "/v1/orders/o-1/history", status: 200,
			want: `{"order_id":"o-1","events":[{"at":"2026-01-01T00:00:00Z","type":"reserve","status":"reserved"}]}` + "\n"},
		{name: "history of an order not seen", method: "GET", path: "/v1/orders/o-9/history", status: 200,
			want: `{"order_id":"o-9","events":[]}` + "\n"},
		{name: "a dead letter not there", method: "GET", path: "/v1/dlq/0-9", status: 404, want: errBody(ErrorNotFound, "not found")},
		{name: "replay nothing", method: "POST", path: "/v1/dlq/replay", body: `{}`, status: 400,
			want: errBody(ErrorBadRequest, "ids: name at least one message, or set all")},
		{name: "replay ids and all", method: "POST", path: "/v1/dlq/replay", body: `{"ids":["0-1"],"all":true}`, status: 400,
			want: errBody(ErrorBadRequest, "ids: give ids or all, not both")},
		{name: "replay one", method: "POST", path: "/v1/dlq/replay", body: `{"ids":["0-1"]}`, status: 200,
			want: `{"replayed":[{"id":"0-1","to":"stocksync.stock.feed","status":"replayed"}]}` + "\n"},
		{name: "replay all of a class skips the replayed", method: "POST", path: "/v1/dlq/replay", body: `{"all":true,"class":"not a reserve"}`, status: 200,
			want: `{"replayed":[{"id":"0-1","to":"stocksync.stock.feed","status":"replayed"}]}` + "\n"},
	})
	if c.since != time.UnixMilli(4000) {
		t.Errorf("series asked since %v, want 4000 ms", c.since)
	}
	if got := ts.do(t, "GET", "/v1/locations", ""); got.header.Get("X-Stocksync-Instance") != "http://node-1:8080" {
		t.Errorf("X-Stocksync-Instance = %q, want the instance's name", got.header.Get("X-Stocksync-Instance"))
	}
}

// TestPendingPages: 10,000 pending values come a page at a time.
func TestPendingPages(t *testing.T) {
	ts := newTestServer(t)
	for i := range 10_000 {
		ts.engine.pending = append(ts.engine.pending, contract.PendingValue{SKU: fmt.Sprintf("SKU-%05d", i), Available: 1, Version: 1})
	}
	got := ts.do(t, "GET", "/v1/channels/ozon/pending?offset=9990&limit=100", "")
	if got.status != 200 || !strings.Contains(got.body, `"total":10000,"offset":9990`) || !strings.Contains(got.body, "SKU-09999") ||
		strings.Contains(got.body, "SKU-09989") {
		t.Errorf("the last page: %d %s", got.status, got.body)
	}
}
