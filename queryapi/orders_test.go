package queryapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stocksync/stocksync/contract"
)

func TestReserve(t *testing.T) {
	ts := newTestServer(t)
	path := "/v1/orders/o-1/reserve"
	tooMany := `{"lines":[` + strings.Repeat(`{"sku":"A","qty":1},`, contract.MaxLines) + `{"sku":"A","qty":1}]}`
	runCases(t, ts, []routeCase{
		{name: "reserved", method: "POST", path: path, body: `{"lines":[{"sku":"A","qty":2}],"channel":"web","ttl_s":900}`,
			status: 200, want: `{"order_id":"o-1","type":"reserve","status":"reserved","lines":[{"sku":"A","qty":2,"location":"msk-1"}],"expires_at":"2025-01-01T00:15:00Z"}` + "\n"},
		{name: "reserved at a named location", method: "POST", path: path, body: `{"lines":[{"sku":"A","qty":1,"location":"msk-ds-2"}],"channel":"web"}`,
			status: 200, want: `{"order_id":"o-1","type":"reserve","status":"reserved","lines":[{"sku":"A","qty":1,"location":"msk-ds-2"}],"expires_at":"2025-01-01T00:15:00Z"}` + "\n"},
		{name: "rejected", method: "POST", path: "/v1/orders/o-2/reserve", body: `{"lines":[{"sku":"A","qty":6}],"channel":"web"}`,
			status: 409, want: `{"order_id":"o-2","type":"reserve","status":"rejected","error":{"type":"insufficient_stock","sku":"A","requested":6,"available":5}}` + "\n"},
		{name: "zero qty", method: "POST", path: path, body: `{"lines":[{"sku":"A","qty":0}]}`,
			status: 400, want: errBody(ErrorBadRequest, "lines[0].qty: 0 is outside 1..1000000")},
		{name: "negative qty", method: "POST", path: path, body: `{"lines":[{"sku":"B","qty":1},{"sku":"A","qty":-2}]}`,
			status: 400, want: errBody(ErrorBadRequest, "lines[1].qty: -2 is outside 1..1000000")},
		{name: "qty as a string", method: "POST", path: path, body: `{"lines":[{"sku":"A","qty":"2"}]}`,
			status: 400, want: errBody(ErrorBadRequest, "bad JSON: cannot unmarshal string into Go struct field Line.lines.qty of type int64")},
		{name: "no lines", method: "POST", path: path, body: `{"channel":"web"}`,
			status: 400, want: errBody(ErrorBadRequest, "lines: a reserve needs at least one line")},
		{name: "too many lines", method: "POST", path: path, body: tooMany,
			status: 400, want: errBody(ErrorBadRequest, "lines: 101 lines, the limit is 100")},
		{name: "same sku twice", method: "POST", path: path, body: `{"lines":[{"sku":"A","qty":1},{"sku":"A","qty":1}]}`,
			status: 400, want: errBody(ErrorBadRequest, `lines[1].sku: "A" appears twice; put its quantity on one line`)},
		{name: "empty sku", method: "POST", path: path, body: `{"lines":[{"sku":"","qty":1}]}`,
			status: 400, want: errBody(ErrorBadRequest, "lines[0].sku: must not be empty")},
		{name: "ttl too long", method: "POST", path: path, body: `{"lines":[{"sku":"A","qty":1}],"ttl_s":604801}`,
			status: 400, want: errBody(ErrorBadRequest, "ttl_s: 604801 is outside 1..604800")},
		{name: "names the order id", method: "POST", path: path, body: `{"order_id":"o-9","lines":[{"sku":"A","qty":1}]}`,
			status: 400, want: errBody(ErrorBadRequest, `bad JSON: unknown field "order_id"`)},
		{name: "names the type", method: "POST", path: path, body: `{"type":"confirm","lines":[{"sku":"A","qty":1}]}`,
			status: 400, want: errBody(ErrorBadRequest, `bad JSON: unknown field "type"`)},
		{name: "unknown line field", method: "POST", path: path, body: `{"lines":[{"sku":"A","qty":1,"price":3}]}`,
			status: 400, want: errBody(ErrorBadRequest, `bad JSON: unknown field "price"`)},
		{name: "trailing data", method: "POST", path: path, body: `{"lines":[{"sku":"A","qty":1}]}x`,
			status: 400, want: errBody(ErrorBadRequest, "bad JSON: data after the object")},
		{name: "empty body", method: "POST", path: path,
			status: 400, want: errBody(ErrorBadRequest, "the body must be a JSON object, it is empty")},
		{name: "oversized order id", method: "POST", path: "/v1/orders/" + long + "/reserve", body: `{"lines":[{"sku":"A","qty":1}]}`,
			status: 400, want: errBody(ErrorBadRequest, "order_id: is 129 bytes, the limit is 128")},
		{name: "body over 64 KiB", method: "POST", path: path, body: strings.Repeat(" ", 64<<10+1),
			status: 413, want: errBody(ErrorTooLarge, "the body is over the limit of 65536 bytes")},
	})
	t.Run("engine gets the path's order id and the default ttl", func(t *testing.T) {
		ts.do(t, "POST", "/v1/orders/o%2F7/reserve", `{"lines":[{"sku":"A","qty":1}],"channel":"web"}`)
		want := contract.OrderCommand{Type: contract.Reserve, OrderID: "o/7", Lines: []contract.Line{{SKU: "A", Qty: 1}},
			Channel: "web", TTLS: contract.DefaultTTLS}
		if got := ts.engine.lastCmd(); !reflect.DeepEqual(got, want) {
			t.Errorf("engine got %+v, want %+v", got, want)
		}
	})
}

