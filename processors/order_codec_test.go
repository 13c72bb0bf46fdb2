package processors

import (
	"errors"
	"reflect"
	"testing"

	"github.com/stocksync/stocksync/contract"
)

func TestOrderCodec(t *testing.T) {
	avail := int64(1)
	for name, o := range map[string]*order{
		"pending": {ID: "o-1", State: contract.StatePending, Channel: "web", Digest: 1<<64 - 1, At: 1700000000000, ExpiresAt: 1700000900000,
			Lines: []orderLine{{SKU: "A", Qty: 2}, {SKU: "B", Qty: 1, Location: "msk-1", Answered: true, OK: true}}},
		"rejected": {ID: "o-2", State: contract.StatusRejected, At: 5, Lines: []orderLine{{SKU: "A", Qty: 5, Answered: true, Error: contract.ErrInsufficientStock, Available: 1}},
			Answer: &contract.OrderResult{OrderID: "o-2", Type: contract.Reserve, Status: contract.StatusRejected,
				Error: &contract.Reason{Type: contract.ErrInsufficientStock, Message: "not enough stock to reserve", SKU: "A", Requested: 5, Available: &avail}}},
		"confirming": {ID: "o-3", State: contract.StatusReserved, Step: contract.Confirm, Lines: []orderLine{{SKU: "A", Qty: 1, Location: "spb-1", Answered: true, OK: true, Acked: true}},
			Answer: &contract.OrderResult{OrderID: "o-3", Type: contract.Reserve, Status: contract.StatusReserved, ExpiresAt: "2026-01-01T00:00:00Z",
				Lines: []contract.Line{{SKU: "A", Qty: 1, Location: "spb-1"}}}},
	} {
		raw := o.appendBinary(nil)
		got, err := decodeOrder(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, o) {
			t.Errorf("%s round trip:\n got %+v\nwant %+v", name, got, o)
		}
		for what, bad := range map[string][]byte{"truncated": raw[:len(raw)-1], "trailing": append(raw[:len(raw):len(raw)], 0), "format": append([]byte{9}, raw[1:]...)} {
			if _, err := decodeOrder(bad); !errors.Is(err, ErrCorruptOrder) {
				t.Errorf("%s, %s: got %v, want ErrCorruptOrder", name, what, err)
			}
		}
	}
	legacy, err := decodeOrder([]byte(`{"id":"o-9","state":"reserved","digest":3,"at":1,"expires_at":2,"lines":[{"sku":"A","qty":1,"location":"msk-1","answered":true,"ok":true}]}`))
	if err != nil || legacy.ID != "o-9" || legacy.State != contract.StatusReserved || len(legacy.Lines) != 1 || !legacy.Lines[0].OK {
		t.Fatalf("an order written as JSON by an earlier build: %+v, %v", legacy, err)
	}
}

// FuzzDecodeOrder: any bytes decode or fail cleanly, and a binary value that
// decodes encodes back to the same bytes.
func FuzzDecodeOrder(f *testing.F) {
	avail := int64(2)
	f.Add((&order{ID: "o", State: contract.StatusReserved, Lines: []orderLine{{SKU: "A", Qty: 1, Answered: true, OK: true}},
		Answer: &contract.OrderResult{OrderID: "o", Error: &contract.Reason{Type: "x", Available: &avail}}}).appendBinary(nil))
	f.Add([]byte(`{"id":"o"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		o, err := decodeOrder(raw)
		if err != nil || (len(raw) > 0 && (raw[0] == '{' || raw[0] == orderFormatV1)) {
			return // earlier formats are read, and written anew in the current one
		}
		if again := o.appendBinary(nil); string(again) != string(raw) {
			t.Fatalf("decoded %x, re-encoded %x", raw, again)
		}
	})
}
