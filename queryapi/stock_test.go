package queryapi

import (
	"strings"
	"testing"

	"github.com/stocksync/stocksync/contract"
)

// routeCase is one request and the exact answer a client must see.
type routeCase struct {
	name, method, path, body string
	status                   int
	want                     string
}

func runCases(t *testing.T, ts *testServer, cases []routeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ts.do(t, tc.method, tc.path, tc.body)
			if got.status != tc.status || got.body != tc.want {
				t.Errorf("%s %s\n got %d %s\nwant %d %s", tc.method, tc.path, got.status, got.body, tc.status, tc.want)
			}
			if ct := got.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
		})
	}
}

var long = strings.Repeat("x", contract.MaxKeyLen+1)

func TestGetStock(t *testing.T) {
	ts := newTestServer(t)
	runCases(t, ts, []routeCase{
		{name: "known sku", method: "GET", path: "/v1/stock/A", status: 200,
			want: `{"sku":"A","on_hand":10,"reserved":2,"committed":1,"available":7,` +
				`"locations":[{"location":"msk-1","on_hand":10,"reserved":2,"committed":1,"available":7}],` +
				`"channels":{"ozon":5,"web":7}}` + "\n"},
		{name: "slash in sku as %2F", method: "GET", path: "/v1/stock/A%2FB", status: 200,
			want: `{"sku":"A/B","on_hand":0,"reserved":0,"committed":0,"available":0,"locations":[],"channels":{}}` + "\n"},
		{name: "percent in sku as %25", method: "GET", path: "/v1/stock/100%25", status: 200,
			want: `{"sku":"100%","on_hand":0,"reserved":0,"committed":0,"available":0,"locations":[],"channels":{}}` + "\n"},
		{name: "unknown sku", method: "GET", path: "/v1/stock/nope", status: 404,
			want: errBody(ErrorNotFound, "no stock recorded for this sku")},
		{name: "oversized sku", method: "GET", path: "/v1/stock/" + long, status: 400,
			want: errBody(ErrorBadRequest, "sku: is 129 bytes, the limit is 128")},
		{name: "control character in sku", method: "GET", path: "/v1/stock/A%00", status: 400,
			want: errBody(ErrorBadRequest, "sku: contains a control character")},
		{name: "invalid UTF-8 in sku", method: "GET", path: "/v1/stock/%FF", status: 400,
			want: errBody(ErrorBadRequest, "sku: is not valid UTF-8")},
		{name: "empty sku", method: "GET", path: "/v1/stock/", status: 404,
			want: errBody(ErrorNotFound, "no route for /v1/stock/")},
	})
}

