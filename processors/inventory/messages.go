package inventory

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/internal/txloop"
)

// Orders across partitions (docs/design.md, "Orders across partitions").
// An order lives at its route partition, its home. When a reserve touches a
// partition this instance does not own, the home holds its own lines in
// its cycle and sends the rest as messages on engine.messages, keyed so each
// lands at its partition: a hold to each other line partition, a claim of
// the order id to the id's partition. Each answers back to the home, which
// decides once every answer is in: reserved if all held and the id was
// free, else rejected, and what was held is let go. Steps (confirm,
// release, ship) and expiry reach the other partitions as settlements.
//
// Every message is written in the sender's transaction, and a partition's
// messages are read in order by whichever instance owns it, so a hold is
// always applied before its order's settlement, and nothing is applied
// twice. A hold carries the order's expiry: if its order never settles it,
// it ends Config.HoldGrace after that by itself.
const (
	msgHold   = "hold"   // home → a line partition: hold these lines
	msgClaim  = "claim"  // home → the order id's partition: take the id for this body
	msgSettle = "settle" // home → a line partition: confirm, release, ship or expire the lines
	msgForget = "forget" // home → the order id's partition: the order left; drop the id's entry
	msgAnswer = "answer" // back home: a hold, claim or settlement done, or refused
	// home → the order id's partition: the order was refused; lead lookups
	// by id to it, leaving the id free
	msgRejected = "rejected"
	// the API → every partition: release the channel's parked values for
	// another push (a DLQ replay, unpark.go)
	msgUnpark = "unpark"
)

type message struct {
	Kind      string      `json:"kind"`
	Order     string      `json:"order"`
	Route     string      `json:"route"`           // the order's route SKU: answers go to its partition
	Step      string      `json:"step"`            // reserve (hold, claim), or the step being settled
	Lines     []orderLine `json:"lines,omitempty"` // this partition's lines; in an answer to a hold, as placed
	Channel   string      `json:"channel,omitempty"`
	ExpiresAt int64       `json:"expires_at,omitempty"`
	Digest    uint64      `json:"digest,omitempty"`
	// Accepted is a claim's body, or in a refused claim the body the id
	// was taken with.
	Accepted *contract.AcceptedOrder `json:"accepted,omitempty"`
	Ack      bool                    `json:"ack,omitempty"`  // a settlement the order waits for
	From     string                  `json:"from,omitempty"` // an answer's: hold, claim or settle
	OK       bool                    `json:"ok,omitempty"`
	Reason   *contract.Reason        `json:"reason,omitempty"`
}

// hold is the value of an order's key at a line partition other than its
// home: the lines held there, to end them if the order never settles them.
type hold struct {
	Route     string      `json:"route"`
	Lines     []orderLine `json:"lines"`
	Until     int64       `json:"until"` // the order's expiry + Config.HoldGrace, unix ms
	Confirmed bool        `json:"confirmed,omitempty"`
}

// send writes a message keyed so it lands at its partition: a line's SKU
// for holds and settlements, the order id for claims, the route for
// answers.
func (p *Processor) send(c *txloop.Cycle, m message) {
	key := m.Order
	switch m.Kind {
	case msgHold, msgSettle:
		key = m.Lines[0].SKU
	case msgAnswer:
		key = m.Route
	}
	c.Emit(&kgo.Record{Topic: string(p.cfg.Names.EngineMessages), Key: []byte(key), Value: mustJSON(m)})
	p.countCommand("message:"+m.Kind, "sent")
}

// message applies one message from another partition.
func (p *Processor) message(c *txloop.Cycle, r *kgo.Record) error {
	if p.rerouted(c, r) {
		return nil
	}
	var m message
	err := json.Unmarshal(r.Value, &m)
	switch {
	case err == nil && m.Kind == msgUnpark:
		p.startUnpark(c, r, m.Channel)
		return nil
	case err != nil || m.Order == "" || m.Route == "":
		p.deadLetter(c, r, fmt.Sprintf("not an engine message (%v)", err))
		return nil
	}
	switch m.Kind {
	case msgHold:
		return p.holdLines(c, r.Partition, m)
	case msgClaim:
		return p.claim(c, r.Partition, m)
	case msgSettle:
		return p.settle(c, r.Partition, m)
	case msgForget:
		return p.forgetID(c, r.Partition, m.Order, m.Digest)
	case msgRejected:
		return p.markRejected(c, r.Partition, m.Order, dirEntry{Route: m.Route, Digest: m.Digest, Accepted: m.Accepted, Rejected: true})
	case msgAnswer:
		return p.answered(c, m)
	}
	p.deadLetter(c, r, fmt.Sprintf("unknown engine message kind %q", m.Kind))
	return nil
}

