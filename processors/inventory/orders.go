package inventory

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/internal/txloop"
	"github.com/stocksync/stocksync/stock"
)

// command routes an order command to the partition its order lives at.
func (p *Processor) command(c *txloop.Cycle, r *kgo.Record) error {
	if p.rerouted(c, r) {
		return nil
	}
	cmd, err := contract.DecodeOrderCommand(r.Value)
	if err == nil && cmd.RequestID == "" {
		cmd.RequestID, err = requestIDHeader(r)
	}
	if err == nil && cmd.Type == contract.Expire {
		err = errors.New("expire is the engine's own command")
	}
	if err == nil && cmd.Type == contract.Reserve && string(r.Key) != cmd.OrderID && string(r.Key) != cmd.Lines[0].SKU {
		err = fmt.Errorf("message key %q is neither the order id %q nor the route SKU %q (the first line's)", r.Key, cmd.OrderID, cmd.Lines[0].SKU)
	}
	if err != nil {
		p.deadLetter(c, r, err.Error())
		return nil
	}
	if cmd.Type == contract.Reserve {
		home := p.partition(cmd.Lines[0].SKU)
		if home != r.Partition && !c.Owned(home) {
			p.forward(c, r, cmd.Lines[0].SKU) // keyed by order id: one hop to the route partition
			return nil
		}
		return p.reserve(c, home, cmd)
	}
	// confirm, release, ship: the order is here, or the order id's
	// directory entry is (a command keyed by order id) and says where.
	if o, err := p.loadOrder(c, r.Partition, cmd.OrderID); err != nil || o != nil {
		if err != nil {
			return err
		}
		return p.step(c, r.Partition, o, cmd)
	}
	if d := p.partition(cmd.OrderID); d == r.Partition {
		e, err := p.loadDir(c, d, cmd.OrderID)
		if err != nil {
			return err
		}
		if e != nil {
			home := p.partition(e.Route)
			if !c.Owned(home) {
				p.forward(c, r, e.Route)
				return nil
			}
			if o, err := p.loadOrder(c, home, cmd.OrderID); err != nil || o != nil {
				if err != nil {
					return err
				}
				return p.step(c, home, o, cmd)
			}
		}
	} else if c.Owned(d) {
		// Keyed by a route the order does not live at: the directory knows.
		if e, err := p.loadDir(c, d, cmd.OrderID); err != nil {
			return err
		} else if e != nil && c.Owned(p.partition(e.Route)) {
			if o, err := p.loadOrder(c, p.partition(e.Route), cmd.OrderID); err != nil || o != nil {
				if err != nil {
					return err
				}
				return p.step(c, p.partition(e.Route), o, cmd)
			}
		}
	}
	p.refuse(c, cmd, contract.Reason{Type: contract.ErrUnknownOrder, Message: "no reserve was ever accepted for this order id"})
	return nil
}

// forward re-sends a command keyed by the route SKU, so it lands on the
// partition its order lives at.
func (p *Processor) forward(c *txloop.Cycle, r *kgo.Record, route string) {
	c.Emit(&kgo.Record{Topic: r.Topic, Key: []byte(route), Value: r.Value, Headers: r.Headers})
}

func (p *Processor) loadOrder(c *txloop.Cycle, part int32, id string) (*order, error) {
	if !c.Owned(part) || !p.mayKnow(part, id) {
		return nil, nil
	}
	v, err := c.Get(part, orderKey(id))
	if err != nil || v == nil {
		return nil, err
	}
	return decodeOrder(v)
}

func (p *Processor) loadDir(c *txloop.Cycle, part int32, id string) (*dirEntry, error) {
	if !p.mayKnow(part, id) {
		return nil, nil
	}
	v, err := c.Get(part, dirKey(id))
	if err != nil || v == nil {
		return nil, err
	}
	e, err := decodeDir(v)
	if err != nil {
		return nil, fmt.Errorf("inventory: directory entry of order %q: %w", id, err)
	}
	return e, nil
}

