package contract_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/stock"
)

// FuzzMarshalAgrees holds that what contract.Marshal writes for every
// record it is used for reads as what encoding/json writes, whatever the
// strings hold (HTML characters, control characters, invalid UTF-8, line
// separators) and whichever optional fields are set. The bytes differ
// only in escapes (goccy writes \b as \u0008, encoding/json as \b).
func FuzzMarshalAgrees(f *testing.F) {
	for _, seed := range []struct {
		a, b string
		n    int64
	}{
		{"o-1", "B000123", 17}, {"", "", 0}, {"<a&b>", "\u2028\u2029", -1}, {"\x00\x1f\"\\", "\xff\xfe", 1 << 62},
		{"\t\n\r\b\f", "é€😀", -1 << 63}, {"\xed\xa0\x80", "a\x80b", 3},
	} {
		f.Add(seed.a, seed.b, seed.n)
	}
	f.Fuzz(func(t *testing.T, a, b string, n int64) {
		avail := n / 2
		lines := []contract.Line{{SKU: a, Qty: n, Location: b}, {SKU: b, Qty: 1}}
		records := []any{
			&contract.OrderResult{OrderID: a, RequestID: b, Type: contract.Reserve, Status: contract.StatusReserved, Lines: lines, ExpiresAt: b},
			&contract.OrderResult{OrderID: a, Type: b, Status: contract.StatusRejected, Error: &contract.Reason{Type: a, Message: b, SKU: a,
				Location: b, Requested: n, Available: &avail, State: a, Accepted: &contract.AcceptedOrder{Lines: lines, Channel: b}}},
			&contract.OrderResult{OrderID: a, Type: a, Status: b, Error: &contract.Reason{Type: b}},
			&contract.ChannelStock{Channel: a, SKU: b, Available: n, Version: avail},
			&stock.Change{SKU: a, Seq: n, Cause: b, At: avail, Locations: []stock.LocationQty{{Location: b, OnHand: n, Reserved: avail}}},
			&stock.Change{SKU: b},
			&contract.OrderCommand{Type: contract.Reserve, OrderID: a, Lines: lines, Channel: b, TTLS: n, RequestID: a}, // the Go client's commands
			&contract.OrderCommand{Type: a, OrderID: b},
		}
		for _, v := range records {
			want, werr := json.Marshal(v)
			got, gerr := contract.Marshal(v)
			if werr != nil || gerr != nil {
				t.Fatalf("%T: encoding/json: %v, contract.Marshal: %v", v, werr, gerr)
			}
			if bytes.Equal(got, want) {
				continue
			}
			// Not the same bytes: still the same values to any reader.
			gv, wv := reflect.New(reflect.TypeOf(v).Elem()).Interface(), reflect.New(reflect.TypeOf(v).Elem()).Interface()
			if !json.Valid(got) || json.Unmarshal(got, gv) != nil || json.Unmarshal(want, wv) != nil || !reflect.DeepEqual(gv, wv) {
				t.Fatalf("%T: contract.Marshal wrote\n%s\nwhich does not read as encoding/json's\n%s", v, got, want)
			}
		}
	})
}
