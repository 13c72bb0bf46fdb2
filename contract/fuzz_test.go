package contract

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeOrderCommand holds that no input makes the decoder panic, and
// that what it accepts is within the contract's limits and survives a
// round trip: encoded again and decoded, it is the same command.
func FuzzDecodeOrderCommand(f *testing.F) {
	for _, seed := range []string{
		`{"type":"reserve","order_id":"o-1","lines":[{"sku":"A","qty":2}],"channel":"web","ttl_s":900}`,
		`{"type":"reserve","order_id":"o-1","lines":[{"sku":"A","qty":2,"location":"msk-1"},{"sku":"B","qty":1000000}]}`,
		`{"type":"confirm","order_id":"o-1"}`, `{"type":"release","order_id":"o-1"}`, `{"type":"ship","order_id":"o-1"}`,
		`{"type":"expire","order_id":"o-1"}`, `{"type":"confirm","order_id":"o-1","lines":[]}`,
		`{"type":"reserve","order_id":"","lines":[{"sku":"A","qty":0}]}`,
		`{"type":"reserve","order_id":"o\u0000","lines":[{"sku":"\ud800","qty":-1}],"ttl_s":604801}`,
		`{"type":"reserve","order_id":"o-1","lines":[{"sku":"A","qty":1},{"sku":"A","qty":1}]}`,
		`{"type":"reserve","ORDER_ID":"o-1","order_id":"o-2","lines":[{"SKU":"A","qty":1e2}]}`,
		`{"type":"x"}`, `null`, `[]`, `{}`, `{"type":"confirm","order_id":"o"} {}`, "\xff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeOrderCommand(data)
		if err != nil {
			if _, ok := err.(*InvalidError); !ok {
				t.Fatalf("error %T is not an *InvalidError: %v", err, err)
			}
			return
		}
		checkKey(t, "order_id", c.OrderID)
		switch c.Type {
		case Reserve:
			if len(c.Lines) == 0 || len(c.Lines) > MaxLines || c.TTLS < 1 || c.TTLS > MaxTTLS {
				t.Fatalf("accepted a reserve out of bounds: %d lines, ttl %d", len(c.Lines), c.TTLS)
			}
			seen := map[string]bool{}
			for _, l := range c.Lines {
				checkKey(t, "sku", l.SKU)
				if l.Location != "" {
					checkKey(t, "location", l.Location)
				}
				if l.Qty < 1 || l.Qty > MaxQty || seen[l.SKU] {
					t.Fatalf("accepted line %+v (seen before: %v)", l, seen[l.SKU])
				}
				seen[l.SKU] = true
			}
		case Confirm, Release, Ship, Expire:
			// A channel is not checked here: Validate ignores it on these
			// types (and the engine does too).
			if len(c.Lines) != 0 || c.TTLS != 0 {
				t.Fatalf("accepted a %s with lines or a ttl: %+v", c.Type, c)
			}
		default:
			t.Fatalf("accepted type %q", c.Type)
		}
		again := roundTrip(t, c, func(b []byte) (any, error) { return DecodeOrderCommand(b) })
		if again.(OrderCommand).OrderID != c.OrderID {
			t.Fatalf("round trip changed the order id")
		}
	})
}

// FuzzDecodeFeed holds the same of stock.feed messages.
func FuzzDecodeFeed(f *testing.F) {
	for _, seed := range []string{
		`{"type":"snapshot","sku":"A","location":"msk-1","on_hand":120,"source":"erp","version":1700000000}`,
		`{"type":"snapshot","sku":"A","location":"msk-1","on_hand":0,"source":"erp","version":1}`,
		`{"type":"adjust","sku":"A","location":"msk-1","delta":-3,"reason":"writeoff","id":"wms-123"}`,
		`{"type":"adjust","sku":"A","location":"msk-1","delta":1,"id":"x"}`,
		`{"type":"snapshot","sku":"A","location":"msk-1","source":"erp","version":1}`,
		`{"type":"snapshot","sku":"A","location":"msk-1","on_hand":1099511627777,"source":"erp","version":1}`,
		`{"type":"adjust","sku":"A","location":"msk-1","delta":0,"id":"x","on_hand":null}`,
		`{"type":"adjust","sku":"A","location":"l","delta":-9223372036854775808,"id":"x"}`,
		`{"type":"snapshot","sku":"A\u007f","location":"","on_hand":-1,"source":"","version":-1}`,
		`{"type":"snapshot","sku":"A","location":"msk-1","on_hand":1.5,"source":"erp","version":1}`,
		`null`, `{}`, `{"type":"adjust"}`, `[1]`, `"x"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeFeed(data)
		if err != nil {
			if _, ok := err.(*InvalidError); !ok {
				t.Fatalf("error %T is not an *InvalidError: %v", err, err)
			}
			return
		}
		checkKey(t, "sku", m.SKU)
		checkKey(t, "location", m.Location)
		switch m.Type {
		case Snapshot:
			if m.OnHand == nil || *m.OnHand < 0 || *m.OnHand > MaxOnHand || m.Version <= 0 || m.Delta != 0 || m.ID != "" {
				t.Fatalf("accepted snapshot %+v", m)
			}
			checkKey(t, "source", m.Source)
		case Adjust:
			if m.Delta == 0 || m.Delta > MaxOnHand || m.Delta < -MaxOnHand || m.OnHand != nil || m.Version != 0 {
				t.Fatalf("accepted adjust %+v", m)
			}
			checkKey(t, "id", m.ID)
		default:
			t.Fatalf("accepted type %q", m.Type)
		}
		roundTrip(t, m, func(b []byte) (any, error) { return DecodeFeed(b) })
	})
}

func checkKey(t *testing.T, field, s string) {
	t.Helper()
	if s == "" || len(s) > MaxKeyLen || !utf8.ValidString(s) {
		t.Fatalf("accepted %s %q", field, s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			t.Fatalf("accepted %s %q with a control character", field, s)
		}
	}
}

// roundTrip encodes v, decodes it with decode, and checks the result
// encodes to the same bytes and is within MaxMessageBytes.
func roundTrip(t *testing.T, v any, decode func([]byte) (any, error)) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode %+v: %v", v, err)
	}
	if len(b) > MaxMessageBytes {
		t.Fatalf("an accepted message encodes to %d bytes, over the limit", len(b))
	}
	again, err := decode(b)
	if err != nil {
		t.Fatalf("its own encoding %s is refused: %v", b, err)
	}
	b2, _ := json.Marshal(again)
	if !bytes.Equal(b, b2) {
		t.Fatalf("round trip changed it:\n%s\n%s", b, b2)
	}
	return again
}
