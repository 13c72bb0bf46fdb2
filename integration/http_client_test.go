package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stocksync/stocksync/contract"
)

// ---- HTTP: what a user of the API sends and sees.

var httpClient = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second},
}

// call sends one request with body as JSON (nil: no body) and returns the
// status and the body. It is safe from any goroutine.
func call(ctx context.Context, method, url string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// do is call on this instance from the test's goroutine: a transport error fails the test.
func (in *instance) do(method, path string, body any) (int, []byte) {
	t := in.env.t
	t.Helper()
	code, data, err := call(context.Background(), method, in.url+path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return code, data
}

func decode[T any](t *testing.T, what string, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: answer is not the expected JSON (%v): %s", what, err, data)
	}
	return v
}

// errorBody is the API's error shape.
type errorBody struct {
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// reserveBody is the body of POST /v1/orders/{id}/reserve.
type reserveBody struct {
	Lines   []contract.Line `json:"lines"`
	Channel string          `json:"channel,omitempty"`
	TTLS    int64           `json:"ttl_s,omitempty"`
}

func lines(kv ...any) []contract.Line {
	var out []contract.Line
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, contract.Line{SKU: kv[i].(string), Qty: int64(kv[i+1].(int))})
	}
	return out
}

// stock is GET /v1/stock/{sku}, which must answer 200.
func (in *instance) stock(sku string) contract.StockView {
	t := in.env.t
	t.Helper()
	code, data := in.do(http.MethodGet, "/v1/stock/"+sku, nil)
	if code != http.StatusOK {
		t.Fatalf("GET /v1/stock/%s: %d %s", sku, code, data)
	}
	return decode[contract.StockView](t, "GET /v1/stock/"+sku, data)
}

// order is GET /v1/orders/{id}, which must answer 200.
func (in *instance) order(id string) contract.OrderView {
	t := in.env.t
	t.Helper()
	code, data := in.do(http.MethodGet, "/v1/orders/"+id, nil)
	if code != http.StatusOK {
		t.Fatalf("GET /v1/orders/%s: %d %s", id, code, data)
	}
	return decode[contract.OrderView](t, "GET /v1/orders/"+id, data)
}

// snapshot is PUT /v1/stock/{sku}/locations/{loc}, which must answer 200.
func (in *instance) snapshot(sku, loc string, onHand, version int64) contract.FeedAnswer {
	t := in.env.t
	t.Helper()
	path := "/v1/stock/" + sku + "/locations/" + loc
	code, data := in.do(http.MethodPut, path, map[string]any{"on_hand": onHand, "source": "erp", "version": version})
	if code != http.StatusOK {
		t.Fatalf("PUT %s: %d %s", path, code, data)
	}
	return decode[contract.FeedAnswer](t, "PUT "+path, data)
}

// adjust is POST /v1/stock/{sku}/locations/{loc}/adjust, which must answer 200.
func (in *instance) adjust(sku, loc string, delta int64, id string) contract.FeedAnswer {
	t := in.env.t
	t.Helper()
	path := "/v1/stock/" + sku + "/locations/" + loc + "/adjust"
	code, data := in.do(http.MethodPost, path, map[string]any{"delta": delta, "reason": "receipt", "id": id})
	if code != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, code, data)
	}
	return decode[contract.FeedAnswer](t, "POST "+path, data)
}

// reserve is POST /v1/orders/{id}/reserve; it returns the status and the result.
func (in *instance) reserve(id string, body reserveBody) (int, contract.OrderResult, []byte) {
	t := in.env.t
	t.Helper()
	code, data := in.do(http.MethodPost, "/v1/orders/"+id+"/reserve", body)
	if code != http.StatusOK && code != http.StatusConflict {
		return code, contract.OrderResult{}, data
	}
	return code, decode[contract.OrderResult](t, "reserve "+id, data), data
}

// command is POST /v1/orders/{id}/{confirm|release|ship}, which must answer 200 with status want.
func (in *instance) command(id, typ, want string) contract.OrderResult {
	t := in.env.t
	t.Helper()
	code, data := in.do(http.MethodPost, "/v1/orders/"+id+"/"+typ, nil)
	if code != http.StatusOK {
		t.Fatalf("POST /v1/orders/%s/%s: %d %s, want 200", id, typ, code, data)
	}
	res := decode[contract.OrderResult](t, typ+" "+id, data)
	if res.Status != want {
		t.Fatalf("POST /v1/orders/%s/%s: status %q, want %q: %s", id, typ, res.Status, want, data)
	}
	return res
}

// eventually polls cond every 50ms until it holds, failing the test with the
// last state it reported once within has passed.
func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last seen: %s", what, within, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// js shows a value as the JSON a user would see.
func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}