// reserve decides a reserve at its route partition, every line or none: in
// this cycle when every partition it touches is owned here, else by holds
// and a claim sent to the other partitions (messages.go).
func (p *Processor) reserve(c *txloop.Cycle, home int32, cmd contract.OrderCommand) error {
	o, err := p.loadOrder(c, home, cmd.OrderID)
	if err != nil {
		return err
	}
	dig := digest(cmd)
	if o != nil {
		if o.Digest != dig {
			p.refuse(c, cmd, contract.Reason{Type: contract.ErrConflict, State: string(o.State), Accepted: o.accepted(),
				Message: "this order id was already used for a different reserve (see accepted); use a new order id"})
			return nil
		}
		p.countCommand(cmd.Type, "duplicate")
		if o.State == Pending { // answered with the first once decided
			o.Waiting.Requests = append(o.Waiting.Requests, cmd.RequestID)
			c.Put(home, orderKey(o.ID), p.tableValue(o))
			return nil
		}
		again := o.Answer
		again.RequestID = cmd.RequestID
		p.answer(c, &again)
		return nil
	}
	d := p.partition(cmd.OrderID)
	local := d == home || c.Owned(d)
	for _, l := range cmd.Lines {
		local = local && c.Owned(p.partition(l.SKU))
	}
	if local || d == home { // the id's own partition is here: its claim is checked in this cycle
		e, err := p.claimant(c, d, cmd.OrderID)
		if err != nil {
			return err
		}
		if e != nil { // the id was taken by another body, decided at another route
			p.refuse(c, cmd, conflict(e.Accepted))
			return nil
		}
	}
	now := p.cfg.Now()
	o = &order{ID: cmd.OrderID, State: Reserved, Route: cmd.Lines[0].SKU, Channel: cmd.Channel, TTLS: cmd.TTLS, Digest: dig,
		ExpiresAt: now.Add(time.Duration(cmd.TTLS) * time.Second).UnixMilli()}
	for _, l := range cmd.Lines {
		o.Lines = append(o.Lines, orderLine{SKU: l.SKU, Qty: l.Qty, Requested: l.Location})
	}
	if cmd.Channel != "" && !p.cfg.Catalog.HasChannel(cmd.Channel) {
		return p.reject(c, home, o, cmd, contract.Reason{Type: contract.ErrUnknownChannel, Message: fmt.Sprintf("channel %q is not configured", cmd.Channel)}, now)
	}
	for _, l := range cmd.Lines {
		if l.Location != "" && !p.cfg.Catalog.Known(l.Location) {
			return p.reject(c, home, o, cmd, contract.Reason{Type: contract.ErrUnknownLocation, SKU: l.SKU, Location: l.Location,
				Message: fmt.Sprintf("location %q is not configured", l.Location)}, now)
		}
	}
	if !local {
		return p.reserveAcross(c, home, o, cmd, now)
	}
	placed, reason, err := p.place(c, o.ID, o.Channel, o.Lines, o.ExpiresAt, now)
	if err != nil {
		return err
	}
	if reason != nil {
		return p.reject(c, home, o, cmd, *reason, now)
	}
	o.Lines = placed
	o.Answer = reservedAnswer(o, cmd.RequestID)
	c.Put(home, orderKey(o.ID), p.tableValue(o))
	p.know(home, o.ID)
	if d != home {
		c.Put(d, dirKey(o.ID), p.tableValue(&dirEntry{Route: o.Route, Digest: dig, Accepted: o.accepted()}))
		p.know(d, o.ID)
	}
	queue(p.expiry, home).push(o.ID, o.ExpiresAt)
	p.countCommand(cmd.Type, "accepted")
	p.answer(c, &o.Answer)
	return nil
}

func reservedAnswer(o *order, requestID string) contract.OrderResult {
	return contract.OrderResult{OrderID: o.ID, RequestID: requestID, Type: contract.Reserve, Status: contract.StatusReserved,
		Lines: o.placed(), ExpiresAt: time.UnixMilli(o.ExpiresAt).UTC().Format(time.RFC3339Nano)}
}

func conflict(accepted *contract.AcceptedOrder) contract.Reason {
	return contract.Reason{Type: contract.ErrConflict, Accepted: accepted,
		Message: "this order id was already used for a different reserve (see accepted); use a new order id"}
}

// claimant is what holds an order id at its own partition d, owned here: its
// directory entry, or an order routed there; nil when the id is free.
func (p *Processor) claimant(c *txloop.Cycle, d int32, id string) (*dirEntry, error) {
	e, err := p.loadDir(c, d, id)
	if err != nil || e != nil && !e.Rejected {
		return e, err
	}
	// An order that lives at the id's own partition has no entry: it is its
	// own. A refused one holds nothing, the id included.
	o, err := p.loadOrder(c, d, id)
	if err != nil || o == nil || o.State == Rejected {
		return nil, err
	}
	return &dirEntry{Route: o.Route, Digest: o.Digest, Accepted: o.accepted()}, nil
}

