package soak

import (
	"strings"
	"testing"
	"time"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
)

// A small world: one SKU of skus at one location, channel web over it.
var (
	t0    = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	web   = config.Channel{Name: "web", Locations: []string{"wh"}, Share: 1}
	lines = func(q int64) []contract.Line { return []contract.Line{{SKU: "soak-a", Qty: q}} }
)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func reserve(id string, q int64, sent float64, res *contract.OrderResult) *Attempt {
	return &Attempt{Via: "http-0", Op: contract.Reserve, OrderID: id,
		Body: contract.OrderCommand{Type: contract.Reserve, OrderID: id, Lines: lines(q), Channel: "web", TTLS: 20},
		Sent: at(sent), Answered: at(sent + 0.1), Result: res}
}

func reserved(id string, q int64) *contract.OrderResult {
	return &contract.OrderResult{OrderID: id, Type: contract.Reserve, Status: contract.StatusReserved,
		Lines: []contract.Line{{SKU: "soak-a", Qty: q, Location: "wh"}}}
}

func conflict(id string) *contract.OrderResult {
	return &contract.OrderResult{OrderID: id, Type: contract.Reserve, Status: contract.StatusRejected, Error: &contract.Reason{Type: contract.ErrConflict}}
}

// history builds a history whose only SKU with stock is soak-a at wh
// (snapshot 10 at t0), and the final reads: onHand, committed, and the
// orders' final views.
func history(attempts []*Attempt, onHand, committed int64, orders map[string]*contract.OrderView) (*History, final) {
	h := newHistory()
	for _, a := range attempts {
		h.addAttempt(a)
	}
	fin := final{Stock: map[int]map[string]*contract.StockView{0: {}}, Orders: orders,
		Channels: map[string]map[string]*contract.ChannelStockView{"web": {}}}
	for _, sku := range skus {
		v := int64(0)
		ten := int64(0)
		if sku == "soak-a" {
			v, ten = onHand, 10
		}
		h.addFeed(&Feed{Msg: contract.FeedMessage{Type: contract.Snapshot, SKU: sku, Location: "wh", OnHand: &ten, Version: 1}, Sent: t0, Answered: t0, Status: "applied"})
		fin.Stock[0][sku] = &contract.StockView{SKU: sku, OnHand: v, Committed: committed * b2i(sku == "soak-a"),
			Locations: []contract.LocationView{{Location: "wh", OnHand: v, Committed: committed * b2i(sku == "soak-a"), Available: v - committed*b2i(sku == "soak-a")}}}
		h.addRead(&Read{Instance: 0, At: at(5), Stock: fin.Stock[0][sku]})
		avail := fin.Stock[0][sku].Locations[0].Available
		fin.Channels["web"][sku] = &contract.ChannelStockView{Projected: avail, Acknowledged: avail}
	}
	return h, fin
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func TestChecker(t *testing.T) {
	ship := &Attempt{Via: "kafka", Op: contract.Ship, OrderID: "o-1", Body: contract.OrderCommand{Type: contract.Ship, OrderID: "o-1"},
		Sent: at(2), Answered: at(2.1), Result: &contract.OrderResult{OrderID: "o-1", Type: contract.Ship, Status: contract.StatusShipped}}
	shippedView := map[string]*contract.OrderView{"o-1": {OrderID: "o-1", State: contract.StatusShipped, Lines: reserved("o-1", 2).Lines}}
	cases := []struct {
		name     string
		attempts []*Attempt
		onHand   int64
		orders   map[string]*contract.OrderView
		failing  string // the check that fails, "" for none
		example  string
	}{
		{name: "a shipped order leaves the shelf once", attempts: []*Attempt{reserve("o-1", 2, 1, reserved("o-1", 2)), ship},
			onHand: 8, orders: shippedView},
		{name: "a ship applied twice breaks conservation", attempts: []*Attempt{reserve("o-1", 2, 1, reserved("o-1", 2)), ship},
			onHand: 6, orders: shippedView, failing: "conservation per SKU and location", example: "on_hand 6, the history allows [8, 8]"},
		{name: "the accepted body of a conflicting pair was answered conflict",
			attempts: []*Attempt{reserve("c-1", 1, 1, conflict("c-1")), reserve("c-1", 2, 1, conflict("c-1"))},
			onHand:   10, orders: map[string]*contract.OrderView{"c-1": {OrderID: "c-1", State: contract.StatusExpired, Lines: reserved("c-1", 2).Lines}},
			failing: "each answer the decision on its own command", example: "became the reservation (expired), yet its caller was answered rejected/conflict"},
		{name: "a reserved answer with another body's lines",
			attempts: []*Attempt{reserve("c-2", 1, 1, reserved("c-2", 2)), reserve("c-2", 2, 1, conflict("c-2"))},
			onHand:   10, orders: map[string]*contract.OrderView{"c-2": {OrderID: "c-2", State: contract.StatusExpired, Lines: reserved("c-2", 2).Lines}},
			failing: "each answer the decision on its own command", example: "reserve of soak-a×1 (via http-0 at 10:00:01.000) answered reserved with soak-a×2"},
		{name: "a conflicting pair answered right", attempts: []*Attempt{reserve("c-3", 1, 1, conflict("c-3")), reserve("c-3", 2, 1, reserved("c-3", 2))},
			onHand: 10, orders: map[string]*contract.OrderView{"c-3": {OrderID: "c-3", State: contract.StatusExpired, Lines: reserved("c-3", 2).Lines}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, fin := history(tc.attempts, tc.onHand, 0, tc.orders)
			checks := newChecker(h, fin, []string{"wh"}, []config.Channel{web}, nil).run()
			for _, c := range checks {
				if c.Name == "no state going backwards on any instance" || c.Name == "every reservation ended (expired within TTL + 1 s)" {
					continue // nothing read during the load in these histories
				}
				wantFail := c.Name == tc.failing
				if c.Pass == wantFail {
					t.Errorf("%s: pass = %v, want %v; examples %q", c.Name, c.Pass, !wantFail, c.Examples)
				}
				if wantFail && !strings.Contains(strings.Join(c.Examples, "\n"), tc.example) {
					t.Errorf("%s: examples %q lack %q", c.Name, c.Examples, tc.example)
				}
			}
		})
	}
}

// An expiry is due within expiryGrace of its time: a fault that begins in
// that second delays it, and the delay is the fault's, not a defect (a 10
// minute soak had one at 1 ms before a SIGSTOP counted as a violation).
func TestFaultWithinTheExpiryWindow(t *testing.T) {
	stop := Fault{Kind: "stop", Target: "instance 1", Start: at(10), End: at(30)}
	c := newChecker(newHistory(), final{}, nil, nil, []Fault{stop})
	tests := []struct {
		name   string
		expiry time.Time
		during bool
	}{
		{name: "1 ms before the fault began", expiry: at(9.999), during: true},
		{name: "during the fault", expiry: at(20), during: true},
		{name: "within the settling time after it lifted", expiry: at(30 + faultSettle.Seconds() - 1), during: true},
		{name: "2 s before the fault began", expiry: at(8), during: false},
		{name: "long after it lifted", expiry: at(30 + faultSettle.Seconds() + 5), during: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := c.faultWithin(tc.expiry, tc.expiry.Add(expiryGrace)) != ""
			if got != tc.during {
				t.Errorf("an expiry at %s with a stop from %s to %s: during a fault = %v, want %v", clock(tc.expiry), clock(stop.Start), clock(stop.End), got, tc.during)
			}
		})
	}
}
