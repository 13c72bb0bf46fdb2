package contract

import "github.com/stocksync/stocksync/internal/binenc"

// The engines store an order's answer inside its table value, in binary
// like the rest of it (integers varints, strings length-prefixed, optional
// parts behind a presence byte): order id, request id, type, status,
// expires_at, lines (sku, qty, location), then the reason if any (type,
// message, sku, location, state, requested, available if any). A reason's
// accepted body is not in this layout: the goka engine never stores one,
// and the new engine appends it after the answer (AppendAccepted).

// AppendResult appends r in the answer's binary layout.
func AppendResult(buf []byte, r *OrderResult) []byte {
	buf = binenc.AppendString(buf, r.OrderID)
	buf = binenc.AppendString(buf, r.RequestID)
	buf = binenc.AppendString(buf, r.Type)
	buf = binenc.AppendString(buf, r.Status)
	buf = binenc.AppendString(buf, r.ExpiresAt)
	buf = appendLines(buf, r.Lines)
	if r.Error == nil {
		return append(buf, 0)
	}
	return AppendReason(append(buf, 1), r.Error)
}

// ReadResult reads what AppendResult wrote. Values of the goka engine's
// first format have no request id (withRequestID false).
func ReadResult(d *binenc.Decoder, withRequestID bool) *OrderResult {
	r := &OrderResult{OrderID: d.String()}
	if withRequestID {
		r.RequestID = d.String()
	}
	r.Type, r.Status, r.ExpiresAt = d.String(), d.String(), d.String()
	r.Lines = readLines(d)
	if d.Bool() {
		r.Error = ReadReason(d)
	}
	return r
}

// AppendReason appends e without its accepted body.
func AppendReason(buf []byte, e *Reason) []byte {
	for _, s := range []string{e.Type, e.Message, e.SKU, e.Location, e.State} {
		buf = binenc.AppendString(buf, s)
	}
	buf = binenc.AppendVarint(buf, e.Requested)
	if e.Available == nil {
		return append(buf, 0)
	}
	return binenc.AppendVarint(append(buf, 1), *e.Available)
}

// ReadReason reads what AppendReason wrote.
func ReadReason(d *binenc.Decoder) *Reason {
	e := &Reason{Type: d.String(), Message: d.String(), SKU: d.String(), Location: d.String(), State: d.String(), Requested: d.Varint()}
	if d.Bool() {
		avail := d.Varint()
		e.Available = &avail
	}
	return e
}

// AppendAccepted appends a (nil too): presence, lines, channel, ttl_s.
func AppendAccepted(buf []byte, a *AcceptedOrder) []byte {
	if a == nil {
		return append(buf, 0)
	}
	buf = appendLines(append(buf, 1), a.Lines)
	buf = binenc.AppendString(buf, a.Channel)
	return binenc.AppendVarint(buf, a.TTLS)
}

// ReadAccepted reads what AppendAccepted wrote.
func ReadAccepted(d *binenc.Decoder) *AcceptedOrder {
	if !d.Bool() {
		return nil
	}
	return &AcceptedOrder{Lines: readLines(d), Channel: d.String(), TTLS: d.Varint()}
}

func appendLines(buf []byte, lines []Line) []byte {
	buf = binenc.AppendUvarint(buf, uint64(len(lines)))
	for _, l := range lines {
		buf = binenc.AppendString(buf, l.SKU)
		buf = binenc.AppendVarint(buf, l.Qty)
		buf = binenc.AppendString(buf, l.Location)
	}
	return buf
}

func readLines(d *binenc.Decoder) []Line {
	n := d.Count()
	if n == 0 {
		return nil
	}
	lines := make([]Line, n)
	for i := range lines {
		lines[i] = Line{SKU: d.String(), Qty: d.Varint(), Location: d.String()}
	}
	return lines
}
