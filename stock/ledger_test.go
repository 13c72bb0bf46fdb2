package stock

import (
	"fmt"
	"testing"

	"github.com/stocksync/stocksync/contract"
)

// testCatalog: three locations; "web" sells from the two warehouses, "ozon"
// half of the dark store minus 2 units of safety stock.
var testCatalog = NewCatalog([]string{"spb-1", "msk-1", "dark-1"}, []ChannelRule{
	{Name: "web", Locations: []string{"spb-1", "msk-1"}, Share: 1},
	{Name: "ozon", Locations: []string{"dark-1"}, Share: 0.5, SafetyStock: 2},
})

// qty is one location's quantities, as GET /v1/stock shows them.
type qty struct{ OnHand, Reserved, Committed int64 }

func quantities(s *SKU) map[string]qty {
	out := make(map[string]qty, len(s.Locations))
	for _, l := range s.Locations {
		out[l.Name] = qty{l.OnHand, l.Reserved, l.Committed}
	}
	return out
}

func checkQuantities(t *testing.T, s *SKU, want map[string]qty) {
	t.Helper()
	got := quantities(s)
	if len(got) != len(want) {
		t.Errorf("locations = %v, want %v", got, want)
		return
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: on_hand/reserved/committed = %v, want %v", name, got[name], w)
		}
	}
}

func snapshotMsg(loc string, onHand, version int64) contract.FeedMessage {
	return contract.FeedMessage{Type: contract.Snapshot, SKU: "A", Location: loc, OnHand: &onHand, Source: "erp", Version: version}
}

func adjustMsg(loc string, delta int64, id string) contract.FeedMessage {
	return contract.FeedMessage{Type: contract.Adjust, SKU: "A", Location: loc, Delta: delta, ID: id, Reason: "count"}
}

func reserveAt(order, loc string, n int64) Command {
	return Command{Type: CmdReserve, OrderID: order, SKU: "A", Qty: n, Location: loc, ExpiresAt: 900_000}
}

func reserveFor(order, channel string, n int64) Command {
	return Command{Type: CmdReserve, OrderID: order, SKU: "A", Qty: n, Channel: channel, ExpiresAt: 900_000}
}

func command(typ, order string) Command { return Command{Type: typ, OrderID: order, SKU: "A"} }

// setup steps build a ledger; each must change it.
type setup func(t *testing.T, s *SKU)

func must(t *testing.T, what string, eff Effect) {
	t.Helper()
	if !eff.Changed {
		t.Fatalf("setup %s: no change (%+v)", what, eff)
	}
}

func stockAt(loc string, onHand int64) setup {
	return func(t *testing.T, s *SKU) { t.Helper(); must(t, "snapshot", s.Snapshot(snapshotMsg(loc, onHand, 1))) }
}

func resnapshot(loc string, onHand, version int64) setup {
	return func(t *testing.T, s *SKU) {
		t.Helper()
		must(t, "snapshot", s.Snapshot(snapshotMsg(loc, onHand, version)))
	}
}

func hold(order, loc string, n int64) setup {
	return func(t *testing.T, s *SKU) {
		t.Helper()
		r, eff := s.Reserve(reserveAt(order, loc, n), testCatalog)
		if !r.OK {
			t.Fatalf("setup reserve %s: %+v", order, r)
		}
		must(t, "reserve", eff)
	}
}

func confirmed(order string) setup {
	return func(t *testing.T, s *SKU) { t.Helper(); must(t, "confirm", s.Confirm(command(CmdConfirm, order))) }
}

func released(order string) setup {
	return func(t *testing.T, s *SKU) { t.Helper(); must(t, "release", s.Release(command(CmdRelease, order))) }
}

func build(t *testing.T, steps []setup) *SKU {
	t.Helper()
	s := new(SKU)
	for _, step := range steps {
		step(t, s)
	}
	return s
}

