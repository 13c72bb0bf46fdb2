package inventory

import (
	"errors"
	"fmt"
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
	e := new(dirEntry)
	if err := jsonUnmarshal(v, e); err != nil {
		return nil, fmt.Errorf("inventory: directory entry of order %q: %w", id, err)
	}
	return e, nil
}

// reserve decides a reserve at its route partition, every line or none.
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
		p.cfg.Metrics.Commands.WithLabelValues(cmd.Type, "duplicate").Inc()
		again := o.Answer
		again.RequestID = cmd.RequestID
		p.answer(c, &again)
		return nil
	}
	d := p.partition(cmd.OrderID)
	if d != home && c.Owned(d) {
		e, err := p.loadDir(c, d, cmd.OrderID)
		if err != nil {
			return err
		}
		if e == nil { // an order that lives at the id's own partition has no entry: it is its own
			if other, err := p.loadOrder(c, d, cmd.OrderID); err != nil {
				return err
			} else if other != nil {
				e = &dirEntry{Route: other.Route, Digest: other.Digest, Accepted: other.accepted()}
			}
		}
		if e != nil {
			// The id was taken by another body, decided at another route.
			p.refuse(c, cmd, contract.Reason{Type: contract.ErrConflict, Accepted: e.Accepted,
				Message: "this order id was already used for a different reserve (see accepted); use a new order id"})
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
		p.reject(c, home, o, cmd, contract.Reason{Type: contract.ErrUnknownChannel, Message: fmt.Sprintf("channel %q is not configured", cmd.Channel)}, now)
		return nil
	}
	// Decide every line on a copy of its ledger; keep the copies only if
	// all of them hold.
	copies := make([]*stock.SKU, len(cmd.Lines))
	for i, l := range cmd.Lines {
		if l.Location != "" && !p.cfg.Catalog.Known(l.Location) {
			p.reject(c, home, o, cmd, contract.Reason{Type: contract.ErrUnknownLocation, SKU: l.SKU, Location: l.Location,
				Message: fmt.Sprintf("location %q is not configured", l.Location)}, now)
			return nil
		}
		e, err := p.ledger(c, l.SKU)
		if errors.Is(err, errRemote) {
			p.refuse(c, cmd, contract.Reason{Type: contract.ErrPending, SKU: l.SKU,
				Message: "this line's stock is owned by another instance, and orders across instances are not decided yet in this build"})
			return nil
		}
		if err != nil {
			return err
		}
		copies[i] = e.ledger.Clone()
		reply, _ := copies[i].Reserve(stock.Command{Type: stock.CmdReserve, OrderID: cmd.OrderID, SKU: l.SKU, Qty: l.Qty,
			Location: l.Location, Channel: cmd.Channel, ExpiresAt: o.ExpiresAt, At: now.UnixMilli()}, p.cfg.Catalog)
		if !reply.OK {
			reason := contract.Reason{Type: reply.Error, SKU: l.SKU, Requested: l.Qty, Location: reply.Location}
			if reply.Error == contract.ErrInsufficientStock {
				avail := reply.Available
				reason.Available, reason.Message = &avail, "not enough stock to reserve"
			}
			p.reject(c, home, o, cmd, reason, now)
			return nil
		}
		o.Lines[i].Location = reply.Location
	}
	for i, l := range cmd.Lines {
		e := p.cur.skus[l.SKU]
		e.ledger = copies[i]
		e.touch(contract.Reserve, now.UnixMilli())
	}
	o.Answer = contract.OrderResult{OrderID: o.ID, RequestID: cmd.RequestID, Type: contract.Reserve, Status: contract.StatusReserved,
		Lines: o.placed(), ExpiresAt: time.UnixMilli(o.ExpiresAt).UTC().Format(time.RFC3339Nano)}
	c.Put(home, orderKey(o.ID), o.encode())
	p.know(home, o.ID)
	if d != home && c.Owned(d) {
		c.Put(d, dirKey(o.ID), mustJSON(dirEntry{Route: o.Route, Digest: dig, Accepted: o.accepted()}))
		p.know(d, o.ID)
	}
	queue(p.expiry, home).push(o.ID, o.ExpiresAt)
	p.cfg.Metrics.Commands.WithLabelValues(cmd.Type, "accepted").Inc()
	p.answer(c, &o.Answer)
	return nil
}

// reject refuses a reserve and keeps the refusal: a repeat of it (a retry,
// a duplicate delivery) gets the same answer rather than a new decision
// nobody waits for. It holds nothing, so no directory entry is written: the
// id may be reused with another body routed elsewhere.
func (p *Processor) reject(c *txloop.Cycle, home int32, o *order, cmd contract.OrderCommand, reason contract.Reason, now time.Time) {
	o.State = Rejected
	o.Answer = contract.OrderResult{OrderID: o.ID, RequestID: cmd.RequestID, Type: contract.Reserve, Status: contract.StatusRejected, Error: &reason}
	p.finished(home, o, now)
	c.Put(home, orderKey(o.ID), o.encode())
	p.know(home, o.ID)
	p.refuse(c, cmd, reason)
}

