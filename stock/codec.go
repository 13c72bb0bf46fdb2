package stock

import (
	"errors"

	"github.com/stocksync/stocksync/internal/binenc"
)

// The table value is a compact binary encoding: the ledger is read and written
// on every command of the hot path, so JSON's cost and size are avoided.
// Layout (all integers varints): format, seq, locations, reservations,
// finished ids, adjust ids; strings are length-prefixed.
const formatV1 = 1

// ErrCorrupt is returned by Unmarshal for bytes that are not a ledger.
var ErrCorrupt = errors.New("stock: corrupt ledger encoding")

// AppendBinary appends the encoding of s to buf.
func (s *SKU) AppendBinary(buf []byte) []byte {
	buf = append(buf, formatV1)
	buf = binenc.AppendVarint(buf, s.Seq)
	buf = binenc.AppendUvarint(buf, uint64(len(s.Locations)))
	for i := range s.Locations {
		l := &s.Locations[i]
		buf = binenc.AppendString(buf, l.Name)
		buf = binenc.AppendVarint(buf, l.OnHand)
		buf = binenc.AppendVarint(buf, l.Reserved)
		buf = binenc.AppendVarint(buf, l.Committed)
		buf = binenc.AppendUvarint(buf, uint64(len(l.Versions)))
		for _, v := range l.Versions {
			buf = binenc.AppendString(buf, v.Source)
			buf = binenc.AppendVarint(buf, v.Version)
		}
	}
	buf = binenc.AppendUvarint(buf, uint64(len(s.Reservations)))
	for i := range s.Reservations {
		r := &s.Reservations[i]
		buf = binenc.AppendString(buf, r.OrderID)
		buf = binenc.AppendString(buf, r.Location)
		buf = binenc.AppendVarint(buf, r.Qty)
		buf = append(buf, r.State)
		buf = binenc.AppendVarint(buf, r.ExpiresAt)
	}
	buf = binenc.AppendStrings(buf, s.Finished)
	return binenc.AppendStrings(buf, s.Adjusts)
}

// UnmarshalSKU decodes a ledger written by AppendBinary.
func UnmarshalSKU(data []byte) (SKU, error) {
	var s SKU
	d, _, err := binenc.Open(data, nil, ErrCorrupt, formatV1)
	if err != nil {
		return s, err
	}
	s.Seq = d.Varint()
	if n := d.Count(); n > 0 {
		s.Locations = make([]Location, n)
		for i := range s.Locations {
			l := &s.Locations[i]
			l.Name = d.String()
			l.OnHand, l.Reserved, l.Committed = d.Varint(), d.Varint(), d.Varint()
			if m := d.Count(); m > 0 {
				l.Versions = make([]SourceVersion, m)
				for j := range l.Versions {
					l.Versions[j] = SourceVersion{Source: d.String(), Version: d.Varint()}
				}
			}
		}
	}
	if n := d.Count(); n > 0 {
		s.Reservations = make([]Reservation, n)
		for i := range s.Reservations {
			r := Reservation{OrderID: d.String(), Location: d.String(), Qty: d.Varint(), State: d.Byte(), ExpiresAt: d.Varint()}
			if r.State != Held && r.State != Committed {
				d.Fail("reservation state")
			}
			if i > 0 && s.Reservations[i-1].OrderID >= r.OrderID {
				d.Fail("reservation order")
			}
			s.Reservations[i] = r
		}
	}
	for i := 1; i < len(s.Locations); i++ {
		if s.Locations[i-1].Name >= s.Locations[i].Name {
			d.Fail("location order")
		}
	}
	s.Finished = d.Strings()
	s.Adjusts = d.Strings()
	if err := d.Finish(); err != nil {
		return SKU{}, err
	}
	return s, nil
}