func TestReserve(t *testing.T) {
	ok := func(order, loc string, n, avail int64) Reply {
		return Reply{OrderID: order, SKU: "A", OK: true, Location: loc, Qty: n, Available: avail}
	}
	short := func(order, loc string, n, avail int64) Reply {
		return Reply{OrderID: order, SKU: "A", Location: loc, Qty: n, Error: contract.ErrInsufficientStock, Available: avail}
	}
	tests := []struct {
		name  string
		setup []setup
		cmd   Command
		want  Reply
		after map[string]qty
	}{
		{
			name:  "named location with enough stock",
			setup: []setup{stockAt("msk-1", 10)},
			cmd:   reserveAt("o-1", "msk-1", 3),
			want:  ok("o-1", "msk-1", 3, 7),
			after: map[string]qty{"msk-1": {10, 3, 0}},
		},
		{
			name:  "named location, exactly what is available",
			setup: []setup{stockAt("msk-1", 10), hold("o-0", "msk-1", 4)},
			cmd:   reserveAt("o-1", "msk-1", 6),
			want:  ok("o-1", "msk-1", 6, 0),
			after: map[string]qty{"msk-1": {10, 10, 0}},
		},
		{
			name:  "named location short: refused with its available, no fallback elsewhere",
			setup: []setup{stockAt("msk-1", 10), stockAt("spb-1", 50), hold("o-0", "msk-1", 5), confirmed("o-0"), hold("o-9", "msk-1", 3)},
			cmd:   reserveAt("o-1", "msk-1", 3),
			want:  short("o-1", "msk-1", 3, 2),
			after: map[string]qty{"msk-1": {10, 3, 5}, "spb-1": {50, 0, 0}},
		},
		{
			name:  "named location that never had stock",
			setup: []setup{stockAt("msk-1", 10)},
			cmd:   reserveAt("o-1", "spb-1", 1),
			want:  short("o-1", "spb-1", 1, 0),
			after: map[string]qty{"msk-1": {10, 0, 0}},
		},
		{
			name:  "unknown location",
			setup: []setup{stockAt("msk-1", 10)},
			cmd:   reserveAt("o-1", "nowhere", 1),
			want:  Reply{OrderID: "o-1", SKU: "A", Location: "nowhere", Qty: 1, Error: contract.ErrUnknownLocation},
			after: map[string]qty{"msk-1": {10, 0, 0}},
		},
		{
			name:  "channel picks its location with the most available",
			setup: []setup{stockAt("msk-1", 4), stockAt("spb-1", 9), stockAt("dark-1", 100)},
			cmd:   reserveFor("o-1", "web", 2),
			want:  ok("o-1", "spb-1", 2, 7),
			after: map[string]qty{"msk-1": {4, 0, 0}, "spb-1": {9, 2, 0}, "dark-1": {100, 0, 0}},
		},
		{
			name:  "held and committed units count against a location when picking",
			setup: []setup{stockAt("msk-1", 12), stockAt("spb-1", 9), hold("o-0", "msk-1", 2), confirmed("o-0"), hold("o-9", "msk-1", 3)},
			cmd:   reserveFor("o-1", "web", 2),
			want:  ok("o-1", "spb-1", 2, 7),
			after: map[string]qty{"msk-1": {12, 3, 2}, "spb-1": {9, 2, 0}},
		},
		{
			name:  "channel never takes from a location outside it",
			setup: []setup{stockAt("msk-1", 1), stockAt("dark-1", 100)},
			cmd:   reserveFor("o-1", "web", 5),
			want:  short("o-1", "", 5, 1),
			after: map[string]qty{"msk-1": {1, 0, 0}, "dark-1": {100, 0, 0}},
		},
		{
			name:  "channel short: refused with the most any of its locations had",
			setup: []setup{stockAt("msk-1", 2), stockAt("spb-1", 3)},
			cmd:   reserveFor("o-1", "web", 5),
			want:  short("o-1", "", 5, 3),
			after: map[string]qty{"msk-1": {2, 0, 0}, "spb-1": {3, 0, 0}},
		},
		{
			name:  "no channel picks among all locations",
			setup: []setup{stockAt("msk-1", 4), stockAt("dark-1", 100)},
			cmd:   reserveFor("o-1", "", 5),
			want:  ok("o-1", "dark-1", 5, 95),
			after: map[string]qty{"msk-1": {4, 0, 0}, "dark-1": {100, 5, 0}},
		},
		{
			name:  "location in shortage is refused with 0 available, not a negative",
			setup: []setup{stockAt("msk-1", 10), hold("o-0", "msk-1", 8), resnapshot("msk-1", 5, 2)},
			cmd:   reserveAt("o-1", "msk-1", 1),
			want:  short("o-1", "msk-1", 1, 0),
			after: map[string]qty{"msk-1": {5, 8, 0}},
		},
		{
			name:  "SKU with no stock anywhere",
			cmd:   reserveFor("o-1", "web", 1),
			want:  short("o-1", "", 1, 0),
			after: map[string]qty{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := build(t, tc.setup)
			seq := s.Seq
			got, eff := s.Reserve(tc.cmd, testCatalog)
			if got != tc.want {
				t.Errorf("reply = %+v\nwant    %+v", got, tc.want)
			}
			if eff.Changed != tc.want.OK || eff.Duplicate || eff.Shortage != nil {
				t.Errorf("effect = %+v, want Changed=%v only", eff, tc.want.OK)
			}
			checkQuantities(t, s, tc.after)
			r := s.Reservation(tc.cmd.OrderID)
			switch {
			case !tc.want.OK && r != nil:
				t.Errorf("refused reserve left a reservation %+v", *r)
			case !tc.want.OK && s.Seq != seq:
				t.Errorf("refused reserve bumped seq %d → %d", seq, s.Seq)
			case tc.want.OK && (r == nil || *r != Reservation{OrderID: tc.cmd.OrderID, Location: tc.want.Location, Qty: tc.cmd.Qty, State: Held, ExpiresAt: tc.cmd.ExpiresAt}):
				t.Errorf("reservation = %+v, want held %d at %s", r, tc.cmd.Qty, tc.want.Location)
			case tc.want.OK && s.Seq != seq+1:
				t.Errorf("seq %d → %d, want +1", seq, s.Seq)
			}
		})
	}
}

