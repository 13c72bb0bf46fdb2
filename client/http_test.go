package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stocksync/stocksync/contract"
)

// TestHTTPAnswers maps each answer of the API to what the caller sees.
func TestHTTPAnswers(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		kind       error // nil: a result
		wantStatus string
		retryAfter time.Duration
	}{
		{name: "reserved", status: 200, body: `{"order_id":"o-1","type":"reserve","status":"reserved","lines":[{"sku":"A","qty":1,"location":"w"}]}`,
			wantStatus: contract.StatusReserved},
		{name: "rejected", status: 409, body: `{"order_id":"o-1","type":"reserve","status":"rejected","error":{"type":"insufficient_stock"}}`,
			wantStatus: contract.StatusRejected},
		{name: "409 that is not a rejection", status: 409, body: `{"order_id":"o-1","type":"reserve","status":"reserved"}`, kind: ErrServer},
		{name: "another order's result", status: 200, body: `{"order_id":"o-2","type":"reserve","status":"reserved"}`, kind: ErrServer},
		{name: "not JSON", status: 200, body: `<html>`, kind: ErrServer},
		{name: "bad request", status: 400, body: `{"error":{"type":"bad_request","message":"lines: …"}}`, kind: ErrInvalid},
		{name: "too large", status: 413, body: `{"error":{"type":"too_large","message":"…"}}`, kind: ErrInvalid},
		{name: "unauthorized", status: 401, body: `{"error":{"type":"unauthorized","message":"…"}}`, kind: ErrUnauthorized},
		{name: "forbidden", status: 403, body: `{"error":{"type":"forbidden","message":"…"}}`, kind: ErrForbidden},
		{name: "rate limited", status: 429, header: map[string]string{"Retry-After": "7"},
			body: `{"error":{"type":"rate_limited","message":"…"}}`, kind: ErrRateLimited, retryAfter: 7 * time.Second},
		{name: "unavailable", status: 503, header: map[string]string{"Retry-After": "1"},
			body: `{"error":{"type":"unavailable","message":"…"}}`, kind: ErrUnavailable, retryAfter: time.Second},
		{name: "gateway", status: 502, body: `bad gateway`, kind: ErrUnavailable},
		{name: "timeout", status: 504, body: `{"error":{"type":"timeout","message":"…"}}`, kind: ErrTimeout},
		{name: "internal", status: 500, body: `{"error":{"type":"internal","message":"…"}}`, kind: ErrServer},
		{name: "no route", status: 404, body: `{"error":{"type":"not_found","message":"…"}}`, kind: ErrServer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var gotReq *http.Request
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotReq = r
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			h, err := NewHTTP(HTTPConfig{BaseURL: srv.URL + "/", Token: "tok-0123456789abcdef"})
			if err != nil {
				t.Fatal(err)
			}
			res, err := h.Reserve(context.Background(), "o-1", []contract.Line{{SKU: "A", Qty: 1}}, "web", 90*time.Second)
			if gotReq.URL.Path != "/v1/orders/o-1/reserve" || gotReq.Header.Get("Authorization") != "Bearer tok-0123456789abcdef" {
				t.Errorf("request %s %s auth %q", gotReq.Method, gotReq.URL.Path, gotReq.Header.Get("Authorization"))
			}
			if tc.kind == nil {
				if err != nil || res.Status != tc.wantStatus {
					t.Fatalf("Reserve = %+v, %v; want status %s", res, err, tc.wantStatus)
				}
				return
			}
			var e *Error
			if !errors.Is(err, tc.kind) || !errors.As(err, &e) || e.Status != tc.status || e.RetryAfter != tc.retryAfter {
				t.Fatalf("Reserve error %v (%+v), want %v with Retry-After %s", err, e, tc.kind, tc.retryAfter)
			}
			if strings.Contains(err.Error(), "tok-0123456789abcdef") {
				t.Fatalf("the error shows the token: %v", err)
			}
		})
	}
}

// requestIDPattern matches the request id a client puts in a body.
var requestIDPattern = regexp.MustCompile(`"request_id":"[0-9a-f]{16}-[0-9a-z]+"`)

func TestHTTPRequest(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 512)
		n, _ := r.Body.Read(b)
		var body struct {
			RequestID string `json:"request_id"`
		}
		_ = json.Unmarshal(b[:n], &body)
		got = append(got, r.Method+" "+r.URL.EscapedPath()+" "+requestIDPattern.ReplaceAllString(string(b[:n]), `"request_id":"<id>"`))
		w.WriteHeader(200)
		typ := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		_, _ = w.Write([]byte(`{"order_id":"o/1","request_id":"` + body.RequestID + `","type":"` + typ + `","status":"x"}`))
	}))
	defer srv.Close()
	h, err := NewHTTP(HTTPConfig{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := h.Reserve(ctx, "o/1", []contract.Line{{SKU: "A", Qty: 2}}, "web", 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Ship(ctx, "o/1"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`POST /v1/orders/o%2F1/reserve {"lines":[{"sku":"A","qty":2}],"channel":"web","ttl_s":2,"request_id":"<id>"}`,
		`POST /v1/orders/o%2F1/ship {"request_id":"<id>"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestHTTPTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the server notices a closed connection once the body is read
		<-r.Context().Done()
	}))
	slow, err := NewHTTP(HTTPConfig{BaseURL: srv.URL, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := slow.Confirm(context.Background(), "o-1"); !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a server that does not answer: %v", err)
	}
	srv.Close()
	gone, _ := NewHTTP(HTTPConfig{BaseURL: srv.URL})
	if _, err := gone.Confirm(context.Background(), "o-1"); !errors.Is(err, ErrUnavailable) || !Retryable(err) {
		t.Errorf("a server that is gone: %v", err)
	}
	for _, bad := range []HTTPConfig{{BaseURL: ""}, {BaseURL: "ftp://x"}, {BaseURL: "http://x", Timeout: -1}, {BaseURL: "http://x", Token: "a b"}} {
		if _, err := NewHTTP(bad); err == nil {
			t.Errorf("NewHTTP(%+v): nil error", bad)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		"-1":                            0,
		"soon":                          0,
		"Wed, 01 Jan 2025 00:00:10 GMT": 10 * time.Second,
		"Tue, 31 Dec 2024 23:59:00 GMT": 0,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

func TestErrorText(t *testing.T) {
	e := &Error{Op: "reserve", OrderID: "o-1", Kind: ErrRateLimited, Status: 429, Type: "rate_limited",
		Message: "this token is over its rate", RetryAfter: 2 * time.Second}
	want := `client: reserve "o-1": rate limited: HTTP 429 rate_limited: this token is over its rate (retry after 2s)`
	if e.Error() != want {
		t.Errorf("Error() = %s\nwant      %s", e, want)
	}
	if !errors.Is(e, ErrRateLimited) || errors.Is(e, ErrTimeout) {
		t.Error("errors.Is does not follow Kind")
	}
}