// place reserves lines, all on partitions owned here, on copies of their
// ledgers and keeps the copies only if every line holds. It returns the
// lines as placed, or the reason the first short line gives. A single line
// needs no copy: Reserve changes a ledger only when it holds (most orders
// of a flash sale have one line, and the copy was a twentieth of the
// engine's CPU).
func (p *Processor) place(c *txloop.Cycle, id, channel string, lines []orderLine, expiresAt int64, now time.Time) ([]orderLine, *contract.Reason, error) {
	copies := make([]*stock.SKU, len(lines))
	placed := make([]orderLine, len(lines))
	for i, l := range lines {
		e, err := p.ledger(c, l.SKU)
		if err != nil {
			return nil, nil, err
		}
		copies[i] = e.ledger
		if len(lines) > 1 {
			copies[i] = e.ledger.Clone()
		}
		reply, _ := copies[i].Reserve(stock.Command{Type: stock.CmdReserve, OrderID: id, SKU: l.SKU, Qty: l.Qty,
			Location: l.Requested, Channel: channel, ExpiresAt: expiresAt, At: now.UnixMilli()}, p.cfg.Catalog)
		if !reply.OK {
			reason := contract.Reason{Type: reply.Error, SKU: l.SKU, Requested: l.Qty, Location: reply.Location}
			if reply.Error == contract.ErrInsufficientStock {
				avail := reply.Available
				reason.Available, reason.Message = &avail, "not enough stock to reserve"
			}
			return nil, &reason, nil
		}
		placed[i] = l
		placed[i].Location = reply.Location
	}
	for i, l := range lines {
		e := p.cur.skus[l.SKU]
		e.ledger = copies[i]
		e.touch(contract.Reserve, now.UnixMilli())
	}
	return placed, nil, nil
}

// reject refuses a reserve and keeps the refusal: a repeat of it (a retry,
// a duplicate delivery) gets the same answer rather than a new decision
// nobody waits for. It holds nothing, so no directory entry is written: the
// id may be reused with another body routed elsewhere.
func (p *Processor) reject(c *txloop.Cycle, home int32, o *order, cmd contract.OrderCommand, reason contract.Reason, now time.Time) error {
	o.State = Rejected
	o.Answer = contract.OrderResult{OrderID: o.ID, RequestID: cmd.RequestID, Type: contract.Reserve, Status: contract.StatusRejected, Error: &reason}
	p.finished(home, o, now)
	c.Put(home, orderKey(o.ID), p.tableValue(o))
	p.know(home, o.ID)
	p.refuse(c, cmd, reason)
	return p.noteRejected(c, home, o)
}

// noteRejected leads lookups by id to a refused order: a directory entry
// marked rejected at the id's partition (in this cycle if owned here, else
// by a message), which leaves the id free for another body.
func (p *Processor) noteRejected(c *txloop.Cycle, home int32, o *order) error {
	d := p.partition(o.ID)
	if d == home {
		return nil
	}
	if !c.Owned(d) {
		p.send(c, message{Kind: msgRejected, Order: o.ID, Route: o.Route, Digest: o.Digest, Accepted: o.accepted()})
		return nil
	}
	return p.markRejected(c, d, o.ID, dirEntry{Route: o.Route, Digest: o.Digest, Accepted: o.accepted(), Rejected: true})
}

// markRejected writes a rejected order's entry at the id's partition d,
// unless another body holds the id.
func (p *Processor) markRejected(c *txloop.Cycle, d int32, id string, e dirEntry) error {
	cur, err := p.loadDir(c, d, id)
	if err != nil || cur != nil && !cur.Rejected && cur.Digest != e.Digest {
		return err
	}
	c.Put(d, dirKey(id), p.tableValue(&e))
	p.know(d, id)
	return nil
}

// stepRule is what a step does to an order.
type stepRule struct {
	from   []State
	to     State
	status string
}

var steps = map[string]stepRule{
	contract.Confirm: {from: []State{Reserved}, to: Confirmed, status: contract.StatusConfirmed},
	contract.Release: {from: []State{Reserved, Confirmed, Expired}, to: Released, status: contract.StatusReleased},
	contract.Ship:    {from: []State{Confirmed}, to: Shipped, status: contract.StatusShipped},
}

// ledgerOps apply a step to one line's ledger.
var ledgerOps = map[string]func(*stock.SKU, stock.Command) stock.Effect{
	contract.Confirm: (*stock.SKU).Confirm,
	contract.Release: (*stock.SKU).Release,
	contract.Ship:    (*stock.SKU).Ship,
	contract.Expire:  (*stock.SKU).Expire,
}

