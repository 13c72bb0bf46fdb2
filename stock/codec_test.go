package stock

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"testing"
)

// equalSKU compares ledgers, an empty list being equal to none.
func equalSKU(a, b SKU) bool { return reflect.DeepEqual(normalize(a), normalize(b)) }

func normalize(s SKU) SKU {
	nilIfEmpty := func(n int) bool { return n == 0 }
	if nilIfEmpty(len(s.Locations)) {
		s.Locations = nil
	}
	if nilIfEmpty(len(s.Reservations)) {
		s.Reservations = nil
	}
	if nilIfEmpty(len(s.Finished)) {
		s.Finished = nil
	}
	if nilIfEmpty(len(s.Adjusts)) {
		s.Adjusts = nil
	}
	locs := make([]Location, len(s.Locations))
	for i, l := range s.Locations {
		if len(l.Versions) == 0 {
			l.Versions = nil
		}
		locs[i] = l
	}
	if s.Locations != nil {
		s.Locations = locs
	}
	return s
}

// sampleSKUs are ledgers of every shape the encoding must carry.
var sampleSKUs = []struct {
	name string
	sku  SKU
}{
	{"empty", SKU{}},
	{"one location, no history", SKU{Seq: 1, Locations: []Location{{Name: "msk-1", OnHand: 10}}}},
	{"full", SKU{
		Seq: 42,
		Locations: []Location{
			{Name: "dark-1", OnHand: 5, Reserved: 6, Committed: 2, Versions: []SourceVersion{{"erp", 1700000000}, {"wms", 3}}},
			{Name: "msk-1", OnHand: 120, Reserved: 3, Committed: 4, Versions: []SourceVersion{{"erp", 7}}},
		},
		Reservations: []Reservation{
			{OrderID: "o-1", Location: "msk-1", Qty: 3, State: Held, ExpiresAt: 1700000900000},
			{OrderID: "o-2", Location: "msk-1", Qty: 4, State: Committed, ExpiresAt: 1700000900001},
			{OrderID: "o-3", Location: "dark-1", Qty: 8, State: Held},
		},
		Finished: []string{"o-0", "o-00"},
		Adjusts:  []string{"wms-1"},
	}},
	{"extremes", SKU{
		Seq:          math.MaxInt64,
		Locations:    []Location{{Name: "", OnHand: math.MinInt64, Reserved: math.MaxInt64, Committed: -1, Versions: []SourceVersion{{"", math.MinInt64}}}},
		Reservations: []Reservation{{OrderID: "заказ-№1 🛒", Location: "", Qty: math.MaxInt64, State: Committed, ExpiresAt: math.MinInt64}},
		Finished:     []string{""},
		Adjusts:      []string{string(bytes.Repeat([]byte("x"), 300))},
	}},
}

func TestCodecRoundTrip(t *testing.T) {
	for _, tc := range sampleSKUs {
		t.Run(tc.name, func(t *testing.T) {
			enc := tc.sku.AppendBinary([]byte("prefix"))
			if !bytes.HasPrefix(enc, []byte("prefix")) {
				t.Fatalf("AppendBinary did not append: %q", enc)
			}
			enc = enc[len("prefix"):]
			got, err := UnmarshalSKU(enc)
			if err != nil {
				t.Fatalf("UnmarshalSKU: %v", err)
			}
			if !equalSKU(got, tc.sku) {
				t.Errorf("round trip:\n got  %+v\n want %+v", got, tc.sku)
			}
			if again := got.AppendBinary(nil); !bytes.Equal(again, enc) {
				t.Errorf("re-encoding differs:\n%x\n%x", again, enc)
			}
		})
	}
}

