package processors

import (
	"hash/fnv"
	"slices"
	"time"

	"github.com/stocksync/stocksync/contract"
)

// order is the value of the orders table: one order's saga.
type order struct {
	ID        string                `json:"id"`
	State     string                `json:"state"` // contract.StatePending or a result status
	Channel   string                `json:"channel,omitempty"`
	Digest    uint64                `json:"digest"` // of the reserve body: same id, other body is a conflict
	At        int64                 `json:"at"`     // unix ms the reserve command was produced
	ExpiresAt int64                 `json:"expires_at"`
	Lines     []orderLine           `json:"lines"`
	Answer    *contract.OrderResult `json:"answer,omitempty"` // the first answer to reserve
	Step      string                `json:"step,omitempty"`   // confirm, release or ship awaiting its replies
	TTLS      int64                 `json:"ttl_s,omitempty"`  // of the reserve: the accepted body, for a conflict's answer
	// Waiting are the request ids of the reserves (the first one and its
	// repeats) that await the decision; StepWaiting those of the step in
	// progress. Each gets its own answer (at most maxWaiting are kept: a
	// repeat beyond that is answered when it is repeated again).
	Waiting     []string `json:"waiting,omitempty"`
	StepWaiting []string `json:"step_waiting,omitempty"`
}

// maxWaiting bounds the request ids kept per order awaiting one answer.
const maxWaiting = 16

// wait adds a request id to a waiting list, keeping it bounded; a request
// already waiting (a redelivery, or commands without request ids) gets one
// answer.
func wait(list []string, requestID string) []string {
	if len(list) >= maxWaiting || slices.Contains(list, requestID) {
		return list
	}
	return append(list, requestID)
}

type orderLine struct {
	SKU       string `json:"sku"`
	Qty       int64  `json:"qty"`
	Location  string `json:"location,omitempty"` // requested, then where it was placed
	Answered  bool   `json:"answered,omitempty"`
	OK        bool   `json:"ok,omitempty"`
	Error     string `json:"error,omitempty"`
	Available int64  `json:"available,omitempty"`
	Acked     bool   `json:"acked,omitempty"` // the owner applied the step in progress
}

// digest identifies a reserve body, so a repeat with the same order id can be
// told apart from a different order reusing the id.
func digest(c contract.OrderCommand) uint64 {
	h := fnv.New64a()
	h.Write([]byte(c.Channel))
	for _, l := range c.Lines {
		h.Write([]byte{0})
		h.Write([]byte(l.SKU))
		h.Write([]byte{0})
		h.Write([]byte(l.Location))
		var q [8]byte
		for i := range q {
			q[i] = byte(l.Qty >> (8 * i))
		}
		h.Write(q[:])
	}
	var t [8]byte
	for i := range t {
		t[i] = byte(c.TTLS >> (8 * i))
	}
	h.Write(t[:])
	return h.Sum64()
}

// accepted is the reserve body the order id was accepted with.
func (o *order) accepted() *contract.AcceptedOrder {
	a := &contract.AcceptedOrder{Channel: o.Channel, TTLS: o.TTLS, Lines: make([]contract.Line, len(o.Lines))}
	for i, l := range o.Lines {
		a.Lines[i] = contract.Line{SKU: l.SKU, Qty: l.Qty}
	}
	return a
}

// view is the order as GET /v1/orders/{id} shows it.
func (o *order) view() contract.OrderView {
	v := contract.OrderView{OrderID: o.ID, State: o.State, Channel: o.Channel, Lines: make([]contract.Line, len(o.Lines))}
	for i, l := range o.Lines {
		v.Lines[i] = contract.Line{SKU: l.SKU, Qty: l.Qty, Location: l.Location}
	}
	if o.State == contract.StatusReserved || o.State == contract.StatePending {
		v.ExpiresAt = time.UnixMilli(o.ExpiresAt).UTC().Format(time.RFC3339Nano)
	}
	if o.Answer != nil {
		v.Error = o.Answer.Error
	}
	return v
}

// DecodeOrderView decodes a value of the orders table for the query API.
func DecodeOrderView(v []byte) (contract.OrderView, error) {
	o, err := decodeOrder(v)
	if err != nil {
		return contract.OrderView{}, err
	}
	return o.view(), nil
}

// reserveAnswer is the result of a decided reserve: reserved with every line's
// location, or rejected with the first line that failed.
func (o *order) reserveAnswer() *contract.OrderResult {
	r := &contract.OrderResult{OrderID: o.ID, Type: contract.Reserve}
	for _, l := range o.Lines {
		if !l.OK && r.Error == nil {
			avail := l.Available
			r.Error = &contract.Reason{Type: l.Error, SKU: l.SKU, Requested: l.Qty, Location: l.Location}
			if l.Error == contract.ErrInsufficientStock {
				r.Error.Available = &avail
				r.Error.Message = "not enough stock to reserve"
			}
		}
	}
	if r.Error != nil {
		r.Status = contract.StatusRejected
		return r
	}
	r.Status = contract.StatusReserved
	r.ExpiresAt = time.UnixMilli(o.ExpiresAt).UTC().Format(time.RFC3339Nano)
	for _, l := range o.Lines {
		r.Lines = append(r.Lines, contract.Line{SKU: l.SKU, Qty: l.Qty, Location: l.Location})
	}
	return r
}
