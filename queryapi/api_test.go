package queryapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stocksync/stocksync/contract"
)

func TestConfigValidate(t *testing.T) {
	reg := prometheus.NewRegistry()
	valid := Config{Registry: reg, Gatherer: reg, Logger: slog.New(slog.DiscardHandler), Open: true}
	serveFake(&valid, newFakeEngine())
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string // every one must be in the error; none means valid
	}{
		{name: "valid with defaults", modify: func(*Config) {}},
		{name: "valid with auth middleware instead of open", modify: func(c *Config) {
			c.Open, c.Middleware = false, []func(http.Handler) http.Handler{func(h http.Handler) http.Handler { return h }}
		}},
		{name: "everything wrong at once", modify: func(c *Config) { *c = Config{MaxBodyBytes: -1, WriteTimeout: -time.Second} },
			want: []string{"Config.Stock is required: it serves GET /v1/stock/{sku}", "Config.Feed is required",
				"Config.Orders is required", "Config.OrderCommands is required", "Config.Catalogue is required",
				"Config.Readiness is required", "Config.Channels is required", "Registry is required", "Gatherer is required",
				"MaxBodyBytes -1 is outside 1..65536", "WriteTimeout -1s is negative", "no authentication: set Auth"}},
		{name: "body limit over the contract's", modify: func(c *Config) { c.MaxBodyBytes = contract.MaxMessageBytes + 1 },
			want: []string{"MaxBodyBytes 65537 is outside 1..65536"}},
		{name: "nil middleware", modify: func(c *Config) { c.Middleware = []func(http.Handler) http.Handler{nil} },
			want: []string{"Middleware[0] is nil"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.modify(&cfg)
			err := cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: nil, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate: %q lacks %q", err, w)
				}
			}
			if _, err := New(cfg); err == nil {
				t.Errorf("New accepted an invalid config")
			}
		})
	}
	t.Run("metrics registered twice", func(t *testing.T) {
		if _, err := New(valid); err != nil {
			t.Fatalf("first New: %v", err)
		}
		if _, err := New(valid); err == nil {
			t.Fatal("second New on the same registry: nil error")
		}
	})
}

func TestRouting(t *testing.T) {
	ts := newTestServer(t)
	runCases(t, ts, []routeCase{
		{name: "unknown route", method: "GET", path: "/v2/stock/A", status: 404,
			want: errBody(ErrorNotFound, "no route for /v2/stock/A")},
		{name: "trailing slash", method: "GET", path: "/v1/stock/A/", status: 404,
			want: errBody(ErrorNotFound, "no route for /v1/stock/A/")},
		{name: "unknown channel route", method: "POST", path: "/v1/channels/ozon/other", body: `{}`, status: 404,
			want: errBody(ErrorNotFound, "no route for /v1/channels/ozon/other")},
		{name: "wrong method", method: "DELETE", path: "/v1/stock/A", status: 405,
			want: errBody(ErrorMethodNotAllowed, "DELETE is not allowed here; allowed: GET")},
		{name: "GET on a write", method: "GET", path: "/v1/orders/o-1/reserve", status: 405,
			want: errBody(ErrorMethodNotAllowed, "GET is not allowed here; allowed: POST")},
		{name: "method chi does not know", method: "FROB", path: "/healthz", status: 405,
			want: errBody(ErrorMethodNotAllowed, "FROB is not allowed here; allowed: GET")},
		{name: "method chi does not know, unknown route", method: "FROB", path: "/nope", status: 404,
			want: errBody(ErrorNotFound, "no route for /nope")},
	})
	if got := ts.do(t, "PATCH", "/v1/stock/A/locations/msk-1", ""); got.header.Get("Allow") != "PUT" {
		t.Errorf("Allow = %q, want PUT", got.header.Get("Allow"))
	}
}

func TestEngineErrors(t *testing.T) {
	requests := []struct{ method, path, body string }{
		{"GET", "/v1/stock/A", ""},
		{"GET", "/v1/orders/o-1", ""},
		{"PUT", "/v1/stock/A/locations/msk-1", `{"on_hand":1,"source":"erp","version":17}`},
		{"POST", "/v1/stock/A/locations/msk-1/adjust", `{"delta":1,"id":"x"}`},
		{"POST", "/v1/orders/o-1/reserve", `{"lines":[{"sku":"A","qty":1}]}`},
		{"POST", "/v1/orders/o-1/confirm", ""},
	}
	tests := []struct {
		name       string
		err        error
		status     int
		want       string
		retryAfter string
	}{
		{name: "unavailable", err: fmt.Errorf("partition 3 moving: %w", contract.ErrUnavailable), status: 503, retryAfter: "1",
			want: errBody(ErrorUnavailable, "the engine cannot answer for this key yet; retry shortly")},
		{name: "timeout", err: fmt.Errorf("await result: %w", contract.ErrTimeout), status: 504,
			want: errBody(ErrorTimeout, "the engine did not answer in time; the command may still take effect: repeat it with the same id to learn its outcome")},
		{name: "invalid", err: fmt.Errorf("decide: %w", &contract.InvalidError{Field: "channel", Reason: `"tiktok" is not configured`}), status: 400,
			want: errBody(ErrorBadRequest, `channel: "tiktok" is not configured`)},
		{name: "internal", err: errors.New("pebble: corrupted block at /var/lib/stocksync/000123.sst"), status: 500},
	}
	for _, tc := range tests {
		for _, rq := range requests {
			t.Run(tc.name+" "+rq.method+" "+rq.path, func(t *testing.T) {
				ts := newTestServer(t)
				ts.engine.set(func(e *fakeEngine) { e.err = tc.err })
				got := ts.do(t, rq.method, rq.path, rq.body)
				want := tc.want
				if tc.status == 500 {
					want = errBody(ErrorInternal, "internal error; request id "+got.header.Get("X-Request-Id"))
				}
				if got.status != tc.status || got.body != want {
					t.Errorf("got %d %s\nwant %d %s", got.status, got.body, tc.status, want)
				}
				if ra := got.header.Get("Retry-After"); ra != tc.retryAfter {
					t.Errorf("Retry-After = %q, want %q", ra, tc.retryAfter)
				}
				if tc.status == 500 && !strings.Contains(ts.logs.String(), `"request_id":"`+got.header.Get("X-Request-Id")+`"`) {
					t.Errorf("log lacks the request id: %s", ts.logs)
				}
			})
		}
	}
}