// reserveAcross starts a reserve that touches partitions not owned here:
// it holds the home's lines now and asks the other partitions for the rest.
func (p *Processor) reserveAcross(c *txloop.Cycle, home int32, o *order, cmd contract.OrderCommand, now time.Time) error {
	parts, byPart := p.byPartition(o.Lines)
	placed, reason, err := p.place(c, o.ID, o.Channel, byPart[home], o.ExpiresAt, now)
	if err != nil {
		return err
	}
	if reason != nil {
		return p.reject(c, home, o, cmd, *reason, now)
	}
	o.setPlaced(placed)
	o.State = Pending
	o.Waiting = &waiting{Step: contract.Reserve, Requests: []string{cmd.RequestID}}
	for _, part := range parts {
		if part != home {
			p.send(c, message{Kind: msgHold, Order: o.ID, Route: o.Route, Step: contract.Reserve, Lines: byPart[part],
				Channel: o.Channel, ExpiresAt: o.ExpiresAt})
			o.Waiting.Answers++
		}
	}
	if p.partition(o.ID) != home {
		p.send(c, message{Kind: msgClaim, Order: o.ID, Route: o.Route, Step: contract.Reserve, Digest: o.Digest, Accepted: o.accepted()})
		o.Waiting.Answers++
	}
	c.Put(home, orderKey(o.ID), p.tableValue(o))
	p.know(home, o.ID)
	queue(p.expiry, home).push(o.ID, o.ExpiresAt) // if the answers take longer than its TTL
	return nil
}

// holdLines holds an order's lines at this partition, all or none, and
// answers its home.
func (p *Processor) holdLines(c *txloop.Cycle, part int32, m message) error {
	now := p.cfg.Now()
	placed, reason, err := p.place(c, m.Order, m.Channel, m.Lines, m.ExpiresAt, now)
	if err != nil {
		return err
	}
	ans := message{Kind: msgAnswer, Order: m.Order, Route: m.Route, Step: contract.Reserve, From: msgHold, Reason: reason}
	if reason == nil {
		ans.OK, ans.Lines = true, placed
		h := hold{Route: m.Route, Lines: placed, Until: m.ExpiresAt + p.cfg.HoldGrace.Milliseconds()}
		c.Put(part, holdKey(m.Order), mustJSON(h))
		queue(p.holds, part).push(m.Order, h.Until)
	}
	p.send(c, ans)
	return nil
}

// claim takes an order id for a body at the id's partition, unless another
// body has it.
func (p *Processor) claim(c *txloop.Cycle, part int32, m message) error {
	e, err := p.claimant(c, part, m.Order)
	if err != nil {
		return err
	}
	ans := message{Kind: msgAnswer, Order: m.Order, Route: m.Route, Step: contract.Reserve, From: msgClaim, OK: true}
	switch {
	case e != nil && e.Digest != m.Digest:
		reason := conflict(e.Accepted)
		ans.OK, ans.Reason = false, &reason
	case e == nil:
		c.Put(part, dirKey(m.Order), p.tableValue(&dirEntry{Route: m.Route, Digest: m.Digest, Accepted: m.Accepted}))
		p.know(part, m.Order)
	}
	p.send(c, ans)
	return nil
}

// settle applies a step to an order's lines held at this partition.
func (p *Processor) settle(c *txloop.Cycle, part int32, m message) error {
	now := p.cfg.Now()
	if err := p.applyLines(c, m.Step, m.Order, m.Lines, now); err != nil {
		return err
	}
	h, err := p.loadHold(c, part, m.Order)
	if err != nil {
		return err
	}
	switch {
	case h == nil:
	case m.Step == contract.Confirm:
		h.Confirmed = true
		c.Put(part, holdKey(m.Order), mustJSON(h))
	case m.Step != contract.Expire || !h.Confirmed:
		c.Put(part, holdKey(m.Order), nil)
	}
	if m.Ack {
		p.send(c, message{Kind: msgAnswer, Order: m.Order, Route: m.Route, Step: m.Step, From: msgSettle, OK: true})
	}
	return nil
}

