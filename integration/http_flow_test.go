package integration

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stocksync/stocksync/contract"
)

// testHTTPUserFlow is the README's walk-through over real HTTP: stock in,
// a two-line order reserved, confirmed and shipped; an order for more than is
// there refused with the reason; a reservation with a short TTL that ends by
// itself and gives its units back.
func testHTTPUserFlow(t *testing.T, e *env) {
	in := e.start(t.TempDir())

	if a := in.snapshot("A", "msk-wh-1", 10, 1); a.Status != "applied" || a.Ignored {
		t.Fatalf("snapshot of A: %s, want applied", js(a))
	}
	in.snapshot("B", "msk-dark-1", 5, 1)
	wantQty(t, in.stock("A"), qty{onHand: 10, available: 10})
	wantQty(t, in.stock("B"), qty{onHand: 5, available: 5})

	// A two-line order: both lines held, each at the location that has it.
	code, res, raw := in.reserve("o-1", reserveBody{Lines: lines("A", 2, "B", 1), Channel: "web", TTLS: 60})
	if code != http.StatusOK || res.Status != contract.StatusReserved {
		t.Fatalf("reserve o-1: %d %s, want 200 reserved", code, raw)
	}
	wantLines(t, "o-1", res.Lines, map[string]string{"A": "msk-wh-1", "B": "msk-dark-1"})
	if res.ExpiresAt == "" {
		t.Errorf("reserve o-1: no expires_at in %s", raw)
	}
	wantQty(t, in.stock("A"), qty{onHand: 10, reserved: 2, available: 8})
	wantQty(t, in.stock("B"), qty{onHand: 5, reserved: 1, available: 4})
	if o := in.order("o-1"); o.State != contract.StatusReserved || len(o.Lines) != 2 || o.ExpiresAt == "" {
		t.Errorf("GET /v1/orders/o-1 after reserve: %s, want reserved with 2 lines and an expiry", js(o))
	}

	in.command("o-1", "confirm", contract.StatusConfirmed)
	settled(t, in, "A", qty{onHand: 10, committed: 2, available: 8})

	in.command("o-1", "ship", contract.StatusShipped)
	settled(t, in, "A", qty{onHand: 8, available: 8})
	settled(t, in, "B", qty{onHand: 4, available: 4})
	a := in.stock("A")
	// web sells everything; ozon gets floor(0.5 × 8) − 2 of the warehouse.
	if a.Channels["web"] != 8 || a.Channels["ozon"] != 2 {
		t.Errorf("channels of A after ship: %v, want web 8, ozon 2", a.Channels)
	}
	if o := in.order("o-1"); o.State != contract.StatusShipped {
		t.Errorf("GET /v1/orders/o-1 after ship: state %q, want shipped", o.State)
	}

	// More than is available: 409 with the reason and the available figure.
	code, res, raw = in.reserve("o-2", reserveBody{Lines: lines("A", 50)})
	if code != http.StatusConflict || res.Status != contract.StatusRejected || res.Error == nil {
		t.Fatalf("reserve o-2 of 50 A: %d %s, want 409 rejected", code, raw)
	}
	if r := res.Error; r.Type != contract.ErrInsufficientStock || r.SKU != "A" || r.Requested != 50 ||
		r.Available == nil || *r.Available != 8 {
		t.Errorf("reserve o-2: error %s, want insufficient_stock for A, requested 50, available 8", raw)
	}
	wantQty(t, in.stock("A"), qty{onHand: 8, available: 8})

	// A 1 s TTL: the order expires and its units come back by themselves.
	code, res, raw = in.reserve("o-3", reserveBody{Lines: lines("A", 3), TTLS: 1})
	if code != http.StatusOK || res.Status != contract.StatusReserved {
		t.Fatalf("reserve o-3 (ttl 1s): %d %s, want 200 reserved", code, raw)
	}
	wantQty(t, in.stock("A"), qty{onHand: 8, reserved: 3, available: 5})
	eventually(t, 20*time.Second, "order o-3 expired", func() (bool, string) {
		o := in.order("o-3")
		return o.State == contract.StatusExpired, "state " + o.State
	})
	eventually(t, 20*time.Second, "stock of A back after o-3 expired", func() (bool, string) {
		s := in.stock("A")
		return s.Reserved == 0 && s.Available == 8, fmt.Sprintf("%+v", s)
	})
	// An expired order can no longer be confirmed.
	if code, data := in.do(http.MethodPost, "/v1/orders/o-3/confirm", nil); code != http.StatusConflict {
		t.Errorf("confirm of expired o-3: %d %s, want 409", code, data)
	}

	// Unknown keys are 404 with the error shape.
	for _, path := range []string{"/v1/stock/no-such-sku", "/v1/orders/no-such-order"} {
		code, data := in.do(http.MethodGet, path, nil)
		if body := decode[errorBody](t, path, data); code != http.StatusNotFound || body.Error.Type != "not_found" {
			t.Errorf("GET %s: %d %s, want 404 not_found", path, code, data)
		}
	}
}

// settled waits (bounded) until GET stock shows want. Confirm, release and
// ship are answered once the orders processor has decided, before the SKU's
// owner has applied them (DESIGN.md: "answered once the engine has
// decided"), so the stock shows them a moment later; a reserve's answer
// comes from the owner itself and is checked at once with wantQty.
func settled(t *testing.T, in *instance, sku string, want qty) {
	t.Helper()
	eventually(t, 10*time.Second, "GET /v1/stock/"+sku+" to show "+fmt.Sprint(want), func() (bool, string) {
		s := in.stock(sku)
		return (qty{s.OnHand, s.Reserved, s.Committed, s.Available}) == want, js(s)
	})
}

// qty is the totals of a SKU that a user checks.
type qty struct{ onHand, reserved, committed, available int64 }

func wantQty(t *testing.T, s contract.StockView, want qty) {
	t.Helper()
	got := qty{s.OnHand, s.Reserved, s.Committed, s.Available}
	if got != want {
		t.Errorf("GET /v1/stock/%s: on_hand %d reserved %d committed %d available %d; want %d %d %d %d",
			s.SKU, got.onHand, got.reserved, got.committed, got.available,
			want.onHand, want.reserved, want.committed, want.available)
	}
}

func wantLines(t *testing.T, id string, got []contract.Line, locs map[string]string) {
	t.Helper()
	if len(got) != len(locs) {
		t.Errorf("order %s: %d lines %+v, want %d", id, len(got), got, len(locs))
	}
	for _, l := range got {
		if want, ok := locs[l.SKU]; !ok || l.Location != want {
			t.Errorf("order %s: line %+v, want location %q", id, l, want)
		}
	}
}
