package fraud

import (
	"strings"
	"testing"
)

func TestDecodeEvent(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		msg  string
		want string // "" = valid; otherwise part of the error
	}{
		{"return", KindReturns, `{"type":"return","return_id":"r1","store":"s1","cashier":"k1","customer_id":"c1","sku":"A","qty":1,"amount":9.5,"reason":"size","receipt_id":"rc1","ts":"2026-11-01T10:00:00Z"}`, ""},
		{"return without receipt", KindReturns, `{"type":"return","return_id":"r1","store":"s1","cashier":"k1","customer_id":"c1","sku":"A","qty":1,"amount":0,"ts":"2026-11-01T10:00:00Z"}`, ""},
		{"accrual", KindLoyalty, `{"type":"accrual","event_id":"e1","store":"s1","customer_id":"c1","points":10,"receipt_id":"rc1","ts":"2026-11-01T10:00:00+03:00"}`, ""},
		{"sale", KindSales, `{"type":"sale","sale_id":"l1","store":"s1","cashier":"k1","customer_id":"c1","sku":"A","qty":2,"amount":20,"receipt_id":"rc1","ts":"2026-11-01T10:00:00Z"}`, ""},
		{"unknown field", KindReturns, `{"type":"return","returnid":"r1"}`, `unknown field "returnid"`},
		{"wrong topic", KindLoyalty, `{"type":"return","return_id":"r1","store":"s1","cashier":"k1","customer_id":"c1","sku":"A","qty":1,"ts":"2026-11-01T10:00:00Z"}`, "does not belong on the loyalty topic"},
		{"no id", KindLoyalty, `{"type":"redemption","store":"s1","customer_id":"c1","points":10,"ts":"2026-11-01T10:00:00Z"}`, "event_id: must not be empty"},
		{"no time", KindLoyalty, `{"type":"redemption","event_id":"e1","store":"s1","customer_id":"c1","points":10}`, "ts: is required"},
		{"bad time", KindLoyalty, `{"type":"redemption","event_id":"e1","store":"s1","customer_id":"c1","points":10,"ts":"yesterday"}`, "bad JSON"},
		{"zero qty", KindReturns, `{"type":"return","return_id":"r1","store":"s1","cashier":"k1","customer_id":"c1","sku":"A","qty":0,"ts":"2026-11-01T10:00:00Z"}`, "qty: 0 must be above 0"},
		{"negative amount", KindReturns, `{"type":"return","return_id":"r1","store":"s1","cashier":"k1","customer_id":"c1","sku":"A","qty":1,"amount":-5,"ts":"2026-11-01T10:00:00Z"}`, "amount: -5 is outside"},
		{"points on a return", KindReturns, `{"type":"return","return_id":"r1","store":"s1","cashier":"k1","customer_id":"c1","sku":"A","qty":1,"points":3,"ts":"2026-11-01T10:00:00Z"}`, "points: belongs to loyalty"},
		{"no cashier on a return", KindReturns, `{"type":"return","return_id":"r1","store":"s1","customer_id":"c1","sku":"A","qty":1,"ts":"2026-11-01T10:00:00Z"}`, "cashier: must not be empty"},
		{"zero points", KindLoyalty, `{"type":"accrual","event_id":"e1","store":"s1","customer_id":"c1","points":0,"ts":"2026-11-01T10:00:00Z"}`, "points: 0 must be above 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEvent(tt.kind, []byte(tt.msg))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("valid event refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