// step applies confirm, release or ship to every line of an order.
func (p *Processor) step(c *txloop.Cycle, home int32, o *order, cmd contract.OrderCommand) error {
	now := p.cfg.Now()
	if o.State == Reserved && now.UnixMilli() >= o.ExpiresAt {
		if err := p.expire(c, home, o.ID, now); err != nil {
			return err
		}
		if o, _ = p.loadOrder(c, home, o.ID); o == nil {
			return nil
		}
	}
	type rule struct {
		from   []State
		to     State
		status string
		apply  func(*stock.SKU, stock.Command) stock.Effect
	}
	rules := map[string]rule{
		contract.Confirm: {from: []State{Reserved}, to: Confirmed, status: contract.StatusConfirmed, apply: (*stock.SKU).Confirm},
		contract.Release: {from: []State{Reserved, Confirmed, Expired}, to: Released, status: contract.StatusReleased, apply: (*stock.SKU).Release},
		contract.Ship:    {from: []State{Confirmed}, to: Shipped, status: contract.StatusShipped, apply: (*stock.SKU).Ship},
	}
	ru := rules[cmd.Type]
	result := contract.OrderResult{OrderID: o.ID, RequestID: cmd.RequestID, Type: cmd.Type, Status: ru.status, Lines: o.placed()}
	switch {
	case o.State == ru.to:
		p.cfg.Metrics.Commands.WithLabelValues(cmd.Type, "duplicate").Inc()
		p.answer(c, &result)
		return nil
	case !contains(ru.from, o.State) && o.State == Expired:
		p.refuse(c, cmd, contract.Reason{Type: contract.ErrExpired, State: string(o.State),
			Message: fmt.Sprintf("cannot %s: the reservation expired and its stock was released", cmd.Type)})
		return nil
	case o.State == Rejected && cmd.Type == contract.Release:
		// Nothing is held: a release of a refused order is recorded as done.
		p.answer(c, &result)
		return nil
	case !contains(ru.from, o.State):
		p.refuse(c, cmd, contract.Reason{Type: contract.ErrInvalidTransition, State: string(o.State),
			Message: fmt.Sprintf("cannot %s an order that is %s", cmd.Type, o.State)})
		return nil
	}
	if o.State != Expired { // an expired order holds nothing: its release changes no stock
		for _, l := range o.Lines {
			e, err := p.ledger(c, l.SKU)
			if err != nil {
				return err
			}
			ru.apply(e.ledger, stock.Command{Type: cmd.Type, OrderID: o.ID, SKU: l.SKU, Qty: l.Qty, Location: l.Location})
			e.touch(cmd.Type, now.UnixMilli())
		}
	}
	o.State = ru.to
	if o.State.final() {
		p.finished(home, o, now)
	}
	c.Put(home, orderKey(o.ID), o.encode())
	p.cfg.Metrics.Commands.WithLabelValues(cmd.Type, "accepted").Inc()
	p.answer(c, &result)
	return nil
}

// expire ends a reservation past its expiry: its units go back.
func (p *Processor) expire(c *txloop.Cycle, home int32, id string, now time.Time) error {
	o, err := p.loadOrder(c, home, id)
	if err != nil || o == nil || o.State != Reserved || o.ExpiresAt > now.UnixMilli() {
		return err
	}
	for _, l := range o.Lines {
		e, err := p.ledger(c, l.SKU)
		if err != nil {
			return err
		}
		e.ledger.Expire(stock.Command{Type: stock.CmdExpire, OrderID: o.ID, SKU: l.SKU, Qty: l.Qty, Location: l.Location})
		e.touch(contract.Expire, now.UnixMilli())
	}
	o.State = Expired
	p.finished(home, o, now)
	c.Put(home, orderKey(o.ID), o.encode())
	p.cfg.Metrics.Expiries.Inc()
	p.answer(c, &contract.OrderResult{OrderID: o.ID, Type: contract.Expire, Status: contract.StatusExpired})
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
	rec := &kgo.Record{Topic: string(p.cfg.Names.OrderResults), Key: []byte(r.OrderID), Value: mustJSON(r)}
	if r.RequestID != "" {
		rec.Headers = []kgo.RecordHeader{{Key: contract.HeaderRequestID, Value: []byte(r.RequestID)}}
	}
	c.Emit(rec)
}

func (p *Processor) refuse(c *txloop.Cycle, cmd contract.OrderCommand, reason contract.Reason) {
	p.cfg.Metrics.Commands.WithLabelValues(cmd.Type, "rejected").Inc()
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

func contains(states []State, s State) bool {
	for _, x := range states {
		if x == s {
			return true
		}
	}
	return false
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
