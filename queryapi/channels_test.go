package queryapi

import (
	"strings"
	"testing"
)

func TestChannelRoutes(t *testing.T) {
	ts := newTestServer(t)
	runCases(t, ts, []routeCase{
		{name: "projected and acknowledged", method: "GET", path: "/v1/channels/ozon/stock/A", status: 200,
			want: `{"channel":"ozon","sku":"A","projected":5,"acknowledged":4,"acknowledged_at":"2025-01-01T00:00:00Z","version":9,"acknowledged_version":8}` + "\n"},
		{name: "unknown channel", method: "GET", path: "/v1/channels/nope/stock/A", status: 404,
			want: errBody(ErrorNotFound, `channel "nope" is not configured`)},
		{name: "switch to manual", method: "POST", path: "/v1/channels/ozon/mode", body: `{"mode":"manual"}`, status: 200,
			want: `{"name":"ozon","marketplace":"ozon","mode":"manual","circuit":"closed","pending":3,"last_ack_at":"2025-01-01T00:00:00Z"}` + "\n"},
		{name: "unknown mode", method: "POST", path: "/v1/channels/ozon/mode", body: `{"mode":"off"}`, status: 400,
			want: errBody(ErrorBadRequest, `mode: "off" is not one of manual, auto`)},
		{name: "mode without a body", method: "POST", path: "/v1/channels/ozon/mode", status: 400,
			want: errBody(ErrorBadRequest, "the body must be a JSON object, it is empty")},
		{name: "pending values", method: "GET", path: "/v1/channels/ozon/pending", status: 200,
			want: `{"channel":"ozon","total":1,"offset":0,"items":[{"sku":"A","available":5,"version":9,"since":"2025-01-01T00:00:00Z","attempts":2,"last_error":"503, retrying"}]}` + "\n"},
		{name: "pending values past the last page", method: "GET", path: "/v1/channels/ozon/pending?offset=5&limit=100", status: 200,
			want: `{"channel":"ozon","total":1,"offset":5,"items":[]}` + "\n"},
		{name: "pending with a bad limit", method: "GET", path: "/v1/channels/ozon/pending?limit=-1", status: 400,
			want: errBody(ErrorBadRequest, `limit: must be a whole number ≥ 0, is "-1"`)},
		{name: "the console's routes without a console", method: "GET", path: "/v1/ops/series", status: 404,
			want: errBody(ErrorNotFound, "the ops console's data is off on this instance (queryapi.Config.Console is not set)")},
		{name: "push now", method: "POST", path: "/v1/channels/ozon/push", status: 202, want: `{"status":"push requested"}` + "\n"},
		{name: "replay the DLQ", method: "POST", path: "/v1/channels/ozon/dlq/replay", body: `{}`, status: 200,
			want: `{"status":"parked values sent again"}` + "\n"},
	})
	if ts.engine.pushed != 1 || ts.engine.replayed != 1 {
		t.Errorf("engine saw %d pushes and %d replays, want 1 and 1", ts.engine.pushed, ts.engine.replayed)
	}
}

func TestPendingCSV(t *testing.T) {
	ts := newTestServer(t)
	got := ts.do(t, "GET", "/v1/channels/ozon/pending.csv", "")
	want := "sku,available,version,since,attempts,last_error\nA,5,9,2025-01-01T00:00:00Z,2,\"503, retrying\"\n"
	if got.status != 200 || got.body != want || !strings.HasPrefix(got.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("got %d %q (%s)\nwant 200 %q", got.status, got.body, got.header.Get("Content-Type"), want)
	}
}

// A key another instance owns is answered by that instance, through this one.
func TestForwardsToTheOwner(t *testing.T) {
	owner := newTestServer(t)
	owner.engine.stock["owned-elsewhere"] = owner.engine.stock["A"]
	here := newTestServer(t)
	here.engine.notOwner = owner.URL
	got := here.do(t, "GET", "/v1/channels/ozon/stock/owned-elsewhere", "")
	if got.status != 404 || got.header.Get("X-Stocksync-Owner") != owner.URL {
		t.Fatalf("got %d %s (owner header %q); want the owner's own answer (its fake knows no channel value for this SKU: 404) via %s",
			got.status, got.body, got.header.Get("X-Stocksync-Owner"), owner.URL)
	}
	// An owner that itself says "not mine" does not forward again: 503.
	owner.engine.notOwner = here.URL
	got = here.do(t, "GET", "/v1/channels/ozon/stock/owned-elsewhere", "")
	if got.status != 503 || got.header.Get("Retry-After") != "1" {
		t.Fatalf("a forwarding loop must end in 503 with Retry-After, got %d %s", got.status, got.body)
	}
}

func TestOpsPageIsServed(t *testing.T) {
	ts := newTestServer(t)
	got := ts.do(t, "GET", "/ops/", "")
	if got.status != 200 || !strings.Contains(got.body, "<title>stocksync ops</title>") {
		t.Fatalf("GET /ops/ = %d %.200s", got.status, got.body)
	}
	if js := ts.do(t, "GET", "/ops/ops.js", ""); js.status != 200 || !strings.Contains(js.body, "/v1/channels") {
		t.Fatalf("GET /ops/ops.js = %d", js.status)
	}
}