func TestPutSnapshot(t *testing.T) {
	ts := newTestServer(t)
	path := "/v1/stock/A%2FB/locations/msk-1"
	runCases(t, ts, []routeCase{
		{name: "applied", method: "PUT", path: path, body: `{"on_hand":120,"source":"erp","version":17}`,
			status: 200, want: `{"status":"applied"}` + "\n"},
		{name: "applied but older version ignored", method: "PUT", path: path, body: `{"on_hand":0,"source":"erp","version":7}`,
			status: 200, want: `{"status":"applied","ignored":true}` + "\n"},
		{name: "names the sku", method: "PUT", path: path, body: `{"sku":"A","on_hand":1,"source":"erp","version":17}`,
			status: 400, want: errBody(ErrorBadRequest, `bad JSON: unknown field "sku"`)},
		{name: "names the location", method: "PUT", path: path, body: `{"location":"x","on_hand":1,"source":"erp","version":17}`,
			status: 400, want: errBody(ErrorBadRequest, `bad JSON: unknown field "location"`)},
		{name: "names the type", method: "PUT", path: path, body: `{"type":"adjust","on_hand":1,"source":"erp","version":17}`,
			status: 400, want: errBody(ErrorBadRequest, `bad JSON: unknown field "type"`)},
		{name: "adjust fields", method: "PUT", path: path, body: `{"delta":1,"on_hand":1,"source":"erp","version":17}`,
			status: 400, want: errBody(ErrorBadRequest, `bad JSON: unknown field "delta"`)},
		{name: "no on_hand", method: "PUT", path: path, body: `{"source":"erp","version":17}`,
			status: 400, want: errBody(ErrorBadRequest, "on_hand: a snapshot needs on_hand")},
		{name: "negative on_hand", method: "PUT", path: path, body: `{"on_hand":-1,"source":"erp","version":17}`,
			status: 400, want: errBody(ErrorBadRequest, "on_hand: -1 is outside 0..1099511627776")},
		{name: "on_hand as a string", method: "PUT", path: path, body: `{"on_hand":"1","source":"erp","version":17}`,
			status: 400, want: errBody(ErrorBadRequest, "bad JSON: cannot unmarshal string into Go struct field snapshotBody.on_hand of type int64")},
		{name: "fractional on_hand", method: "PUT", path: path, body: `{"on_hand":1.5,"source":"erp","version":17}`,
			status: 400, want: errBody(ErrorBadRequest, "bad JSON: cannot unmarshal number 1.5 into Go struct field snapshotBody.on_hand of type int64")},
		{name: "no source", method: "PUT", path: path, body: `{"on_hand":1,"version":17}`,
			status: 400, want: errBody(ErrorBadRequest, "source: must not be empty")},
		{name: "zero version", method: "PUT", path: path, body: `{"on_hand":1,"source":"erp","version":0}`,
			status: 400, want: errBody(ErrorBadRequest, "version: must be positive (a newer snapshot has a larger version)")},
		{name: "trailing data", method: "PUT", path: path, body: `{"on_hand":1,"source":"erp","version":17} {}`,
			status: 400, want: errBody(ErrorBadRequest, "bad JSON: data after the object")},
		{name: "broken JSON", method: "PUT", path: path, body: `{"on_hand":1,`,
			status: 400, want: errBody(ErrorBadRequest, "bad JSON: unexpected EOF")},
		{name: "empty body", method: "PUT", path: path, body: "",
			status: 400, want: errBody(ErrorBadRequest, "the body must be a JSON object, it is empty")},
		{name: "null body", method: "PUT", path: path, body: "null",
			status: 400, want: errBody(ErrorBadRequest, "the body must be a JSON object, not null")},
		{name: "array body", method: "PUT", path: path, body: "[]",
			status: 400, want: errBody(ErrorBadRequest, "bad JSON: cannot unmarshal array into Go value of type queryapi.snapshotBody")},
		{name: "oversized location", method: "PUT", path: "/v1/stock/A/locations/" + long, body: `{"on_hand":1,"source":"erp","version":17}`,
			status: 400, want: errBody(ErrorBadRequest, "location: is 129 bytes, the limit is 128")},
		{name: "body over 64 KiB", method: "PUT", path: path, body: `{"on_hand":1,"source":"erp","version":17}` + strings.Repeat(" ", 64<<10),
			status: 413, want: errBody(ErrorTooLarge, "the body is over the limit of 65536 bytes")},
	})
	t.Run("engine gets the path's sku and location", func(t *testing.T) {
		got := ts.do(t, "PUT", path, `{"on_hand":120,"source":"erp","version":17}`)
		if got.status != 200 {
			t.Fatalf("status %d %s", got.status, got.body)
		}
		msg := ts.engine.lastFeed()
		if msg.Type != contract.Snapshot || msg.SKU != "A/B" || msg.Location != "msk-1" || *msg.OnHand != 120 || msg.Source != "erp" || msg.Version != 17 {
			t.Errorf("engine got %+v", msg)
		}
	})
	t.Run("body of exactly 64 KiB", func(t *testing.T) {
		body := `{"on_hand":1,"source":"erp","version":17}`
		body += strings.Repeat(" ", 64<<10-len(body))
		if got := ts.do(t, "PUT", path, body); got.status != 200 {
			t.Errorf("status %d %s, want 200", got.status, got.body)
		}
	})
}

func TestPostAdjust(t *testing.T) {
	ts := newTestServer(t)
	path := "/v1/stock/A/locations/msk-1/adjust"
	runCases(t, ts, []routeCase{
		{name: "accepted", method: "POST", path: path, body: `{"delta":-3,"reason":"writeoff","id":"wms-123"}`,
			status: 202, want: `{"status":"accepted"}` + "\n"},
		{name: "without reason", method: "POST", path: path, body: `{"delta":4,"id":"wms-124"}`,
			status: 202, want: `{"status":"accepted"}` + "\n"},
		{name: "zero delta", method: "POST", path: path, body: `{"delta":0,"id":"wms-125"}`,
			status: 400, want: errBody(ErrorBadRequest, "delta: must be non-zero and within ±1099511627776")},
		{name: "no id", method: "POST", path: path, body: `{"delta":1}`,
			status: 400, want: errBody(ErrorBadRequest, "id: must not be empty")},
		{name: "snapshot fields", method: "POST", path: path, body: `{"delta":1,"id":"x","on_hand":3}`,
			status: 400, want: errBody(ErrorBadRequest, `bad JSON: unknown field "on_hand"`)},
		{name: "names the sku", method: "POST", path: path, body: `{"delta":1,"id":"x","sku":"A"}`,
			status: 400, want: errBody(ErrorBadRequest, `bad JSON: unknown field "sku"`)},
		{name: "delta as a string", method: "POST", path: path, body: `{"delta":"1","id":"x"}`,
			status: 400, want: errBody(ErrorBadRequest, "bad JSON: cannot unmarshal string into Go struct field adjustBody.delta of type int64")},
		{name: "GET is not allowed", method: "GET", path: path,
			status: 405, want: errBody(ErrorMethodNotAllowed, "GET is not allowed here; allowed: POST")},
	})
	t.Run("engine gets an adjust", func(t *testing.T) {
		ts.do(t, "POST", path, `{"delta":-3,"reason":"writeoff","id":"wms-123"}`)
		msg := ts.engine.lastFeed()
		want := contract.FeedMessage{Type: contract.Adjust, SKU: "A", Location: "msk-1", Delta: -3, Reason: "writeoff", ID: "wms-123"}
		if msg != want {
			t.Errorf("engine got %+v, want %+v", msg, want)
		}
	})
}
