package fraud

import (
	"errors"
	"reflect"
	"testing"
)

func TestRowCodecsRoundTrip(t *testing.T) {
	c := &customerState{Newest: 1700000000000, Seen: map[string]int64{"r1": 1, "é/x": -2},
		Returns: []returnRec{{ID: "r1", TS: 1, Amount: 12.5, Unmatched: true}},
		Loyalty: []loyaltyRec{{ID: "e1", TS: 2, Redemption: true, Points: 300}},
		Sales:   []saleRec{{Receipt: "rc", SKU: "A", Qty: 2, TS: 3}},
		Own:     map[string]*EWMA{"returns_count": {Mean: 1.5, Var: 0.25, N: 7}}, Alerted: map[string]int64{"rule": 9}}
	s := &storeState{Newest: 5, Seen: map[string]int64{"r1": 5}, Refunds: []refundRec{{ID: "r1", TS: 5, Cashier: "k1"}},
		Own:     map[string]map[string]*EWMA{"k1": {"cashier_refund_share": {Mean: 0.2, Var: 0.01, N: 30}}},
		Alerted: map[string]int64{"k1\x00rule": 5}}
	tests := []struct {
		name  string
		codec interface {
			Encode(any) ([]byte, error)
			Decode([]byte) (any, error)
		}
		row any
	}{{"customer", customerCodec{}, c}, {"store", storeCodec{}, s}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.codec.Encode(tt.row)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tt.codec.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.row) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tt.row)
			}
			for _, bad := range [][]byte{nil, {9}, b[:len(b)-1], append(b, 0)} {
				if _, err := tt.codec.Decode(bad); !errors.Is(err, errCorruptRow) {
					t.Errorf("Decode(%x) = %v, want errCorruptRow", bad, err)
				}
			}
		})
	}
}
