package inventory

import (
	"encoding/json"
	"errors"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/internal/binenc"
)

// Order values and directory entries are binary, like the ledger: every
// order writes one (or two), and as JSON they were most of the bytes the
// engine wrote to its changelog and to Pebble, and a tenth of its CPU in a
// flash sale (bench/README.md, round 7). Integers are varints, strings
// length-prefixed, optional parts behind a presence byte. Values written as
// JSON by earlier builds are still read: JSON starts with '{', a binary
// value with its format byte.
const (
	orderFormat = 1 // id, state, route, channel, ttl_s, digest, expires_at, finished_at, lines, answer (+ its reason's accepted body), claimed, waiting
	dirFormat   = 1 // route, digest, accepted, rejected
)

// errCorrupt is returned for bytes that are not an order or directory value.
var errCorrupt = errors.New("inventory: corrupt order value")

// tableValue is an order or a directory entry as the table stores it:
// binary, or JSON while older builds may read it (Config.JSONOrderValues).
func (p *Processor) tableValue(v interface{ encode() []byte }) []byte {
	if p.cfg.JSONOrderValues {
		b, _ := json.Marshal(v) // strings, numbers and slices of them: cannot fail
		return b
	}
	return v.encode()
}

func (o *order) encode() []byte {
	buf := make([]byte, 0, 160)
	buf = append(buf, orderFormat)
	buf = binenc.AppendString(buf, o.ID)
	buf = binenc.AppendString(buf, string(o.State))
	buf = binenc.AppendString(buf, o.Route)
	buf = binenc.AppendString(buf, o.Channel)
	buf = binenc.AppendVarint(buf, o.TTLS)
	buf = binenc.AppendUvarint(buf, o.Digest)
	buf = binenc.AppendVarint(buf, o.ExpiresAt)
	buf = binenc.AppendVarint(buf, o.FinishedAt)
	buf = binenc.AppendUvarint(buf, uint64(len(o.Lines)))
	for _, l := range o.Lines {
		buf = binenc.AppendString(buf, l.SKU)
		buf = binenc.AppendVarint(buf, l.Qty)
		buf = binenc.AppendString(buf, l.Requested)
		buf = binenc.AppendString(buf, l.Location)
	}
	buf = appendAnswer(buf, &o.Answer)
	buf = binenc.AppendBool(buf, o.Claimed)
	w := o.Waiting
	if w == nil {
		return append(buf, 0)
	}
	buf = append(buf, 1)
	buf = binenc.AppendString(buf, w.Step)
	buf = binenc.AppendVarint(buf, int64(w.Answers))
	buf = binenc.AppendStrings(buf, w.Requests)
	if w.Failure == nil {
		return append(buf, 0)
	}
	return appendReason(append(buf, 1), w.Failure)
}

func decodeOrder(v []byte) (*order, error) {
	o := new(order)
	d, _, err := binenc.Open(v, o, errCorrupt, orderFormat)
	if err != nil {
		return nil, err
	}
	if d == nil { // an earlier build's JSON
		return o, nil
	}
	o.ID, o.State, o.Route, o.Channel = d.String(), State(d.String()), d.String(), d.String()
	o.TTLS, o.Digest, o.ExpiresAt, o.FinishedAt = d.Varint(), d.Uvarint(), d.Varint(), d.Varint()
	if n := d.Count(); n > 0 {
		o.Lines = make([]orderLine, n)
		for i := range o.Lines {
			o.Lines[i] = orderLine{SKU: d.String(), Qty: d.Varint(), Requested: d.String(), Location: d.String()}
		}
	}
	o.Answer = *readAnswer(d)
	o.Claimed = d.Bool()
	if d.Bool() {
		w := &waiting{Step: d.String(), Answers: int(d.Varint()), Requests: d.Strings()}
		if d.Bool() {
			w.Failure = readReason(d)
		}
		o.Waiting = w
	}
	if err := d.Finish(); err != nil {
		return nil, err
	}
	return o, nil
}

func (e *dirEntry) encode() []byte {
	buf := append(make([]byte, 0, 64), dirFormat)
	buf = binenc.AppendString(buf, e.Route)
	buf = binenc.AppendUvarint(buf, e.Digest)
	buf = contract.AppendAccepted(buf, e.Accepted)
	return binenc.AppendBool(buf, e.Rejected)
}

func decodeDir(v []byte) (*dirEntry, error) {
	e := new(dirEntry)
	d, _, err := binenc.Open(v, e, errCorrupt, dirFormat)
	if err != nil {
		return nil, err
	}
	if d == nil { // an earlier build's JSON
		return e, nil
	}
	e.Route, e.Digest, e.Accepted, e.Rejected = d.String(), d.Uvarint(), contract.ReadAccepted(d), d.Bool()
	return e, d.Finish()
}

// appendAnswer appends a stored answer with its reason's accepted body,
// which the shared answer layout leaves out.
func appendAnswer(buf []byte, r *contract.OrderResult) []byte {
	buf = contract.AppendResult(buf, r)
	if r.Error == nil {
		return buf
	}
	return contract.AppendAccepted(buf, r.Error.Accepted)
}

func readAnswer(d *binenc.Decoder) *contract.OrderResult {
	r := contract.ReadResult(d, true)
	if r.Error != nil {
		r.Error.Accepted = contract.ReadAccepted(d)
	}
	return r
}

func appendReason(buf []byte, e *contract.Reason) []byte {
	return contract.AppendAccepted(contract.AppendReason(buf, e), e.Accepted)
}

func readReason(d *binenc.Decoder) *contract.Reason {
	e := contract.ReadReason(d)
	e.Accepted = contract.ReadAccepted(d)
	return e
}