// TestTransitions starts every case from msk-1 holding 10 units, o-1 holding
// 3 of them and o-2 having confirmed 2.
func TestTransitions(t *testing.T) {
	const (
		held      = "held"
		committed = "committed"
		gone      = "gone"
	)
	base := []setup{stockAt("msk-1", 10), hold("o-1", "msk-1", 3), hold("o-2", "msk-1", 2), confirmed("o-2")}
	tests := []struct {
		name  string
		more  []setup
		op    func(s *SKU, order string) Effect
		order string
		// changed: the ledger changed; duplicate: it recognised a redelivery.
		changed, duplicate bool
		after              qty
		state              string // of order afterwards
	}{
		{name: "confirm moves held units to committed", op: confirmOp, order: "o-1", changed: true, after: qty{10, 0, 5}, state: committed},
		{name: "confirm of a confirmed order is a duplicate", op: confirmOp, order: "o-2", duplicate: true, after: qty{10, 3, 2}, state: committed},
		{name: "release gives held units back", op: releaseOp, order: "o-1", changed: true, after: qty{10, 0, 2}, state: gone},
		{name: "release gives committed units back", op: releaseOp, order: "o-2", changed: true, after: qty{10, 3, 0}, state: gone},
		{name: "expire releases a held reservation", op: expireOp, order: "o-1", changed: true, after: qty{10, 0, 2}, state: gone},
		{name: "expire keeps a confirmed reservation", op: expireOp, order: "o-2", after: qty{10, 3, 2}, state: committed},
		{name: "ship takes committed units out of on_hand", op: shipOp, order: "o-2", changed: true, after: qty{8, 3, 0}, state: gone},
		{name: "ship of a held reservation is ignored", op: shipOp, order: "o-1", after: qty{10, 3, 2}, state: held},
		{name: "confirm of an unknown order does nothing", op: confirmOp, order: "o-x", after: qty{10, 3, 2}, state: gone},
		{name: "release of an unknown order does nothing", op: releaseOp, order: "o-x", after: qty{10, 3, 2}, state: gone},
		{name: "ship of an unknown order does nothing", op: shipOp, order: "o-x", after: qty{10, 3, 2}, state: gone},
		{name: "expire of an unknown order does nothing", op: expireOp, order: "o-x", after: qty{10, 3, 2}, state: gone},
		{name: "confirm after release does nothing", more: []setup{released("o-1")}, op: confirmOp, order: "o-1", duplicate: true, after: qty{10, 0, 2}, state: gone},
		{name: "ship after release does nothing", more: []setup{released("o-2")}, op: shipOp, order: "o-2", duplicate: true, after: qty{10, 3, 0}, state: gone},
		{
			name: "reserve after release is refused and holds nothing", more: []setup{released("o-1")},
			op: func(s *SKU, order string) Effect {
				r, eff := s.Reserve(reserveAt(order, "msk-1", 3), testCatalog)
				if r.OK || r.Error != contract.ErrInvalidTransition {
					eff.Changed = true // reported as a wrong effect below
				}
				return eff
			},
			order: "o-1", duplicate: true, after: qty{10, 0, 2}, state: gone,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := build(t, append(append([]setup(nil), base...), tc.more...))
			seq := s.Seq
			eff := tc.op(s, tc.order)
			if eff.Changed != tc.changed || eff.Duplicate != tc.duplicate || eff.Stale || eff.Shortage != nil {
				t.Errorf("effect = %+v, want Changed=%v Duplicate=%v", eff, tc.changed, tc.duplicate)
			}
			if want := seq + map[bool]int64{true: 1}[tc.changed]; s.Seq != want {
				t.Errorf("seq = %d, want %d", s.Seq, want)
			}
			checkQuantities(t, s, map[string]qty{"msk-1": tc.after})
			state := gone
			if r := s.Reservation(tc.order); r != nil {
				state = map[uint8]string{Held: held, Committed: committed}[r.State]
			}
			if state != tc.state {
				t.Errorf("%s is %s, want %s", tc.order, state, tc.state)
			}
		})
	}
}

