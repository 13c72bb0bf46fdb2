package fraud

import (
	"errors"
	"fmt"
	"math"

	"github.com/stocksync/stocksync/internal/binenc"
)

// errCorruptRow wraps a table row that does not decode.
var errCorruptRow = errors.New("fraud: corrupt table row")

// rowVersion leads every row, so a later layout can read older rows.
const rowVersion = 1

// Table rows are binary (internal/binenc): a busy customer's row holds a
// month of events, and as JSON its decode and encode were 95% of the time
// an event took (BenchmarkCustomerEvent: 150 µs, of a 1 s budget shared
// with everything else on the machine).

type customerCodec struct{}

func (customerCodec) Encode(v any) ([]byte, error) {
	s, ok := v.(*customerState)
	if !ok {
		return nil, fmt.Errorf("fraud: customers table: cannot encode %T", v)
	}
	b := []byte{rowVersion}
	b = binenc.AppendVarint(b, s.Newest)
	b = appendSeen(b, s.Seen)
	b = binenc.AppendUvarint(b, uint64(len(s.Returns)))
	for _, r := range s.Returns {
		b = binenc.AppendString(b, r.ID)
		b = binenc.AppendVarint(b, r.TS)
		b = appendFloat(b, r.Amount)
		b = binenc.AppendBool(b, r.Unmatched)
	}
	b = binenc.AppendUvarint(b, uint64(len(s.Loyalty)))
	for _, r := range s.Loyalty {
		b = binenc.AppendString(b, r.ID)
		b = binenc.AppendVarint(b, r.TS)
		b = binenc.AppendBool(b, r.Redemption)
		b = binenc.AppendVarint(b, r.Points)
	}
	b = binenc.AppendUvarint(b, uint64(len(s.Sales)))
	for _, r := range s.Sales {
		b = binenc.AppendString(b, r.Receipt)
		b = binenc.AppendString(b, r.SKU)
		b = binenc.AppendVarint(b, r.Qty)
		b = binenc.AppendVarint(b, r.TS)
	}
	b = appendOwn(b, s.Own)
	return appendSeen(b, s.Alerted), nil
}

func (customerCodec) Decode(data []byte) (any, error) {
	d, err := rowDecoder(data)
	if err != nil {
		return nil, err
	}
	s := &customerState{Newest: d.Varint(), Seen: readSeen(d)}
	for range d.Count() {
		s.Returns = append(s.Returns, returnRec{ID: d.String(), TS: d.Varint(), Amount: readFloat(d), Unmatched: d.Bool()})
	}
	for range d.Count() {
		s.Loyalty = append(s.Loyalty, loyaltyRec{ID: d.String(), TS: d.Varint(), Redemption: d.Bool(), Points: d.Varint()})
	}
	for range d.Count() {
		s.Sales = append(s.Sales, saleRec{Receipt: d.String(), SKU: d.String(), Qty: d.Varint(), TS: d.Varint()})
	}
	s.Own = readOwn(d)
	s.Alerted = readSeen(d)
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("customers table: %w", err)
	}
	return s, nil
}

type storeCodec struct{}

func (storeCodec) Encode(v any) ([]byte, error) {
	s, ok := v.(*storeState)
	if !ok {
		return nil, fmt.Errorf("fraud: stores table: cannot encode %T", v)
	}
	b := []byte{rowVersion}
	b = binenc.AppendVarint(b, s.Newest)
	b = appendSeen(b, s.Seen)
	b = binenc.AppendUvarint(b, uint64(len(s.Refunds)))
	for _, r := range s.Refunds {
		b = binenc.AppendString(b, r.ID)
		b = binenc.AppendVarint(b, r.TS)
		b = binenc.AppendString(b, r.Cashier)
	}
	b = binenc.AppendUvarint(b, uint64(len(s.Own)))
	for cashier, own := range s.Own {
		b = binenc.AppendString(b, cashier)
		b = appendOwn(b, own)
	}
	return appendSeen(b, s.Alerted), nil
}

func (storeCodec) Decode(data []byte) (any, error) {
	d, err := rowDecoder(data)
	if err != nil {
		return nil, err
	}
	s := &storeState{Newest: d.Varint(), Seen: readSeen(d), Own: map[string]map[string]*EWMA{}}
	for range d.Count() {
		s.Refunds = append(s.Refunds, refundRec{ID: d.String(), TS: d.Varint(), Cashier: d.String()})
	}
	for range d.Count() {
		cashier := d.String()
		s.Own[cashier] = readOwn(d)
	}
	s.Alerted = readSeen(d)
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("stores table: %w", err)
	}
	return s, nil
}

func rowDecoder(data []byte) (*binenc.Decoder, error) {
	if len(data) == 0 || data[0] != rowVersion {
		return nil, fmt.Errorf("%w: unknown layout (first byte %v)", errCorruptRow, data[:min(1, len(data))])
	}
	return binenc.NewDecoder(data[1:], errCorruptRow), nil
}

// appendSeen writes an id → unix ms map (Seen, Alerted).
func appendSeen(b []byte, m map[string]int64) []byte {
	b = binenc.AppendUvarint(b, uint64(len(m)))
	for k, v := range m {
		b = binenc.AppendString(b, k)
		b = binenc.AppendVarint(b, v)
	}
	return b
}

func readSeen(d *binenc.Decoder) map[string]int64 {
	n := d.Count()
	m := make(map[string]int64, n)
	for range n {
		k := d.String()
		m[k] = d.Varint()
	}
	return m
}

func appendOwn(b []byte, own map[string]*EWMA) []byte {
	b = binenc.AppendUvarint(b, uint64(len(own)))
	for f, e := range own {
		b = binenc.AppendString(b, f)
		b = appendFloat(b, e.Mean)
		b = appendFloat(b, e.Var)
		b = binenc.AppendVarint(b, int64(e.N))
	}
	return b
}

func readOwn(d *binenc.Decoder) map[string]*EWMA {
	n := d.Count()
	own := make(map[string]*EWMA, n)
	for range n {
		f := d.String()
		own[f] = &EWMA{Mean: readFloat(d), Var: readFloat(d), N: int(d.Varint())}
	}
	return own
}

func appendFloat(b []byte, v float64) []byte { return binenc.AppendUvarint(b, math.Float64bits(v)) }
func readFloat(d *binenc.Decoder) float64    { return math.Float64frombits(d.Uvarint()) }