// step applies confirm, release or ship to every line of an order: the
// lines at its route partition in this cycle, the others by settlements it
// answers once every partition has applied them.
func (p *Processor) step(c *txloop.Cycle, home int32, o *order, cmd contract.OrderCommand) error {
	now := p.cfg.Now()
	if w := o.Waiting; w != nil {
		if w.Step == cmd.Type { // answered with the first
			w.Requests = append(w.Requests, cmd.RequestID)
			c.Put(home, orderKey(o.ID), p.tableValue(o))
			return nil
		}
		p.refuse(c, cmd, contract.Reason{Type: contract.ErrPending, State: string(o.State),
			Message: fmt.Sprintf("cannot %s yet: the order's %s is still being applied on its other partitions; retry", cmd.Type, w.Step)})
		return nil
	}
	if o.State == Reserved && now.UnixMilli() >= o.ExpiresAt {
		if err := p.expire(c, home, o.ID, now); err != nil {
			return err
		}
		if o, _ = p.loadOrder(c, home, o.ID); o == nil {
			return nil
		}
	}
	ru := steps[cmd.Type]
	switch {
	case o.State == ru.to:
		p.countCommand(cmd.Type, "duplicate")
		p.answer(c, stepAnswer(o, cmd.Type, cmd.RequestID))
		return nil
	case !slices.Contains(ru.from, o.State) && o.State == Expired:
		p.refuse(c, cmd, contract.Reason{Type: contract.ErrExpired, State: string(o.State),
			Message: fmt.Sprintf("cannot %s: the reservation expired and its stock was released", cmd.Type)})
		return nil
	case o.State == Rejected && cmd.Type == contract.Release:
		// Nothing is held: a release of a refused order is recorded as done.
		p.answer(c, stepAnswer(o, cmd.Type, cmd.RequestID))
		return nil
	case !slices.Contains(ru.from, o.State):
		p.refuse(c, cmd, contract.Reason{Type: contract.ErrInvalidTransition, State: string(o.State),
			Message: fmt.Sprintf("cannot %s an order that is %s", cmd.Type, o.State)})
		return nil
	}
	if o.State != Expired { // an expired order holds nothing: its release changes no stock
		sent, err := p.settleLines(c, home, o, cmd.Type, true, now)
		if err != nil {
			return err
		}
		if sent > 0 {
			o.Waiting = &waiting{Step: cmd.Type, Answers: sent, Requests: []string{cmd.RequestID}}
			c.Put(home, orderKey(o.ID), p.tableValue(o))
			return nil
		}
	}
	p.stepped(c, home, o, cmd.Type, []string{cmd.RequestID}, now)
	return nil
}

// stepped moves an order whose lines all applied a step to its next state,
// and answers the requests that asked for it.
func (p *Processor) stepped(c *txloop.Cycle, home int32, o *order, step string, requests []string, now time.Time) {
	o.State = steps[step].to
	if o.State.final() {
		p.finished(home, o, now)
	}
	c.Put(home, orderKey(o.ID), p.tableValue(o))
	p.countCommand(step, "accepted")
	for _, id := range requests {
		p.answer(c, stepAnswer(o, step, id))
	}
}

func stepAnswer(o *order, step, requestID string) *contract.OrderResult {
	return &contract.OrderResult{OrderID: o.ID, RequestID: requestID, Type: step, Status: steps[step].status, Lines: o.placed()}
}

// settleLines applies a step to an order's lines: in this cycle at its
// route partition, by a settlement sent to each other partition. It returns
// how many it sent; with ack, each answers once applied.
func (p *Processor) settleLines(c *txloop.Cycle, home int32, o *order, step string, ack bool, now time.Time) (int, error) {
	parts, byPart := p.byPartition(o.Lines)
	sent := 0
	for _, part := range parts {
		if part == home {
			if err := p.applyLines(c, step, o.ID, byPart[part], now); err != nil {
				return 0, err
			}
			continue
		}
		p.send(c, message{Kind: msgSettle, Order: o.ID, Route: o.Route, Step: step, Lines: byPart[part], Ack: ack})
		sent++
	}
	return sent, nil
}

// byPartition groups lines by their SKU's partition, partitions in order.
func (p *Processor) byPartition(lines []orderLine) ([]int32, map[int32][]orderLine) {
	by := map[int32][]orderLine{}
	var parts []int32
	for _, l := range lines {
		part := p.partition(l.SKU)
		if _, ok := by[part]; !ok {
			parts = append(parts, part)
		}
		by[part] = append(by[part], l)
	}
	slices.Sort(parts)
	return parts, by
}