func (p *Processor) loadHold(c *txloop.Cycle, part int32, id string) (*hold, error) {
	v, err := c.Get(part, holdKey(id))
	if err != nil || v == nil {
		return nil, err
	}
	h := new(hold)
	if err := json.Unmarshal(v, h); err != nil {
		return nil, fmt.Errorf("inventory: hold of order %q: %w", id, err)
	}
	return h, nil
}

// endOrphan ends a hold whose order never settled it within HoldGrace of
// its expiry.
func (p *Processor) endOrphan(c *txloop.Cycle, part int32, id string, now time.Time) error {
	h, err := p.loadHold(c, part, id)
	if err != nil || h == nil || h.Confirmed || h.Until > now.UnixMilli() {
		return err
	}
	p.log.Warn("a hold outlived its order's expiry by the grace period and ends by itself; the order's home never settled it",
		"order", id, "route", h.Route, "partition", part, "grace", p.cfg.HoldGrace)
	p.cfg.Metrics.Expiries.Inc()
	c.Put(part, holdKey(id), nil)
	return p.applyLines(c, contract.Expire, id, h.Lines, now)
}

// answered takes another partition's answer at the order's home, and
// decides once the last one is in.
func (p *Processor) answered(c *txloop.Cycle, m message) error {
	home := p.partition(m.Route)
	o, err := p.loadOrder(c, home, m.Order)
	if err != nil {
		return err
	}
	if o == nil || o.Waiting == nil || o.Waiting.Step != m.Step {
		return nil // late: the order moved on (a reserve expired while waiting), and what was held was told to let go
	}
	w := o.Waiting
	w.Answers--
	switch {
	case !m.OK:
		if w.Failure == nil {
			w.Failure = m.Reason
		}
	case m.From == msgHold:
		o.setPlaced(m.Lines)
	case m.From == msgClaim:
		o.Claimed = true
	}
	if w.Answers > 0 {
		c.Put(home, orderKey(o.ID), p.tableValue(o))
		return nil
	}
	o.Waiting = nil
	now := p.cfg.Now()
	if w.Step != contract.Reserve {
		p.stepped(c, home, o, w.Step, w.Requests, now)
		return nil
	}
	if w.Failure == nil {
		o.State = Reserved
		o.Answer = reservedAnswer(o, w.Requests[0])
		p.countCommand(contract.Reserve, "accepted")
	} else {
		// Refused: let go of what was held, here and elsewhere.
		if _, err := p.settleLines(c, home, o, contract.Release, false, now); err != nil {
			return err
		}
		if err := p.noteRejected(c, home, o); err != nil {
			return err
		}
		o.State = Rejected
		o.Answer = contract.OrderResult{OrderID: o.ID, RequestID: w.Requests[0], Type: contract.Reserve, Status: contract.StatusRejected, Error: w.Failure}
		p.finished(home, o, now)
		p.countCommand(contract.Reserve, "rejected")
	}
	c.Put(home, orderKey(o.ID), p.tableValue(o))
	for _, id := range w.Requests {
		a := o.Answer
		a.RequestID = id
		p.answer(c, &a)
	}
	return nil
}

// unclaim gives an order's id back at the id's partition when it was
// claimed for an order that holds nothing.
func (p *Processor) unclaim(c *txloop.Cycle, home int32, o *order) error {
	if d := p.partition(o.ID); d != home {
		return p.dropID(c, d, o)
	}
	return nil
}

// dropID removes an order's directory entry at the id's partition d: in
// this cycle if d is owned here, else by a message.
func (p *Processor) dropID(c *txloop.Cycle, d int32, o *order) error {
	if c.Owned(d) {
		return p.forgetID(c, d, o.ID, o.Digest)
	}
	p.send(c, message{Kind: msgForget, Order: o.ID, Route: o.Route, Digest: o.Digest})
	return nil
}

// forgetID removes an order id's directory entry if it is this body's (the
// id may have been taken by another since).
func (p *Processor) forgetID(c *txloop.Cycle, d int32, id string, dig uint64) error {
	e, err := p.loadDir(c, d, id)
	if err != nil || e == nil || e.Digest != dig {
		return err
	}
	c.Put(d, dirKey(id), nil)
	return nil
}

// setPlaced records where lines were placed.
func (o *order) setPlaced(placed []orderLine) {
	for _, pl := range placed {
		for i := range o.Lines {
			if o.Lines[i].SKU == pl.SKU {
				o.Lines[i].Location = pl.Location
			}
		}
	}
}
