// Package binenc holds the pieces of stocksync's binary table encodings:
// varints, length-prefixed strings, and a strict decoder that accepts one
// encoding per value (shortest varints, lengths bounded by the input) so
// corrupt or foreign bytes fail instead of decoding into something else.
package binenc

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
)

// AppendVarint appends a signed varint.
func AppendVarint(buf []byte, v int64) []byte { return binary.AppendVarint(buf, v) }

// AppendUvarint appends an unsigned varint.
func AppendUvarint(buf []byte, v uint64) []byte { return binary.AppendUvarint(buf, v) }

// AppendString appends a length-prefixed string.
func AppendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// AppendBool appends a boolean as one byte, 0 or 1.
func AppendBool(buf []byte, b bool) []byte {
	if b {
		return append(buf, 1)
	}
	return append(buf, 0)
}

// AppendStrings appends a count and that many strings.
func AppendStrings(buf []byte, ss []string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(ss)))
	for _, s := range ss {
		buf = AppendString(buf, s)
	}
	return buf
}

// OldJSON decodes v into out if v is JSON, as the values of some tables
// were before their binary encodings (JSON starts with '{', a binary value
// with its format byte), and reports whether it was.
func OldJSON(v []byte, out any, corrupt error) (bool, error) {
	if len(v) == 0 || v[0] != '{' {
		return false, nil
	}
	if err := json.Unmarshal(v, out); err != nil {
		return true, fmt.Errorf("%w: %v", corrupt, err)
	}
	return true, nil
}

// Open starts reading a table value whose first byte is its format, one
// of formats, and returns the format. A value that is JSON (an earlier
// build's, see OldJSON) is decoded into old at once, and Open returns no
// Decoder; old is nil for a table that never held JSON.
func Open(v []byte, old any, corrupt error, formats ...byte) (*Decoder, byte, error) {
	if old != nil {
		if isJSON, err := OldJSON(v, old, corrupt); err != nil || isJSON {
			return nil, 0, err
		}
	}
	d := NewDecoder(v, corrupt)
	f := d.Byte()
	if !slices.Contains(formats, f) {
		// A copy, so that formats does not escape: a call on the hot path
		// allocates nothing.
		return nil, f, fmt.Errorf("%w: format %d, this build reads %v", corrupt, f, slices.Clone(formats))
	}
	return d, f, nil
}

// Decoder reads what the Append functions wrote. The first problem is kept
// in Err (wrapping Corrupt) and every later read returns a zero value.
type Decoder struct {
	b       []byte
	corrupt error
	Err     error
}

// NewDecoder reads data; its errors wrap corrupt.
func NewDecoder(data []byte, corrupt error) *Decoder { return &Decoder{b: data, corrupt: corrupt} }

// Fail records that what could not be read, unless something failed before.
func (d *Decoder) Fail(what string) {
	if d.Err == nil {
		d.Err = fmt.Errorf("%w: truncated or invalid %s", d.corrupt, what)
	}
	d.b = nil
}

// Finish returns the first error, or one for trailing bytes.
func (d *Decoder) Finish() error {
	if d.Err == nil && len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", d.corrupt, len(d.b))
	}
	return d.Err
}

// Byte reads one byte.
func (d *Decoder) Byte() uint8 {
	if len(d.b) < 1 {
		d.Fail("byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// Bool reads a byte that must be 0 or 1.
func (d *Decoder) Bool() bool {
	switch d.Byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.Fail("boolean")
	return false
}

// Varint reads a signed varint in its shortest form.
func (d *Decoder) Varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 || n != varintLen(v) {
		d.Fail("integer")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Uvarint reads an unsigned varint in its shortest form.
func (d *Decoder) Uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 || n != uvarintLen(v) {
		d.Fail("integer")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Count reads a length, bounded by the bytes left so corrupt input cannot
// make it allocate without limit.
func (d *Decoder) Count() int {
	v := d.Uvarint()
	if v > uint64(len(d.b)) {
		d.Fail("length")
		return 0
	}
	return int(v)
}

// String reads a length-prefixed string.
func (d *Decoder) String() string {
	n := d.Count()
	if n > len(d.b) {
		d.Fail("string")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// Strings reads a count and that many strings; nil for none.
func (d *Decoder) Strings() []string {
	n := d.Count()
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.String()
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
