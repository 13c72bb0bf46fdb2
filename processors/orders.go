package processors

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/lovoo/goka"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/stock"
	"github.com/stocksync/stocksync/topology"
)

// OrdersConfig is what the orders processor needs.
type OrdersConfig struct {
	Names      topology.Names
	Brokers    []string
	Partitions int32          // partitions of every topic; required
	Catalog    *stock.Catalog // to refuse unknown channels and locations up front; required
	Metrics    *Metrics       // required
	Expiry     *Expiry        // told of every reservation and its end; required
	Logger     *slog.Logger   // default slog.Default()
	Now        func() time.Time
}

// NewOrders builds the orders processor: the saga of each order (DESIGN.md
// "orders"). It fans reserve lines out to the SKUs' owners, reserves all lines
// or none, and answers every command on orders.results.
//
// Every handler is idempotent in the same way: a command or reply that has
// already taken effect re-emits what the order's current state implies (its
// stock commands and its answer). goka writes the table before its outputs
// are acknowledged, so after a crash the replayed input meets a state that is
// ahead of what downstream saw; re-emitting closes that gap, and the inventory
// deduplicates what it already applied.
func NewOrders(cfg OrdersConfig, opts ...goka.ProcessorOption) (*goka.Processor, error) {
	if cfg.Partitions <= 0 || cfg.Catalog == nil || cfg.Metrics == nil || cfg.Expiry == nil {
		return nil, fmt.Errorf("processors: orders needs Partitions > 0, a Catalog, Metrics and an Expiry")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &orders{
		base:    base{names: cfg.Names, partitions: cfg.Partitions, metrics: cfg.Metrics, log: cfg.Logger.With("processor", "orders"), now: cfg.Now},
		catalog: cfg.Catalog,
		expiry:  cfg.Expiry,
	}
	return goka.NewProcessor(cfg.Brokers, cfg.Names.OrdersGraph(p.command, p.reply), opts...)
}

type orders struct {
	base
	catalog *stock.Catalog
	expiry  *Expiry
}

func (p *orders) load(ctx goka.Context) *order {
	v, _ := ctx.Value().([]byte)
	if v == nil {
		return nil
	}
	o, err := decodeOrder(v)
	if err != nil {
		ctx.Fail(fmt.Errorf("orders: state of order %q: %w", ctx.Key(), err))
	}
	return o
}

func (p *orders) save(ctx goka.Context, o *order) {
	ctx.SetValue(o.appendBinary(nil))
	if o.State == contract.StatusReserved {
		p.expiry.Track(ctx.Partition(), o.ID, o.ExpiresAt)
	} else {
		p.expiry.Untrack(ctx.Partition(), o.ID)
	}
}

// answer emits a result; its request id also goes in the header, for
// consumers that match on headers.
func (p *orders) answer(ctx goka.Context, r *contract.OrderResult) {
	if r.RequestID == "" {
		ctx.Emit(p.names.OrderResults, r.OrderID, mustJSON(r))
		return
	}
	ctx.Emit(p.names.OrderResults, r.OrderID, mustJSON(r),
		goka.WithCtxEmitHeaders(goka.Headers{contract.HeaderRequestID: []byte(r.RequestID)}))
}

// answerEach emits r once per waiting request id (once without one when
// none waits): every request gets the answer to itself.
func (p *orders) answerEach(ctx goka.Context, r contract.OrderResult, waiting []string) {
	if len(waiting) == 0 {
		waiting = []string{""}
	}
	for _, id := range waiting {
		r.RequestID = id
		p.answer(ctx, &r)
	}
}

func (p *orders) refuse(ctx goka.Context, c contract.OrderCommand, reason contract.Reason) {
	p.metrics.Commands.WithLabelValues(c.Type, "rejected").Inc()
	p.answer(ctx, &contract.OrderResult{OrderID: c.OrderID, RequestID: c.RequestID, Type: c.Type,
		Status: contract.StatusRejected, Error: &reason})
}

func (p *orders) command(ctx goka.Context, msg any) {
	raw, _ := msg.([]byte)
	if p.rerouted(ctx, raw) {
		return
	}
	c, err := contract.DecodeOrderCommand(raw)
	if err == nil && c.RequestID == "" {
		c.RequestID, err = requestIDHeader(ctx)
	}
	if err == nil && c.OrderID != ctx.Key() {
		if c.Type == contract.Reserve && ctx.Key() == c.Lines[0].SKU {
			// Keyed by its route SKU, as the new engine wants it: sent on
			// keyed by order id (the request id in the body, since goka's
			// Emit carries no headers), one hop more.
			ctx.Emit(goka.Stream(ctx.Topic()), c.OrderID, mustJSON(c))
			p.metrics.Rerouted.WithLabelValues(string(ctx.Topic())).Inc()
			return
		}
		err = fmt.Errorf("message key %q is neither its order_id %q nor, for a reserve, its route SKU (the first line's)", ctx.Key(), c.OrderID)
	}
	if err != nil {
		p.deadLetter(ctx, raw, err.Error())
		return
	}
	o := p.load(ctx)
	if c.Type == contract.Reserve {
		p.reserve(ctx, c, o, ctx.Timestamp())
		return
	}
	if o == nil {
		if c.Type != contract.Expire {
			p.refuse(ctx, c, contract.Reason{Type: contract.ErrUnknownOrder, Message: "no reserve was ever accepted for this order id"})
		}
		return
	}
	if o.State == contract.StatusReserved && !p.now().Before(time.UnixMilli(o.ExpiresAt)) {
		p.transition(ctx, o, contract.StatusExpired, stock.CmdExpire)
		p.answer(ctx, &contract.OrderResult{OrderID: o.ID, Type: contract.Expire, Status: contract.StatusExpired})
		p.metrics.Commands.WithLabelValues(contract.Expire, "accepted").Inc()
		if c.Type == contract.Expire {
			return
		}
	}
	switch c.Type {
	case contract.Confirm:
		p.step(ctx, c, o, map[string]bool{contract.StatusReserved: true}, contract.StatusConfirmed, stock.CmdConfirm)
	case contract.Release:
		p.step(ctx, c, o, map[string]bool{contract.StatusReserved: true, contract.StatusConfirmed: true,
			contract.StatusRejected: true, contract.StatusExpired: true}, contract.StatusReleased, stock.CmdRelease)
	case contract.Ship:
		p.step(ctx, c, o, map[string]bool{contract.StatusConfirmed: true}, contract.StatusShipped, stock.CmdShip)
	case contract.Expire:
		if o.State == contract.StatusExpired {
			p.fanOut(ctx, o, stock.CmdExpire, nil)
		}
	}
}

// step moves an order from one of the states in from to state to, sending cmd
// for every line; to is also the status of the answer. The answer waits until every line's owner has applied cmd
// (its reply), so a 200 means the stock already shows it; a repeat of the
// same step re-sends the lines not yet applied, or answers the same again.
func (p *orders) step(ctx goka.Context, c contract.OrderCommand, o *order, from map[string]bool, to, cmd string) {
	result := &contract.OrderResult{OrderID: o.ID, RequestID: c.RequestID, Type: c.Type, Status: to, Lines: o.placedLines()}
	switch {
	case o.State == to && o.Step == c.Type:
		// The step is still awaiting its replies: this request gets the
		// answer with the others once every line is applied.
		p.metrics.Commands.WithLabelValues(c.Type, "duplicate").Inc()
		o.StepWaiting = wait(o.StepWaiting, c.RequestID)
		ctx.SetValue(o.appendBinary(nil)) // a replay: the changelog write may have been lost
		p.fanOut(ctx, o, cmd, func(l orderLine) bool { return !l.Acked })
		return
	case o.State == to:
		p.metrics.Commands.WithLabelValues(c.Type, "duplicate").Inc()
		ctx.SetValue(o.appendBinary(nil))
		p.fanOut(ctx, o, cmd, nil)
	case from[o.State] && (o.State == contract.StatusRejected || o.State == contract.StatusExpired):
		// Nothing is held: record the release without stock commands.
		p.metrics.Commands.WithLabelValues(c.Type, "accepted").Inc()
		o.State = to
		p.save(ctx, o)
	case from[o.State]:
		p.metrics.Commands.WithLabelValues(c.Type, "accepted").Inc()
		p.finishStep(ctx, o) // a step still awaiting its replies was sent first: answer it
		o.Step, o.StepWaiting = c.Type, []string{c.RequestID}
		for i := range o.Lines {
			o.Lines[i].Acked = false
		}
		p.transition(ctx, o, to, cmd)
		return
	case o.State == contract.StatePending:
		p.refuse(ctx, c, contract.Reason{Type: contract.ErrPending, State: o.State,
			Message: "the order's reserve is still being decided; repeat the command in a moment"})
		return
	case o.State == contract.StatusExpired:
		p.refuse(ctx, c, contract.Reason{Type: contract.ErrExpired, State: o.State,
			Message: fmt.Sprintf("cannot %s: the reservation expired and its stock was released", c.Type)})
		return
	default:
		p.refuse(ctx, c, contract.Reason{Type: contract.ErrInvalidTransition, State: o.State,
			Message: fmt.Sprintf("cannot %s an order that is %s", c.Type, o.State)})
		return
	}
	p.answer(ctx, result)
}

// requestIDHeader reads the request id a producer put in the header instead
// of the JSON.
func requestIDHeader(ctx goka.Context) (string, error) {
	v := ctx.Headers()[contract.HeaderRequestID]
	if len(v) == 0 {
		return "", nil
	}
	id := string(v)
	if err := contract.CheckKey("header "+contract.HeaderRequestID, id); err != nil {
		return "", err
	}
	return id, nil
}

// stepStatus is the answer's status once a step is applied.
var stepStatus = map[string]string{
	contract.Confirm: contract.StatusConfirmed,
	contract.Release: contract.StatusReleased,
	contract.Ship:    contract.StatusShipped,
}

// finishStep answers the step the order awaits, if any, to every request
// waiting for it, and clears it.
func (p *orders) finishStep(ctx goka.Context, o *order) {
	if o.Step == "" {
		return
	}
	p.answerEach(ctx, contract.OrderResult{OrderID: o.ID, Type: o.Step, Status: stepStatus[o.Step], Lines: o.placedLines()}, o.StepWaiting)
	o.Step, o.StepWaiting = "", nil
}

// stepReply records that one line's owner applied the step the order awaits;
// with the last one, the order is answered.
func (p *orders) stepReply(ctx goka.Context, o *order, r stock.Reply) {
	i := o.line(r.SKU)
	if o.Step != r.Type || i < 0 || o.Lines[i].Acked {
		return // a repeat, or a step already answered
	}
	o.Lines[i].Acked = true
	for _, l := range o.Lines {
		if !l.Acked {
			p.save(ctx, o)
			return
		}
	}
	p.finishStep(ctx, o)
	p.save(ctx, o)
}

func (p *orders) transition(ctx goka.Context, o *order, to, cmd string) {
	o.State = to
	p.save(ctx, o)
	p.fanOut(ctx, o, cmd, nil)
}

// fanOut sends cmd to the owner of every line's SKU; only lines for which
// pick returns true when pick is set.
func (p *orders) fanOut(ctx goka.Context, o *order, cmd string, pick func(orderLine) bool) {
	at := ctx.Timestamp().UnixMilli()
	for _, l := range o.Lines {
		if pick != nil && !pick(l) {
			continue
		}
		sc := stock.Command{Type: cmd, OrderID: o.ID, SKU: l.SKU, Qty: l.Qty, Location: l.Location,
			Channel: o.Channel, ExpiresAt: o.ExpiresAt, At: at}
		ctx.Emit(p.names.StockCommands, l.SKU, mustJSON(sc))
	}
}

func (o *order) placedLines() []contract.Line {
	out := make([]contract.Line, len(o.Lines))
	for i, l := range o.Lines {
		out[i] = contract.Line{SKU: l.SKU, Qty: l.Qty, Location: l.Location}
	}
	return out
}

func (p *orders) reserve(ctx goka.Context, c contract.OrderCommand, o *order, produced time.Time) {
	if o != nil {
		if o.Digest != digest(c) {
			p.refuse(ctx, c, contract.Reason{Type: contract.ErrConflict, State: o.State, Accepted: o.accepted(),
				Message: "this order id was already used for a different reserve (see accepted); use a new order id"})
			return
		}
		p.metrics.Commands.WithLabelValues(c.Type, "duplicate").Inc()
		if o.State == contract.StatePending {
			o.Waiting = wait(o.Waiting, c.RequestID) // answered with the first once decided
			p.replay(ctx, o)
			return
		}
		p.replay(ctx, o)
		if o.Answer != nil {
			again := *o.Answer
			again.RequestID = c.RequestID
			p.answer(ctx, &again)
		}
		return
	}
	if c.Channel != "" && !p.catalog.HasChannel(c.Channel) {
		p.refuse(ctx, c, contract.Reason{Type: contract.ErrUnknownChannel, Message: fmt.Sprintf("channel %q is not configured", c.Channel)})
		return
	}
	for _, l := range c.Lines {
		if l.Location != "" && !p.catalog.Known(l.Location) {
			p.refuse(ctx, c, contract.Reason{Type: contract.ErrUnknownLocation, SKU: l.SKU, Location: l.Location,
				Message: fmt.Sprintf("location %q is not configured", l.Location)})
			return
		}
	}
	o = &order{ID: c.OrderID, State: contract.StatePending, Channel: c.Channel, Digest: digest(c), TTLS: c.TTLS,
		Waiting: []string{c.RequestID},
		At:      produced.UnixMilli(), ExpiresAt: p.now().Add(time.Duration(c.TTLS) * time.Second).UnixMilli()}
	for _, l := range c.Lines {
		o.Lines = append(o.Lines, orderLine{SKU: l.SKU, Qty: l.Qty, Location: l.Location})
	}
	p.save(ctx, o)
	p.fanOut(ctx, o, stock.CmdReserve, nil)
}

// replay persists the order again (its changelog write may have been lost
// with a crash or a failed produce) and re-emits what its state implies (see
// NewOrders).
func (p *orders) replay(ctx goka.Context, o *order) {
	ctx.SetValue(o.appendBinary(nil))
	p.replayEffects(ctx, o)
}

// replayEffects re-sends the stock commands the order's state implies.
func (p *orders) replayEffects(ctx goka.Context, o *order) {
	switch o.State {
	case contract.StatePending:
		p.fanOut(ctx, o, stock.CmdReserve, func(l orderLine) bool { return !l.Answered })
	case contract.StatusRejected:
		p.fanOut(ctx, o, stock.CmdRelease, func(l orderLine) bool { return l.OK })
	}
}

func (p *orders) reply(ctx goka.Context, msg any) {
	var r stock.Reply
	raw, ok := p.accept(ctx, msg, &r, "order_id", func() string { return r.OrderID }, "stock reply")
	if !ok {
		return
	}
	o := p.load(ctx)
	if o == nil {
		p.deadLetter(ctx, raw, "stock reply for an order this processor never saw")
		return
	}
	if r.Type != "" && r.Type != stock.CmdReserve {
		p.stepReply(ctx, o, r)
		return
	}
	i := o.line(r.SKU)
	if i < 0 {
		p.deadLetter(ctx, raw, fmt.Sprintf("stock reply for SKU %q, which order %q does not have", r.SKU, o.ID))
		return
	}
	if r.OK && !o.holds(i) {
		// A reserve delivered again after the order gave the line up (a
		// replay, a retry after a restock): the inventory now holds units
		// nobody will confirm or expire. Give them back.
		p.releaseLine(ctx, o, r.SKU)
	}
	if o.State != contract.StatePending {
		// A reply delivered again after a fault: the answer emitted with the
		// decision may be lost, so it goes again, to the request it was for.
		p.replay(ctx, o)
		if o.Answer != nil {
			p.answer(ctx, o.Answer)
		}
		return
	}
	if o.Lines[i].Answered {
		return
	}
	l := &o.Lines[i]
	l.Answered, l.OK, l.Error, l.Available = true, r.OK, r.Error, r.Available
	if r.Location != "" {
		l.Location = r.Location
	}
	if !o.allAnswered() {
		p.save(ctx, o)
		return
	}
	o.Answer = o.reserveAnswer()
	o.State = contract.StatusReserved
	if o.Answer.Status == contract.StatusRejected {
		o.State = contract.StatusRejected
	}
	// The stored answer keeps the first request's id: a replay after a
	// fault re-sends it to that request and to no other.
	waiting := o.Waiting
	if len(waiting) > 0 {
		o.Answer.RequestID = waiting[0]
	}
	o.Waiting = nil
	p.save(ctx, o)
	p.replayEffects(ctx, o)
	p.answerEach(ctx, *o.Answer, waiting)
	p.metrics.Commands.WithLabelValues(contract.Reserve, map[bool]string{true: "accepted", false: "rejected"}[o.State == contract.StatusReserved]).Inc()
	p.metrics.ReserveLatency.WithLabelValues(o.Answer.Status).Observe(p.now().Sub(time.UnixMilli(o.At)).Seconds())
}

// holds reports whether the order keeps line i's units reserved: it is
// pending and the line was not refused, or reserved or confirmed.
func (o *order) holds(i int) bool {
	switch o.State {
	case contract.StatePending:
		return !o.Lines[i].Answered || o.Lines[i].OK
	case contract.StatusReserved, contract.StatusConfirmed:
		return true
	}
	return false
}

func (p *orders) releaseLine(ctx goka.Context, o *order, sku string) {
	p.fanOut(ctx, o, stock.CmdRelease, func(l orderLine) bool { return l.SKU == sku })
	p.log.Info("released a reservation the order no longer wants", "order_id", o.ID, "sku", sku, "state", o.State)
}

func (o *order) line(sku string) int {
	for i := range o.Lines {
		if o.Lines[i].SKU == sku {
			return i
		}
	}
	return -1
}

func (o *order) allAnswered() bool {
	for _, l := range o.Lines {
		if !l.Answered {
			return false
		}
	}
	return true
}
