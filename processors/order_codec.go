package processors

import (
	"errors"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/internal/binenc"
)

// The orders table value is binary, like the ledger: it is decoded and
// encoded at each step of every order. Layout (integers varints, strings
// length-prefixed, booleans a byte): format, id, state, channel, digest, at,
// expires_at, step, lines (sku, qty, location, flags, error, available),
// then the first answer when there is one. Format 2 adds the reserve's
// ttl_s, the request ids awaiting the reserve's decision and the step's
// answer, and the request id of the stored answer; format 1 is still read.
const (
	orderFormatV1 = 1
	orderFormatV2 = 2
)

// ErrCorruptOrder is returned for bytes that are not an orders table value.
var ErrCorruptOrder = errors.New("processors: corrupt order state")

// line flags
const (
	flagAnswered = 1 << iota
	flagOK
	flagAcked
)

func (o *order) appendBinary(buf []byte) []byte {
	buf = append(buf, orderFormatV2)
	buf = binenc.AppendString(buf, o.ID)
	buf = binenc.AppendString(buf, o.State)
	buf = binenc.AppendString(buf, o.Channel)
	buf = binenc.AppendUvarint(buf, o.Digest)
	buf = binenc.AppendVarint(buf, o.At)
	buf = binenc.AppendVarint(buf, o.ExpiresAt)
	buf = binenc.AppendString(buf, o.Step)
	buf = binenc.AppendUvarint(buf, uint64(len(o.Lines)))
	for _, l := range o.Lines {
		var flags byte
		if l.Answered {
			flags |= flagAnswered
		}
		if l.OK {
			flags |= flagOK
		}
		if l.Acked {
			flags |= flagAcked
		}
		buf = binenc.AppendString(buf, l.SKU)
		buf = binenc.AppendVarint(buf, l.Qty)
		buf = binenc.AppendString(buf, l.Location)
		buf = append(buf, flags)
		buf = binenc.AppendString(buf, l.Error)
		buf = binenc.AppendVarint(buf, l.Available)
	}
	buf = binenc.AppendVarint(buf, o.TTLS)
	buf = binenc.AppendStrings(buf, o.Waiting)
	buf = binenc.AppendStrings(buf, o.StepWaiting)
	if o.Answer == nil {
		return append(buf, 0)
	}
	return contract.AppendResult(append(buf, 1), o.Answer)
}

// decodeOrder decodes an orders table value; values written as JSON by
// builds before the binary encoding are read too.
func decodeOrder(v []byte) (*order, error) {
	o := new(order)
	d, format, err := binenc.Open(v, o, ErrCorruptOrder, orderFormatV1, orderFormatV2)
	if err != nil {
		return nil, err
	}
	if d == nil { // an earlier build's JSON
		return o, nil
	}
	o.ID, o.State, o.Channel = d.String(), d.String(), d.String()
	o.Digest, o.At, o.ExpiresAt, o.Step = d.Uvarint(), d.Varint(), d.Varint(), d.String()
	if n := d.Count(); n > 0 {
		o.Lines = make([]orderLine, n)
		for i := range o.Lines {
			l := orderLine{SKU: d.String(), Qty: d.Varint(), Location: d.String()}
			flags := d.Byte()
			if flags&^(flagAnswered|flagOK|flagAcked) != 0 {
				d.Fail("line flags")
			}
			l.Answered, l.OK, l.Acked = flags&flagAnswered != 0, flags&flagOK != 0, flags&flagAcked != 0
			l.Error, l.Available = d.String(), d.Varint()
			o.Lines[i] = l
		}
	}
	if format >= orderFormatV2 {
		o.TTLS = d.Varint()
		o.Waiting = d.Strings()
		o.StepWaiting = d.Strings()
	}
	if d.Bool() {
		o.Answer = contract.ReadResult(d, format >= orderFormatV2)
	}
	if err := d.Finish(); err != nil {
		return nil, err
	}
	return o, nil
}