func TestTransitions(t *testing.T) {
	ts := newTestServer(t)
	var cases []routeCase
	for _, tr := range []struct{ cmd, status string }{
		{contract.Confirm, contract.StatusConfirmed},
		{contract.Release, contract.StatusReleased},
		{contract.Ship, contract.StatusShipped},
	} {
		path := "/v1/orders/o-1/" + tr.cmd
		ok := fmt.Sprintf(`{"order_id":"o-1","type":%q,"status":%q}`+"\n", tr.cmd, tr.status)
		cases = append(cases,
			routeCase{name: tr.cmd + " with no body", method: "POST", path: path, status: 200, want: ok},
			routeCase{name: tr.cmd + " with {}", method: "POST", path: path, body: "{}", status: 200, want: ok},
			routeCase{name: tr.cmd + " with whitespace", method: "POST", path: path, body: " \n", status: 200, want: ok},
			routeCase{name: tr.cmd + " rejected", method: "POST", path: "/v1/orders/o-unknown/" + tr.cmd, status: 409,
				want: fmt.Sprintf(`{"order_id":"o-unknown","type":%q,"status":"rejected","error":{"type":"unknown_order","message":"never reserved"}}`+"\n", tr.cmd)},
			routeCase{name: tr.cmd + " with a field", method: "POST", path: path, body: `{"lines":[]}`, status: 400,
				want: errBody(ErrorBadRequest, `bad JSON: unknown field "lines"`)},
			routeCase{name: tr.cmd + " with null", method: "POST", path: path, body: "null", status: 400,
				want: errBody(ErrorBadRequest, "the body must be a JSON object, not null")},
			routeCase{name: tr.cmd + " with an array", method: "POST", path: path, body: "[]", status: 400,
				want: errBody(ErrorBadRequest, "bad JSON: cannot unmarshal array into Go value of type queryapi.stepBody")},
			routeCase{name: tr.cmd + " with trailing data", method: "POST", path: path, body: "{}{}", status: 400,
				want: errBody(ErrorBadRequest, "bad JSON: data after the object")},
		)
	}
	runCases(t, ts, cases)
}

func TestGetOrder(t *testing.T) {
	ts := newTestServer(t)
	runCases(t, ts, []routeCase{
		{name: "known order", method: "GET", path: "/v1/orders/o-1", status: 200,
			want: `{"order_id":"o-1","state":"reserved","channel":"web","lines":[{"sku":"A","qty":2,"location":"msk-1"}],"expires_at":"2025-01-01T00:15:00Z"}` + "\n"},
		{name: "unknown order", method: "GET", path: "/v1/orders/o-9", status: 404,
			want: errBody(ErrorNotFound, "no order with this order_id")},
		{name: "oversized order id", method: "GET", path: "/v1/orders/" + long, status: 400,
			want: errBody(ErrorBadRequest, "order_id: is 129 bytes, the limit is 128")},
	})
}

// FuzzReserveBody holds that no body makes reserve answer 5xx or panic, and
// that every refusal is in the error shape.
func FuzzReserveBody(f *testing.F) {
	for _, seed := range []string{
		`{"lines":[{"sku":"A","qty":2}],"channel":"web","ttl_s":900}`,
		`{"lines":[{"sku":"A","qty":6,"location":"msk-1"}]}`,
		`{"lines":[{"sku":"A","qty":0}]}`,
		`{"lines":null,"channel":""}`,
		`{"order_id":"x"}`,
		`null`, `[]`, `"x"`, `{`, ``, `{}{}`,
		`{"lines":[{"sku":"\u0000","qty":1e3}]}`,
		`{"ttl_s":-9223372036854775808,"lines":[{"sku":"A","qty":9223372036854775807}]}`,
	} {
		f.Add([]byte(seed))
	}
	reg := prometheus.NewRegistry()
	cfg := Config{Registry: reg, Gatherer: reg, Logger: slog.New(slog.DiscardHandler), Open: true}
	serveFake(&cfg, newFakeEngine())
	h, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/v1/orders/o-1/reserve", strings.NewReader(string(body)))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code >= 500:
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body)
		case rec.Code == 200 || rec.Code == 409:
			var b reserveBody
			err := contract.DecodeStrict(body, &b)
			if err == nil {
				cmd := contract.OrderCommand{Type: contract.Reserve, OrderID: "o-1", Lines: b.Lines, Channel: b.Channel, TTLS: b.TTLS}
				err = cmd.Validate()
			}
			if err != nil {
				t.Fatalf("status %d for a body the contract refuses (%v): %q", rec.Code, err, body)
			}
		case rec.Code == 400 || rec.Code == 413:
			if !strings.HasPrefix(rec.Body.String(), `{"error":{"type":"`) {
				t.Fatalf("status %d without the error shape: %s", rec.Code, rec.Body)
			}
		default:
			t.Fatalf("unexpected status %d for body %q", rec.Code, body)
		}
	})
}