// applyLines applies a step to lines whose partitions are owned here.
func (p *Processor) applyLines(c *txloop.Cycle, step, id string, lines []orderLine, now time.Time) error {
	op := ledgerOps[step]
	for _, l := range lines {
		e, err := p.ledger(c, l.SKU)
		if err != nil {
			return err
		}
		if eff := op(e.ledger, stock.Command{Type: step, OrderID: id, SKU: l.SKU, Qty: l.Qty, Location: l.Location}); eff.Changed {
			e.touch(step, now.UnixMilli())
		}
	}
	return nil
}

// expire ends a reservation past its expiry: its units go back. A reserve
// still waiting for its holds is refused instead, as when a line's
// partition refuses it: it never was a reservation.
func (p *Processor) expire(c *txloop.Cycle, home int32, id string, now time.Time) error {
	o, err := p.loadOrder(c, home, id)
	if err != nil || o == nil || o.ExpiresAt > now.UnixMilli() {
		return err
	}
	if o.State == Pending {
		return p.refusePending(c, home, o, now)
	}
	if o.State != Reserved || o.Waiting != nil {
		return nil // ended, or a step is being applied: it decides
	}
	if _, err := p.settleLines(c, home, o, contract.Expire, false, now); err != nil {
		return err
	}
	o.State = Expired
	p.finished(home, o, now)
	p.cfg.Metrics.Expiries.Inc()
	c.Put(home, orderKey(o.ID), p.tableValue(o))
	p.answer(c, &contract.OrderResult{OrderID: o.ID, Type: contract.Expire, Status: contract.StatusExpired})
	return nil
}

// refusePending refuses a reserve whose TTL passed before every line's
// partition answered: what was held lets go, and the order is kept
// refused (its id free), answered to every request waiting for it.
func (p *Processor) refusePending(c *txloop.Cycle, home int32, o *order, now time.Time) error {
	if _, err := p.settleLines(c, home, o, contract.Release, false, now); err != nil {
		return err
	}
	if err := p.noteRejected(c, home, o); err != nil {
		return err
	}
	reason := contract.Reason{Type: contract.ErrExpired,
		Message: "the reservation's TTL passed before every line's partition answered; nothing is held"}
	o.State = Rejected
	o.Answer = contract.OrderResult{OrderID: o.ID, RequestID: o.Waiting.Requests[0], Type: contract.Reserve, Status: contract.StatusRejected, Error: &reason}
	for _, r := range o.Waiting.Requests {
		p.refuse(c, contract.OrderCommand{OrderID: o.ID, RequestID: r, Type: contract.Reserve}, reason)
	}
	o.Waiting = nil
	p.finished(home, o, now)
	c.Put(home, orderKey(o.ID), p.tableValue(o))
	return nil
}

func queue(m map[int32]*expiryQueue, part int32) *expiryQueue {
	q := m[part]
	if q == nil {
		q = &expiryQueue{}
		m[part] = q
	}
	return q
}

// answer emits a result on orders.results, its request id also in a header.
func (p *Processor) answer(c *txloop.Cycle, r *contract.OrderResult) {
	rec := &kgo.Record{Topic: string(p.cfg.Names.OrderResults), Key: []byte(r.OrderID), Value: must(contract.Marshal(r))}
	if r.RequestID != "" {
		rec.Headers = []kgo.RecordHeader{{Key: contract.HeaderRequestID, Value: []byte(r.RequestID)}}
	}
	c.Emit(rec)
	if p.cfg.OnAnswer != nil {
		p.answers = append(p.answers, *r) // as marshalled: the order may change later in the cycle
	}
}

func (p *Processor) refuse(c *txloop.Cycle, cmd contract.OrderCommand, reason contract.Reason) {
	p.countCommand(cmd.Type, "rejected")
	p.answer(c, &contract.OrderResult{OrderID: cmd.OrderID, RequestID: cmd.RequestID, Type: cmd.Type,
		Status: contract.StatusRejected, Error: &reason})
}

func requestIDHeader(r *kgo.Record) (string, error) {
	for _, h := range r.Headers {
		if h.Key == contract.HeaderRequestID {
			id := string(h.Value)
			return id, contract.CheckKey("header "+contract.HeaderRequestID, id)
		}
	}
	return "", nil
}

// mayKnow is false when the partition certainly has no key for the order id.
func (p *Processor) mayKnow(part int32, id string) bool {
	f := p.known[part]
	return f == nil || f.TestString(id)
}

func (p *Processor) know(part int32, id string) {
	if f := p.known[part]; f != nil {
		f.AddString(id)
	}
}
