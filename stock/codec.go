package stock

import (
	"encoding/binary"
	"errors"
	"fmt"
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
	buf = binary.AppendVarint(buf, s.Seq)
	buf = binary.AppendUvarint(buf, uint64(len(s.Locations)))
	for i := range s.Locations {
		l := &s.Locations[i]
		buf = appendString(buf, l.Name)
		buf = binary.AppendVarint(buf, l.OnHand)
		buf = binary.AppendVarint(buf, l.Reserved)
		buf = binary.AppendVarint(buf, l.Committed)
		buf = binary.AppendUvarint(buf, uint64(len(l.Versions)))
		for _, v := range l.Versions {
			buf = appendString(buf, v.Source)
			buf = binary.AppendVarint(buf, v.Version)
		}
	}
	buf = binary.AppendUvarint(buf, uint64(len(s.Reservations)))
	for i := range s.Reservations {
		r := &s.Reservations[i]
		buf = appendString(buf, r.OrderID)
		buf = appendString(buf, r.Location)
		buf = binary.AppendVarint(buf, r.Qty)
		buf = append(buf, r.State)
		buf = binary.AppendVarint(buf, r.ExpiresAt)
	}
	buf = appendStrings(buf, s.Finished)
	return appendStrings(buf, s.Adjusts)
}

// UnmarshalSKU decodes a ledger written by AppendBinary.
func UnmarshalSKU(data []byte) (SKU, error) {
	d := decoder{b: data}
	var s SKU
	if f := d.byte(); f != formatV1 {
		return s, fmt.Errorf("%w: format %d, this build reads %d", ErrCorrupt, f, formatV1)
	}
	s.Seq = d.varint()
	if n := d.count(); n > 0 {
		s.Locations = make([]Location, n)
		for i := range s.Locations {
			l := &s.Locations[i]
			l.Name = d.string()
			l.OnHand, l.Reserved, l.Committed = d.varint(), d.varint(), d.varint()
			if m := d.count(); m > 0 {
				l.Versions = make([]SourceVersion, m)
				for j := range l.Versions {
					l.Versions[j] = SourceVersion{Source: d.string(), Version: d.varint()}
				}
			}
		}
	}
	if n := d.count(); n > 0 {
		s.Reservations = make([]Reservation, n)
		for i := range s.Reservations {
			r := Reservation{OrderID: d.string(), Location: d.string(), Qty: d.varint(), State: d.byte(), ExpiresAt: d.varint()}
			if r.State != Held && r.State != Committed {
				d.fail("reservation state")
			}
			if i > 0 && s.Reservations[i-1].OrderID >= r.OrderID {
				d.fail("reservation order")
			}
			s.Reservations[i] = r
		}
	}
	for i := 1; i < len(s.Locations); i++ {
		if s.Locations[i-1].Name >= s.Locations[i].Name {
			d.fail("location order")
		}
	}
	s.Finished = d.strings()
	s.Adjusts = d.strings()
	if d.err != nil {
		return SKU{}, d.err
	}
	if len(d.b) != 0 {
		return SKU{}, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	return s, nil
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func appendStrings(buf []byte, ss []string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(ss)))
	for _, s := range ss {
		buf = appendString(buf, s)
	}
	return buf
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) byte() uint8 {
	if len(d.b) < 1 {
		d.fail("byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 || n != varintLen(v) {
		d.fail("integer") // truncated, or not the shortest form: one ledger, one encoding
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length, bounded by the bytes left so corrupt input cannot
// make it allocate without limit.
func (d *decoder) count() int {
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > uint64(len(d.b)) || n != uvarintLen(v) {
		d.fail("length")
		return 0
	}
	d.b = d.b[n:]
	return int(v)
}

func (d *decoder) string() string {
	n := d.count()
	if n > len(d.b) {
		d.fail("string")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strings() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.string()
	}
	return out
}

func varintLen(v int64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutVarint(b[:], v)
}

func uvarintLen(v uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], v)
}