func TestCodecCorrupt(t *testing.T) {
	full := sampleSKUs[2].sku.AppendBinary(nil)
	uv := func(v uint64) []byte { return binary.AppendUvarint(nil, v) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name string
		data []byte
	}{
		{name: "nil", data: nil},
		{name: "empty", data: []byte{}},
		{name: "format 0", data: cat([]byte{0}, full[1:])},
		{name: "format 2 (a newer build)", data: cat([]byte{2}, full[1:])},
		{name: "format byte only", data: []byte{formatV1}},
		{name: "trailing byte", data: cat(full, []byte{0})},
		{name: "seq varint overflows", data: cat([]byte{formatV1}, bytes.Repeat([]byte{0xff}, 10), []byte{1})},
		{name: "location count beyond the data", data: cat([]byte{formatV1, 0}, uv(1<<40))},
		{name: "location count of 2^63", data: cat([]byte{formatV1, 0}, uv(1<<63))},
		{name: "name longer than the data", data: cat([]byte{formatV1, 0, 1}, uv(50), []byte("msk"))},
		{name: "reservation count beyond the data", data: cat([]byte{formatV1, 0, 0}, uv(5), []byte{0, 0})},
		{name: "finished ids beyond the data", data: cat([]byte{formatV1, 0, 0, 0}, uv(3), []byte{0})},
		{name: "adjust ids missing", data: []byte{formatV1, 0, 0, 0, 0}},
		{name: "seq 0 spelt as a two-byte varint", data: []byte{formatV1, 0x80, 0x00, 0, 0, 0, 0}},
		{name: "reservation state 7", data: []byte{formatV1, 0, 1, 1, 'a', 20, 4, 0, 0, 1, 1, 'o', 1, 'a', 4, 7, 0, 0, 0}},
		{name: "locations out of order", data: []byte{formatV1, 0, 2, 1, 'b', 2, 0, 0, 0, 1, 'a', 2, 0, 0, 0, 0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := UnmarshalSKU(tc.data)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("UnmarshalSKU(%x) = %+v, %v; want ErrCorrupt", tc.data, s, err)
			}
			if !equalSKU(s, SKU{}) {
				t.Errorf("a corrupt ledger decoded partly: %+v", s)
			}
		})
	}
	t.Run("every truncation", func(t *testing.T) {
		for n := range len(full) {
			if _, err := UnmarshalSKU(full[:n]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("first %d of %d bytes: err = %v, want ErrCorrupt", n, len(full), err)
			}
		}
	})
}

// FuzzUnmarshalSKU: any bytes either decode or fail with ErrCorrupt, never
// panic; a ledger that decodes re-encodes to a ledger equal to it, and with
// -known-bugs to the very bytes it came from (one ledger, one encoding).
func FuzzUnmarshalSKU(f *testing.F) {
	for _, tc := range sampleSKUs {
		f.Add(tc.sku.AppendBinary(nil))
	}
	f.Add([]byte{})
	f.Add([]byte{formatV1, 0, 0, 0, 0, 0})
	f.Add([]byte{formatV1, 0, 1, 1, 'a', 2, 4, 6, 0, 1, 1, 'o', 1, 'a', 2, 1, 0, 0, 0})
	f.Add([]byte{2, 0, 0, 0, 0, 0})
	f.Add([]byte{formatV1, 0xff, 0x00, 0, 0, 0, 0}) // seq −64 as a non-minimal varint (reported)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := UnmarshalSKU(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		enc := s.AppendBinary(nil)
		back, err := UnmarshalSKU(enc)
		if err != nil || !equalSKU(back, s) {
			t.Fatalf("re-encoded ledger does not decode to itself: %v\n%+v\n%+v", err, back, s)
		}
		if again := back.AppendBinary(nil); !bytes.Equal(again, enc) {
			t.Fatalf("re-encoding is not stable:\n%x\n%x", enc, again)
		}
		// Known bug (reported): non-minimal varints decode, so this fails
		// on the seed above within a second of fuzzing.
		if !bytes.Equal(enc, data) {
			t.Fatalf("decoded ledger re-encodes differently:\n in  %x\n out %x", data, enc)
		}
	})
}
