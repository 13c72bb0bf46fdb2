package inventory

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stocksync/stocksync/topology"
)

func TestRepartitionPlacesStateByTheNewCount(t *testing.T) {
	const n, m = 2, 6
	// route a; b and c share an old partition other than a's and part
	// under the new count, c away from a; an order id that was its own
	// directory entry (same old partition as a) and is not any more.
	pick := func(ok func(s string) bool) string {
		for i := 0; ; i++ {
			if s := fmt.Sprintf("S-%d", i); ok(s) {
				return s
			}
		}
	}
	old, neu := func(s string) int32 { return topology.PartitionOf(s, n) }, func(s string) int32 { return topology.PartitionOf(s, m) }
	a := pick(func(string) bool { return true })
	b := pick(func(s string) bool { return old(s) != old(a) && neu(s) != neu(a) })
	c := pick(func(s string) bool { return old(s) == old(b) && neu(s) != neu(b) && neu(s) != neu(a) })
	id := pick(func(s string) bool { return old("o"+s) == old(a) && neu("o"+s) != neu(a) })
	id = "o" + id
	lines := []orderLine{{SKU: a, Qty: 1, Location: "w"}, {SKU: b, Qty: 2, Location: "w"}, {SKU: c, Qty: 3, Location: "w"}}
	o := &order{ID: id, State: Reserved, Route: a, Lines: lines, Digest: 7}
	pending := &order{ID: "p1", State: Pending, Route: b, Lines: lines[1:2], Waiting: &waiting{Step: "reserve", Answers: 1}}
	from := make([]map[string][]byte, n)
	for i := range from {
		from[i] = map[string][]byte{}
	}
	for _, s := range []string{a, b, c} {
		from[old(s)][s] = []byte("ledger of " + s)
		from[old(s)][channelsKey(s)] = []byte("push state of " + s)
	}
	from[old(a)][orderKey(id)] = o.encode()
	from[old(b)][orderKey("p1")] = pending.encode()
	from[old(b)][holdKey(id)] = mustJSON(hold{Route: a, Lines: lines[1:], Until: 99})

	out, waiting, err := Repartition(from, m)
	if err != nil {
		t.Fatal(err)
	}
	if waiting != 1 {
		t.Errorf("waiting = %d, want 1 (the pending order)", waiting)
	}
	for _, s := range []string{a, b, c} {
		if string(out[neu(s)][s]) != "ledger of "+s || string(out[neu(s)][channelsKey(s)]) != "push state of "+s {
			t.Errorf("SKU %s: ledger or push state not at its new partition %d", s, neu(s))
		}
	}
	if out[neu(a)][orderKey(id)] == nil {
		t.Errorf("order %s not at its route's new partition %d", id, neu(a))
	}
	if e, err := decodeDir(out[neu(id)][dirKey(id)]); err != nil || e.Route != a || e.Digest != 7 || e.Rejected {
		t.Errorf("order %s, now away from its id's partition, has no directory entry leading to %s: %+v (%v)", id, a, e, err)
	}
	for _, s := range []string{b, c} {
		var h hold
		if err := json.Unmarshal(out[neu(s)][holdKey(id)], &h); err != nil || len(h.Lines) != 1 || h.Lines[0].SKU != s || h.Until != 99 {
			t.Errorf("the hold of %s at its new partition %d: %s (%v)", s, neu(s), out[neu(s)][holdKey(id)], err)
		}
	}
	if _, _, err := Repartition([]map[string][]byte{{"\x00zz": nil}}, m); err == nil {
		t.Error("a key of an unknown kind was placed; want an error")
	}
}

func TestRepartitionKeepsTheAcceptedBodyWhereARefusedOneMeetsIt(t *testing.T) {
	const n, m = 4, 1 // every route meets on the one new partition
	acc := &order{ID: "o1", State: Reserved, Route: "A", Digest: 1}
	ref := &order{ID: "o1", State: Rejected, Route: "B", Digest: 2}
	from := make([]map[string][]byte, n)
	for i := range from {
		from[i] = map[string][]byte{}
	}
	from[0][orderKey("o1")] = ref.encode()
	from[1][orderKey("o1")] = acc.encode()
	out, _, err := Repartition(from, m)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := decodeOrder(out[0][orderKey("o1")]); got == nil || got.State != Reserved {
		t.Errorf("order o1 after the repartition: %+v, want the accepted (reserved) body", got)
	}
}
