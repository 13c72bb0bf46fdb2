package inventory

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"reflect"
	"testing"

	"github.com/stocksync/stocksync/contract"
)

func codecOrders() []*order {
	avail := int64(0)
	accepted := &contract.AcceptedOrder{Lines: []contract.Line{{SKU: "milk", Qty: 2, Location: "dc-1"}}, Channel: "web", TTLS: 600}
	return []*order{
		{ID: "o-1", State: Reserved, Route: "milk", Channel: "web", TTLS: 600, Digest: 1<<63 + 7, ExpiresAt: 1764646464000,
			Lines: []orderLine{{SKU: "milk", Qty: 2, Location: "dc-1"}, {SKU: "bread", Qty: 1, Requested: "shop-9", Location: "shop-9"}},
			Answer: contract.OrderResult{OrderID: "o-1", RequestID: "r-1", Type: contract.Reserve, Status: contract.StatusReserved,
				Lines: []contract.Line{{SKU: "milk", Qty: 2, Location: "dc-1"}}, ExpiresAt: "2026-12-02T03:04:05.678Z"}},
		{ID: "o-2", State: Rejected, Route: "milk", Digest: 3, FinishedAt: 1764646465000, Claimed: true,
			Lines: []orderLine{{SKU: "milk", Qty: 5}},
			Answer: contract.OrderResult{OrderID: "o-2", RequestID: "r-2", Type: contract.Reserve, Status: contract.StatusRejected,
				Error: &contract.Reason{Type: contract.ErrConflict, Message: "used", SKU: "milk", Location: "dc-1", Requested: 5, Available: &avail, State: "x", Accepted: accepted}}},
		{ID: "o-3", State: Pending, Route: "tea",
			Waiting: &waiting{Step: "reserve", Answers: 2, Requests: []string{"r-3", "r-4"},
				Failure: &contract.Reason{Type: contract.ErrInsufficientStock, SKU: "tea", Accepted: accepted}}},
		{ID: "o-4", State: Confirmed, Waiting: &waiting{Step: "confirm", Answers: 1}},
	}
}

// An order value reads back as it was written, and a value an earlier
// build wrote as JSON reads as the same order.
func TestOrderCodecRoundTrip(t *testing.T) {
	for _, o := range codecOrders() {
		got, err := decodeOrder(o.encode())
		if err != nil {
			t.Fatalf("order %s: %v", o.ID, err)
		}
		if !reflect.DeepEqual(got, o) {
			t.Errorf("order %s read back as\n%+v\nwant\n%+v", o.ID, got, o)
		}
		old, _ := json.Marshal(o)
		fromJSON, err := decodeOrder(old)
		if err != nil {
			t.Fatalf("order %s as JSON: %v", o.ID, err)
		}
		if a, b := fromJSON.encode(), o.encode(); string(a) != string(b) {
			t.Errorf("order %s read from JSON differs from the order itself: %+v", o.ID, fromJSON)
		}
	}
}

func TestDirCodecRoundTrip(t *testing.T) {
	for _, e := range []*dirEntry{
		{Route: "milk", Digest: 42, Accepted: &contract.AcceptedOrder{Lines: []contract.Line{{SKU: "milk", Qty: 1}}, TTLS: 60}},
		{Route: "tea", Digest: 1, Rejected: true},
	} {
		got, err := decodeDir(e.encode())
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Errorf("directory entry %+v read back as %+v (%v)", e, got, err)
		}
		old, _ := json.Marshal(e)
		if got, err := decodeDir(old); err != nil || !reflect.DeepEqual(got, e) {
			t.Errorf("directory entry %+v as JSON read back as %+v (%v)", e, got, err)
		}
	}
}

// Bytes that are not a value of this build fail with errCorrupt, whatever
// their length.
func TestOrderCodecRefusesCorruptValues(t *testing.T) {
	good := codecOrders()[1].encode()
	bad := [][]byte{nil, {0}, {2}, append(append([]byte{}, good...), 0), []byte("{not json")}
	for i := 1; i < len(good); i++ {
		bad = append(bad, good[:i])
	}
	for _, v := range bad {
		if _, err := decodeOrder(v); !errors.Is(err, errCorrupt) {
			t.Errorf("decodeOrder(%q) = %v, want errCorrupt", v, err)
		}
		if _, err := decodeDir(v); !errors.Is(err, errCorrupt) {
			t.Errorf("decodeDir(%q) = %v, want errCorrupt", v, err)
		}
	}
}

// With JSONOrderValues the table gets JSON, as builds before the binary
// values wrote and read it (a rolling update's first step); without, the
// binary values. Both read back the same.
func TestOrderValuesForARollingUpdate(t *testing.T) {
	o := codecOrders()[1]
	e := &dirEntry{Route: "milk", Digest: 42, Rejected: true}
	for _, jsonValues := range []bool{true, false} {
		p := &Processor{cfg: Config{JSONOrderValues: jsonValues}}
		ov, dv := p.tableValue(o), p.tableValue(e)
		if isJSON := ov[0] == '{' && dv[0] == '{'; isJSON != jsonValues {
			t.Errorf("JSONOrderValues %v: values %q and %q", jsonValues, ov[:1], dv[:1])
		}
		if jsonValues { // what a build before them reads: encoding/json into the same types
			var older order
			if err := json.Unmarshal(ov, &older); err != nil || !reflect.DeepEqual(&older, o) {
				t.Errorf("an older build reads %+v (%v), want %+v", older, err, o)
			}
		}
		if got, err := decodeOrder(ov); err != nil || !reflect.DeepEqual(got, o) {
			t.Errorf("JSONOrderValues %v: order read back as %+v (%v)", jsonValues, got, err)
		}
		if got, err := decodeDir(dv); err != nil || !reflect.DeepEqual(got, e) {
			t.Errorf("JSONOrderValues %v: directory entry read back as %+v (%v)", jsonValues, got, err)
		}
	}
}

// Stored orders and directory entries keep a reserve's digest, and a repeat
// is told apart from a conflict by comparing digests: the bytes digest
// hashes must be those it hashed when it wrote them with fmt.
func FuzzDigestKeepsItsBytes(f *testing.F) {
	f.Add("web", int64(900), "SKU-1", "msk-wh-1", int64(2), "SKU-2", "", int64(-1))
	f.Add("", int64(0), "", "", int64(0), "\x00|", "\xff", int64(1<<62))
	f.Fuzz(func(t *testing.T, channel string, ttl int64, sku1, loc1 string, qty1 int64, sku2, loc2 string, qty2 int64) {
		c := contract.OrderCommand{Channel: channel, TTLS: ttl,
			Lines: []contract.Line{{SKU: sku1, Location: loc1, Qty: qty1}, {SKU: sku2, Location: loc2, Qty: qty2}}}
		for _, cmd := range []contract.OrderCommand{c, {Channel: channel, TTLS: ttl}} {
			h := fnv.New64a()
			fmt.Fprintf(h, "%s|%d", cmd.Channel, cmd.TTLS)
			for _, l := range cmd.Lines {
				fmt.Fprintf(h, "|%s\x00%s\x00%d", l.SKU, l.Location, l.Qty)
			}
			if got, want := digest(cmd), h.Sum64(); got != want {
				t.Fatalf("digest(%+v) = %x, written before as %x", cmd, got, want)
			}
		}
	})
}