func TestWriteTimeoutAndPanic(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.WriteTimeout = 20 * time.Millisecond })
	runCases(t, ts, []routeCase{
		{name: "engine does not answer a reserve", method: "POST", path: "/v1/orders/block/reserve", body: `{"lines":[{"sku":"A","qty":1}]}`,
			status: 504, want: errBody(ErrorTimeout, "the engine did not answer in time; the command may still take effect: repeat it with the same id to learn its outcome")},
		{name: "engine does not answer a snapshot", method: "PUT", path: "/v1/stock/block/locations/msk-1", body: `{"on_hand":1,"source":"erp","version":17}`,
			status: 504, want: errBody(ErrorTimeout, "the engine did not answer in time; the command may still take effect: repeat it with the same id to learn its outcome")},
	})
	t.Run("engine panics", func(t *testing.T) {
		got := ts.do(t, "GET", "/v1/stock/panic", "")
		id := got.header.Get("X-Request-Id")
		if want := errBody(ErrorInternal, "internal error; request id "+id); got.status != 500 || got.body != want {
			t.Errorf("got %d %s, want 500 %s", got.status, got.body, want)
		}
		if logs := ts.logs.String(); !strings.Contains(logs, `"request_id":"`+id+`"`) || !strings.Contains(logs, "panic requested") {
			t.Errorf("log lacks the request id or the panic: %s", logs)
		}
		if got := ts.do(t, "GET", "/healthz", ""); got.status != 200 {
			t.Errorf("after a panic healthz answers %d", got.status)
		}
	})
}

func TestMiddlewareSeam(t *testing.T) {
	var seen []string
	ts := newTestServer(t, func(c *Config) {
		c.Open = false
		c.Middleware = []func(http.Handler) http.Handler{func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// An auth middleware would map the pattern to its scope.
				seen = append(seen, chi.RouteContext(r.Context()).RoutePattern())
				if r.Header.Get("Authorization") == "" {
					writeError(w, http.StatusUnauthorized, ErrorUnauthorized, "a bearer token is required")
					return
				}
				next.ServeHTTP(w, r)
			})
		}}
	})
	runCases(t, ts, []routeCase{
		{name: "v1 route goes through it", method: "GET", path: "/v1/stock/A%2FB", status: 401,
			want: errBody(ErrorUnauthorized, "a bearer token is required")},
		{name: "healthz does not", method: "GET", path: "/healthz", status: 200, want: `{"status":"ok"}` + "\n"},
	})
	if len(seen) != 1 || seen[0] != "/v1/stock/{sku}" {
		t.Errorf("middleware saw route patterns %q, want [/v1/stock/{sku}]", seen)
	}
}

func TestMetrics(t *testing.T) {
	ts := newTestServer(t)
	ts.do(t, "GET", "/v1/stock/A%2FB", "")
	ts.do(t, "GET", "/v1/stock/nope", "")
	ts.do(t, "GET", "/no/such/route/x1", "")
	ts.do(t, "FROB", "/no/such/route/x2", "")
	got := ts.do(t, "GET", "/metrics", "")
	if got.status != 200 {
		t.Fatalf("metrics: %d %s", got.status, got.body)
	}
	for _, want := range []string{
		`stocksync_http_requests_total{code="200",method="GET",route="/v1/stock/{sku}"} 1`,
		`stocksync_http_requests_total{code="404",method="GET",route="/v1/stock/{sku}"} 1`,
		`stocksync_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`stocksync_http_requests_total{code="404",method="OTHER",route="unmatched"} 1`,
		`stocksync_http_request_duration_seconds_count{method="GET",route="/v1/stock/{sku}"} 2`,
	} {
		if !strings.Contains(got.body, want) {
			t.Errorf("metrics lack %s\n%s", want, got.body)
		}
	}
	if strings.Contains(got.body, "A%2FB") || strings.Contains(got.body, "x1") {
		t.Error("metrics hold a raw path")
	}
}
