package queryapi

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stocksync/stocksync/auth"
	"github.com/stocksync/stocksync/contract"
)

// Tokens of the auth tests, one per scope and one with all.
const (
	tokRead   = "reader-0123456789abcdef"
	tokStock  = "erp-feed-0123456789abcdef"
	tokOrders = "checkout-0123456789abcdef"
	tokAdmin  = "ops-0123456789abcdef"
	tokAll    = "everything-0123456789abcdef"
	tokSlow   = "slow-0123456789abcdef"
	tokTills  = "tills-0123456789abcdef"   // fraud:write
	tokFraud  = "analyst-0123456789abcdef" // fraud:review
)

func testKeyring(t *testing.T) *auth.Keyring {
	t.Helper()
	k, err := auth.NewKeyring([]auth.Token{
		{Token: tokRead, Name: "reader", Scopes: []auth.Scope{auth.StockRead}},
		{Token: tokStock, Name: "erp", Scopes: []auth.Scope{auth.StockWrite}},
		{Token: tokOrders, Name: "checkout", Scopes: []auth.Scope{auth.OrdersWrite}},
		{Token: tokAdmin, Name: "ops", Scopes: []auth.Scope{auth.OpsAdmin}},
		{Token: tokTills, Name: "tills", Scopes: []auth.Scope{auth.FraudWrite}},
		{Token: tokFraud, Name: "analyst", Scopes: []auth.Scope{auth.FraudReview}},
		{Token: tokAll, Name: "all", Scopes: auth.Scopes()},
		{Token: tokSlow, Name: "slow", Scopes: auth.Scopes(), RatePerS: 0.1},
	})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func withAuth(t *testing.T) func(*Config) {
	k := testKeyring(t)
	return func(c *Config) { c.Open, c.Auth = false, k }
}

// doAuth is ts.do with an Authorization header ("" for none).
func (ts *testServer) doAuth(t *testing.T, authz, method, path, body string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func TestScopeFor(t *testing.T) {
	tests := []struct {
		method, pattern string
		want            auth.Scope // "" for none
	}{
		{"GET", "/v1/stock/{sku}", auth.StockRead},
		{"GET", "/v1/orders/{order_id}", auth.StockRead},
		{"GET", "/v1/locations", auth.StockRead},
		{"GET", "/v1/channels", auth.StockRead},
		{"GET", "/v1/channels/{name}/stock/{sku}", auth.StockRead},
		{"PUT", "/v1/stock/{sku}/locations/{location}", auth.StockWrite},
		{"POST", "/v1/stock/{sku}/locations/{location}/adjust", auth.StockWrite},
		{"POST", "/v1/orders/{order_id}/reserve", auth.OrdersWrite},
		{"POST", "/v1/orders/{order_id}/ship", auth.OrdersWrite},
		{"POST", "/v1/channels/{name}/mode", auth.OpsAdmin},
		{"POST", "/v1/channels/{name}/push", auth.OpsAdmin},
		{"POST", "/v1/channels/{name}/dlq/replay", auth.OpsAdmin},
		{"GET", "/v1/channels/{name}/pending.csv", auth.StockRead},
		{"GET", "/v1/reconciliations/{id}", auth.StockRead},
		{"POST", "/v1/reconciliations", auth.StockWrite},
		{"POST", "/v1/reconciliations/{id}/apply", auth.OpsAdmin},
		{"POST", "/v1/reconciliations/{id}/dismiss", auth.OpsAdmin},
		{"GET", "/v1/ops/series", auth.StockRead},
		{"GET", "/v1/ops/cluster", auth.StockRead},
		{"GET", "/v1/orders/{order_id}/history", auth.StockRead},
		{"GET", "/v1/dlq", auth.OpsAdmin},
		{"GET", "/v1/dlq/{id}", auth.OpsAdmin},
		{"POST", "/v1/dlq/replay", auth.OpsAdmin},
		{"POST", "/v1/channels/{name}/other", ""},
		{"DELETE", "/v1/stock/{sku}", ""},
		{"PUT", "/v1/orders/{order_id}/reserve", ""},
		{"GET", "/healthz", ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.pattern, func(t *testing.T) {
			got, ok := scopeFor(tc.method, tc.pattern)
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("scopeFor = %q, %v, want %q", got, ok, tc.want)
			}
		})
	}
}

// TestAuth sends every /v1 route without a token, with bad ones, with a
// token lacking the route's scope and with one holding it.
func TestAuth(t *testing.T) {
	ts := newTestServer(t, withAuth(t))
	routes := []struct {
		method, path, body string
		scope              auth.Scope
		ok                 int
	}{
		{"GET", "/v1/stock/A", "", auth.StockRead, 200},
		{"GET", "/v1/orders/o-1", "", auth.StockRead, 200},
		{"GET", "/v1/locations", "", auth.StockRead, 200},
		{"GET", "/v1/channels", "", auth.StockRead, 200},
		{"PUT", "/v1/stock/A/locations/msk-1", `{"on_hand":1,"source":"erp","version":17}`, auth.StockWrite, 200},
		{"POST", "/v1/stock/A/locations/msk-1/adjust", `{"delta":1,"id":"x"}`, auth.StockWrite, 202},
		{"POST", "/v1/orders/o-1/reserve", `{"lines":[{"sku":"A","qty":1}]}`, auth.OrdersWrite, 200},
		{"POST", "/v1/orders/o-1/confirm", "", auth.OrdersWrite, 200},
		{"POST", "/v1/orders/o-1/release", "", auth.OrdersWrite, 200},
		{"POST", "/v1/orders/o-1/ship", "", auth.OrdersWrite, 200},
	}
	holder := map[auth.Scope]string{auth.StockRead: tokRead, auth.StockWrite: tokStock, auth.OrdersWrite: tokOrders, auth.OpsAdmin: tokAdmin,
		auth.FraudWrite: tokTills, auth.FraudReview: tokFraud}
	const bearer = `Bearer realm="stocksync"`
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			cmds, feeds := len(ts.engine.gotCmd), len(ts.engine.gotFeed)
			for _, c := range []struct {
				name, authz string
				status      int
				challenge   string
			}{
				{"no token", "", 401, bearer},
				{"unknown token", "Bearer nobody-0123456789abcdef", 401, bearer + `, error="invalid_token"`},
				{"token as basic auth", "Basic " + tokAll, 401, bearer},
				{"empty bearer", "Bearer ", 401, bearer},
			} {
				got := ts.doAuth(t, c.authz, rt.method, rt.path, rt.body)
				if got.status != c.status || got.header.Get("WWW-Authenticate") != c.challenge ||
					!strings.HasPrefix(got.body, `{"error":{"type":"unauthorized"`) {
					t.Errorf("%s: %d %q %s", c.name, got.status, got.header.Get("WWW-Authenticate"), got.body)
				}
			}
			for _, s := range auth.Scopes() {
				if s == rt.scope {
					continue
				}
				got := ts.doAuth(t, "Bearer "+holder[s], rt.method, rt.path, rt.body)
				wantChallenge := bearer + `, error="insufficient_scope", scope="` + string(rt.scope) + `"`
				if got.status != 403 || got.header.Get("WWW-Authenticate") != wantChallenge ||
					!strings.HasPrefix(got.body, `{"error":{"type":"forbidden","message":"this token lacks the scope `+string(rt.scope)) {
					t.Errorf("token with %s: %d %q %s", s, got.status, got.header.Get("WWW-Authenticate"), got.body)
				}
			}
			if len(ts.engine.gotCmd) != cmds || len(ts.engine.gotFeed) != feeds {
				t.Fatalf("a refused request reached the engine")
			}
			for _, authz := range []string{"Bearer " + holder[rt.scope], "bearer " + tokAll} {
				if got := ts.doAuth(t, authz, rt.method, rt.path, rt.body); got.status != rt.ok {
					t.Errorf("%s: %d %s, want %d", authz[:10], got.status, got.body, rt.ok)
				}
			}
		})
	}
	t.Run("open routes", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json"} {
			if got := ts.doAuth(t, "", "GET", p, ""); got.status != 200 {
				t.Errorf("GET %s without a token: %d %s", p, got.status, got.body)
			}
		}
	})
	t.Run("logs name the token, never show it", func(t *testing.T) {
		logs := ts.logs.String()
		if !strings.Contains(logs, `"token":"reader"`) {
			t.Errorf("logs lack the refused token's name: %s", logs)
		}
		for _, tok := range []string{tokRead, tokStock, tokOrders, tokAdmin, tokAll, "0123456789abcdef"} {
			if strings.Contains(logs, tok) {
				t.Fatalf("logs show a token: %s", logs)
			}
		}
	})
}