func confirmOp(s *SKU, order string) Effect { return s.Confirm(command(CmdConfirm, order)) }
func releaseOp(s *SKU, order string) Effect { return s.Release(command(CmdRelease, order)) }
func expireOp(s *SKU, order string) Effect  { return s.Expire(command(CmdExpire, order)) }
func shipOp(s *SKU, order string) Effect    { return s.Ship(command(CmdShip, order)) }

// TestDeliveredTwice: every command and feed message delivered a second time
// (a crash replay, a client retry) leaves the ledger as the first delivery
// left it, and a reserve answers the same again.
func TestDeliveredTwice(t *testing.T) {
	base := []setup{stockAt("msk-1", 10), hold("o-1", "msk-1", 3), hold("o-2", "msk-1", 2), confirmed("o-2")}
	tests := []struct {
		name string
		op   func(s *SKU) (Reply, Effect)
	}{
		{"reserve", func(s *SKU) (Reply, Effect) { return s.Reserve(reserveFor("o-3", "web", 4), testCatalog) }},
		{"refused reserve", func(s *SKU) (Reply, Effect) { return s.Reserve(reserveAt("o-3", "msk-1", 6), testCatalog) }},
		{"confirm", func(s *SKU) (Reply, Effect) { return Reply{}, s.Confirm(command(CmdConfirm, "o-1")) }},
		{"release", func(s *SKU) (Reply, Effect) { return Reply{}, s.Release(command(CmdRelease, "o-1")) }},
		{"expire", func(s *SKU) (Reply, Effect) { return Reply{}, s.Expire(command(CmdExpire, "o-1")) }},
		{"ship", func(s *SKU) (Reply, Effect) { return Reply{}, s.Ship(command(CmdShip, "o-2")) }},
		{"adjust", func(s *SKU) (Reply, Effect) { return Reply{}, s.Adjust(adjustMsg("msk-1", 4, "wms-1")) }},
		{"snapshot", func(s *SKU) (Reply, Effect) { return Reply{}, s.Snapshot(snapshotMsg("msk-1", 20, 2)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := build(t, base)
			before := string(s.AppendBinary(nil))
			reply1, eff1 := tc.op(s)
			once := string(s.AppendBinary(nil))
			reply2, eff2 := tc.op(s)
			if twice := string(s.AppendBinary(nil)); twice != once {
				t.Errorf("second delivery changed the ledger:\nonce  %v\ntwice %v", quantitiesOf(once), quantitiesOf(twice))
			}
			if eff2.Changed || eff2.Shortage != nil {
				t.Errorf("second delivery: effect %+v, want no change", eff2)
			}
			if eff1.Changed && !eff2.Duplicate {
				t.Errorf("second delivery not recognised as a duplicate: %+v", eff2)
			}
			if !eff1.Changed && once != before {
				t.Errorf("first delivery changed the ledger without saying so: %+v", eff1)
			}
			// The reply's Available is informational (what was left); the
			// answer itself must not change.
			reply1.Available, reply2.Available = 0, 0
			if reply1 != reply2 {
				t.Errorf("answers differ:\nfirst  %+v\nsecond %+v", reply1, reply2)
			}
		})
	}
}

func quantitiesOf(enc string) map[string]qty {
	s, err := UnmarshalSKU([]byte(enc))
	if err != nil {
		return nil
	}
	return quantities(&s)
}

func TestFeed(t *testing.T) {
	base := []setup{stockAt("msk-1", 10), hold("o-1", "msk-1", 6), hold("o-2", "msk-1", 2), confirmed("o-2")} // msk-1 10/6/2
	other := func(source string, loc string, onHand, version int64) contract.FeedMessage {
		f := snapshotMsg(loc, onHand, version)
		f.Source = source
		return f
	}
	tests := []struct {
		name                      string
		more                      []setup
		msg                       contract.FeedMessage
		changed, stale, duplicate bool
		shortage                  *Shortage
		after                     map[string]qty
	}{
		{name: "newer snapshot sets on_hand", msg: snapshotMsg("msk-1", 30, 2), changed: true, after: map[string]qty{"msk-1": {30, 6, 2}}},
		{name: "snapshot of a new location creates it", msg: snapshotMsg("spb-1", 5, 1), changed: true, after: map[string]qty{"msk-1": {10, 6, 2}, "spb-1": {5, 0, 0}}},
		{name: "older snapshot is ignored", more: []setup{resnapshot("msk-1", 12, 5)}, msg: snapshotMsg("msk-1", 99, 4), stale: true, after: map[string]qty{"msk-1": {12, 6, 2}}},
		{name: "same version again is a duplicate", more: []setup{resnapshot("msk-1", 12, 5)}, msg: snapshotMsg("msk-1", 99, 5), stale: true, duplicate: true, after: map[string]qty{"msk-1": {12, 6, 2}}},
		{name: "versions are per source", more: []setup{resnapshot("msk-1", 12, 5)}, msg: other("wms", "msk-1", 11, 1), changed: true, after: map[string]qty{"msk-1": {11, 6, 2}}},
		{name: "versions are per location", more: []setup{resnapshot("msk-1", 12, 5)}, msg: snapshotMsg("spb-1", 3, 1), changed: true, after: map[string]qty{"msk-1": {12, 6, 2}, "spb-1": {3, 0, 0}}},
		{
			name: "snapshot below what is promised reports the shortage", msg: snapshotMsg("msk-1", 5, 2), changed: true,
			shortage: &Shortage{SKU: "A", Location: "msk-1", OnHand: 5, Reserved: 6, Committed: 2, Short: 3, Cause: contract.Snapshot},
			after:    map[string]qty{"msk-1": {5, 6, 2}},
		},
		{name: "snapshot exactly covering the promises is no shortage", msg: snapshotMsg("msk-1", 8, 2), changed: true, after: map[string]qty{"msk-1": {8, 6, 2}}},
		{name: "adjust adds its delta", msg: adjustMsg("msk-1", 7, "wms-1"), changed: true, after: map[string]qty{"msk-1": {17, 6, 2}}},
		{name: "adjust of a new location creates it", msg: adjustMsg("spb-1", 4, "wms-1"), changed: true, after: map[string]qty{"msk-1": {10, 6, 2}, "spb-1": {4, 0, 0}}},
		{
			name: "adjust below what is promised reports the shortage", msg: adjustMsg("msk-1", -3, "wms-1"), changed: true,
			shortage: &Shortage{SKU: "A", Location: "msk-1", OnHand: 7, Reserved: 6, Committed: 2, Short: 1, Cause: contract.Adjust},
			after:    map[string]qty{"msk-1": {7, 6, 2}},
		},
		{
			name: "an adjust id is remembered across RecentAdjusts-1 later adjusts",
			more: func() []setup {
				steps := []setup{func(t *testing.T, s *SKU) { must(t, "adjust", s.Adjust(adjustMsg("msk-1", 1, "first"))) }}
				for i := range RecentAdjusts - 1 {
					steps = append(steps, func(t *testing.T, s *SKU) {
						must(t, "adjust", s.Adjust(adjustMsg("msk-1", 1, fmt.Sprintf("wms-%d", i))))
					})
				}
				return steps
			}(),
			msg: adjustMsg("msk-1", 1, "first"), duplicate: true, after: map[string]qty{"msk-1": {10 + RecentAdjusts, 6, 2}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := build(t, append(append([]setup(nil), base...), tc.more...))
			var eff Effect
			if tc.msg.Type == contract.Snapshot {
				eff = s.Snapshot(tc.msg)
			} else {
				eff = s.Adjust(tc.msg)
			}
			if eff.Changed != tc.changed || eff.Stale != tc.stale || eff.Duplicate != tc.duplicate {
				t.Errorf("effect = %+v, want Changed=%v Stale=%v Duplicate=%v", eff, tc.changed, tc.stale, tc.duplicate)
			}
			switch {
			case (eff.Shortage == nil) != (tc.shortage == nil):
				t.Errorf("shortage = %+v, want %+v", eff.Shortage, tc.shortage)
			case tc.shortage != nil && *eff.Shortage != *tc.shortage:
				t.Errorf("shortage = %+v\nwant       %+v", *eff.Shortage, *tc.shortage)
			}
			checkQuantities(t, s, tc.after)
		})
	}
}