// TestRefusalsWithAuth holds that, with auth on, each refusal of bad input
// is answered as without it, and that auth comes first.
func TestRefusalsWithAuth(t *testing.T) {
	ts := newTestServer(t, withAuth(t))
	reserve := "/v1/orders/o-1/reserve"
	tooMany := `{"lines":[` + strings.Repeat(`{"sku":"A","qty":1},`, contract.MaxLines) + `{"sku":"B","qty":1}]}`
	tests := []struct {
		name, authz, method, path, body string
		status                          int
		want                            string
	}{
		{"oversized body", tokAll, "POST", reserve, strings.Repeat(" ", 64<<10+1), 413,
			errBody(ErrorTooLarge, "the body is over the limit of 65536 bytes")},
		{"oversized body without a token", "", "POST", reserve, strings.Repeat(" ", 64<<10+1), 401,
			errBody(ErrorUnauthorized, "a bearer token is required: send Authorization: Bearer <token>")},
		{"unknown field", tokAll, "POST", reserve, `{"lines":[{"sku":"A","qty":1}],"priority":1}`, 400,
			errBody(ErrorBadRequest, `bad JSON: unknown field "priority"`)},
		{"unknown field in a snapshot", tokAll, "PUT", "/v1/stock/A/locations/msk-1", `{"on_hand":1,"source":"erp","version":17,"sku":"B"}`, 400,
			errBody(ErrorBadRequest, `bad JSON: unknown field "sku"`)},
		{"sku with a control character", tokAll, "POST", reserve, `{"lines":[{"sku":"A\u0007","qty":1}]}`, 400,
			errBody(ErrorBadRequest, "lines[0].sku: contains a control character")},
		{"sku over 128 bytes", tokAll, "POST", reserve, `{"lines":[{"sku":"` + long + `","qty":1}]}`, 400,
			errBody(ErrorBadRequest, "lines[0].sku: is 129 bytes, the limit is 128")},
		{"sku in the path over 128 bytes", tokAll, "GET", "/v1/stock/" + long, "", 400,
			errBody(ErrorBadRequest, "sku: is 129 bytes, the limit is 128")},
		{"order id with a control character", tokAll, "POST", "/v1/orders/o%0A1/reserve", `{"lines":[{"sku":"A","qty":1}]}`, 400,
			errBody(ErrorBadRequest, "order_id: contains a control character")},
		{"quantity over the bound", tokAll, "POST", reserve, `{"lines":[{"sku":"A","qty":1000001}]}`, 400,
			errBody(ErrorBadRequest, "lines[0].qty: 1000001 is outside 1..1000000")},
		{"order over 100 lines", tokAll, "POST", reserve, tooMany, 400,
			errBody(ErrorBadRequest, "lines: 101 lines, the limit is 100")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(ts.engine.gotCmd)
			authz := ""
			if tc.authz != "" {
				authz = "Bearer " + tc.authz
			}
			got := ts.doAuth(t, authz, tc.method, tc.path, tc.body)
			if got.status != tc.status || got.body != tc.want {
				t.Errorf("got %d %s\nwant %d %s", got.status, got.body, tc.status, tc.want)
			}
			if len(ts.engine.gotCmd) != before {
				t.Errorf("a refused request reached the engine")
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	ts := newTestServer(t, withAuth(t), func(c *Config) { c.RatePerS = 0.5 })
	reserve := func(tok, id string) answer {
		return ts.doAuth(t, "Bearer "+tok, "POST", "/v1/orders/"+id+"/reserve", `{"lines":[{"sku":"A","qty":1}]}`)
	}
	t.Run("a token's own rate", func(t *testing.T) {
		if got := reserve(tokSlow, "o-s1"); got.status != 200 {
			t.Fatalf("first request: %d %s", got.status, got.body)
		}
		got := reserve(tokSlow, "o-s2")
		want := errBody(ErrorRateLimited, "this token is over its rate of 0.1 requests per second; retry after 10 s")
		if got.status != 429 || got.header.Get("Retry-After") != "10" || got.body != want {
			t.Fatalf("second request: %d Retry-After %q %s", got.status, got.header.Get("Retry-After"), got.body)
		}
	})
	t.Run("the default rate, token by token", func(t *testing.T) {
		var ok, limited int
		for i := range 10 {
			got := reserve(tokOrders, "o-d"+string(rune('0'+i)))
			switch got.status {
			case 200:
				ok++
			case 429:
				limited++
				if ra := got.header.Get("Retry-After"); ra != "1" && ra != "2" {
					t.Errorf("Retry-After = %q, want 1 or 2", ra)
				}
			default:
				t.Fatalf("%d %s", got.status, got.body)
			}
		}
		// A burst of 1, plus one more if the requests took over 2s.
		if ok < 1 || ok > 2 || limited != 10-ok {
			t.Errorf("%d answered, %d limited; want 1 or 2 answered", ok, limited)
		}
		if got := reserve(tokAll, "o-other"); got.status != 200 {
			t.Errorf("another token is limited too: %d %s", got.status, got.body)
		}
	})
	t.Run("what was accepted stays", func(t *testing.T) {
		ts.engine.mu.Lock()
		defer ts.engine.mu.Unlock()
		ids := map[string]bool{}
		for _, c := range ts.engine.gotCmd {
			ids[c.OrderID] = true
		}
		if !ids["o-s1"] || ids["o-s2"] {
			t.Errorf("engine got %v: want o-s1 and not o-s2", ids)
		}
	})
}

func TestBucket(t *testing.T) {
	start := time.Unix(1000, 0)
	b := newBucket(2, start)
	for i := range 2 {
		if _, ok := b.take(start); !ok {
			t.Fatalf("take %d of the burst refused", i)
		}
	}
	if wait, ok := b.take(start); ok || wait != 500*time.Millisecond {
		t.Fatalf("take over the burst = %s, %v; want 500ms, false", wait, ok)
	}
	if _, ok := b.take(start.Add(500 * time.Millisecond)); !ok {
		t.Fatal("take after a refill refused")
	}
	if _, ok := b.take(start.Add(time.Hour)); !ok || b.tokens != 1 {
		t.Fatalf("after an hour the bucket holds %g, want its burst less one", b.tokens)
	}
	if slow := newBucket(0.25, start); slow.burst != 1 {
		t.Errorf("burst of a rate under 1 = %g, want 1", slow.burst)
	}
}

// TestMaxInFlight holds requests in the engine until the cap is reached,
// open as `stocksync dev` runs: the cap holds without tokens too.
func TestMaxInFlight(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxInFlight = 2 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // a failed assertion must still release the held requests, or Close waits for them forever
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/v1/stock/block", nil)
			if resp, err := ts.Client().Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	for range 2 { // both held requests are in the engine: the API serves its cap
		select {
		case <-ts.engine.blocked:
		case <-time.After(30 * time.Second):
			t.Fatal("the two held requests did not reach the engine within 30s")
		}
	}
	got := ts.do(t, "GET", "/v1/stock/A", "")
	want := errBody(ErrorRateLimited, "the API is serving its maximum of 2 requests at once; retry after 1 s")
	if got.status != 429 || got.header.Get("Retry-After") != "1" || got.body != want {
		t.Fatalf("over the cap: %d Retry-After %q %s", got.status, got.header.Get("Retry-After"), got.body)
	}
	if got := ts.do(t, "GET", "/healthz", ""); got.status != 200 {
		t.Errorf("healthz over the cap: %d", got.status)
	}
	cancel()
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for got = ts.do(t, "GET", "/v1/stock/A", ""); got.status != 200 && time.Now().Before(deadline); got = ts.do(t, "GET", "/v1/stock/A", "") {
		time.Sleep(time.Millisecond)
	}
	if got.status != 200 {
		t.Fatalf("after the held requests ended: %d %s", got.status, got.body)
	}
}
