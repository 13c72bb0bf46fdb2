package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/stocksync/stocksync/client"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
)

// orderClient is what client.HTTP and client.Kafka both do.
type orderClient interface {
	Reserve(ctx context.Context, orderID string, lines []contract.Line, channel string, ttl time.Duration) (contract.OrderResult, error)
	Confirm(ctx context.Context, orderID string) (contract.OrderResult, error)
	Release(ctx context.Context, orderID string) (contract.OrderResult, error)
	Ship(ctx context.Context, orderID string) (contract.OrderResult, error)
}

type route struct {
	name string // http-<i> | kafka
	c    orderClient
}

// The catalogue under load: few SKUs so that reserves contend.
var skus = []string{"soak-a", "soak-b", "soak-c", "soak-d", "soak-e", "soak-f"}

const (
	clockSKU     = "soak-clock" // snapshot every second, on_hand = version: a clock each instance must not show going back
	initialStock = 30
	normalTTL    = 20 * time.Second
	// An order's commands are retried on retryable errors for this long.
	retryFor = 30 * time.Second
)

// load drives the order and feed traffic and records it in h.
type load struct {
	h      *History
	routes []route
	feeds  *feeder
	locs   []string
	chans  []config.Channel
	seed   int64
	// slow, when set, is told of each attempt that waited over
	// slowAttempt without an answer.
	slow func()
}

// slowAttempt is how long an attempt waits before it counts as a stall's
// sign: the clients time out at 8 s, and a takeover takes a few seconds.
const slowAttempt = 5 * time.Second

// send sends cmd once over r and records the attempt.
func (l *load) send(r route, cmd contract.OrderCommand) *Attempt {
	ctx := context.Background() // an attempt runs to its answer or its client's timeout, even when the load stops
	a := &Attempt{Via: r.name, Op: cmd.Type, OrderID: cmd.OrderID, Body: cmd, Sent: time.Now()}
	var res contract.OrderResult
	var err error
	switch cmd.Type {
	case contract.Reserve:
		res, err = r.c.Reserve(ctx, cmd.OrderID, cmd.Lines, cmd.Channel, time.Duration(cmd.TTLS)*time.Second)
	case contract.Confirm:
		res, err = r.c.Confirm(ctx, cmd.OrderID)
	case contract.Release:
		res, err = r.c.Release(ctx, cmd.OrderID)
	case contract.Ship:
		res, err = r.c.Ship(ctx, cmd.OrderID)
	}
	a.Answered = time.Now()
	if err != nil {
		a.Err, a.Retryable = err.Error(), client.Retryable(err)
		if l.slow != nil && a.Answered.Sub(a.Sent) > slowAttempt {
			l.slow()
		}
	} else {
		a.Result, a.RequestID = &res, echoedRequestID(res)
	}
	l.h.addAttempt(a)
	return a
}

// decide sends cmd until it is decided (an answer other than a refusal
// of type contract.ErrPending) or retryFor passes or stop ends; routes
// rotate between attempts. nil: no decision seen.
func (l *load) decide(stop context.Context, rng *rand.Rand, cmd contract.OrderCommand) *contract.OrderResult {
	deadline := time.Now().Add(retryFor)
	r := rng.IntN(len(l.routes))
	for {
		a := l.send(l.routes[r], cmd)
		if a.Result != nil && !(a.Result.Status == contract.StatusRejected && a.Result.Error != nil && a.Result.Error.Type == contract.ErrPending) {
			return a.Result
		}
		if a.Err != "" && !a.Retryable {
			return nil
		}
		if time.Now().After(deadline) || stop.Err() != nil {
			return nil
		}
		r = (r + 1) % len(l.routes)
		time.Sleep(time.Duration(200+rng.IntN(600)) * time.Millisecond)
	}
}

// decideTwice sends cmd over two routes at once (a duplicate) and returns
// the first decision.
func (l *load) decideTwice(stop context.Context, rng *rand.Rand, cmd contract.OrderCommand) *contract.OrderResult {
	var wg sync.WaitGroup
	out := make([]*contract.OrderResult, 2)
	for i := range out {
		sub := rand.New(rand.NewPCG(rng.Uint64(), uint64(i)))
		wg.Go(func() { out[i] = l.decide(stop, sub, cmd) })
	}
	wg.Wait()
	if out[0] != nil {
		return out[0]
	}
	return out[1]
}

// plans of an order's life, chosen per order.
const (
	planShip           = iota // reserve, confirm, ship
	planRelease               // reserve, release
	planConfirmRelease        // reserve, confirm, release
	planExpire                // reserve with a short TTL, then nothing
	planBadShip               // reserve, ship (refused: not confirmed), release
)

func pickPlan(rng *rand.Rand) int {
	switch p := rng.IntN(100); {
	case p < 40:
		return planShip
	case p < 60:
		return planRelease
	case p < 70:
		return planConfirmRelease
	case p < 92:
		return planExpire
	default:
		return planBadShip
	}
}

// reserveCommand builds a reserve of 1 or 2 SKUs, sometimes naming the
// location; channel web (every location) or ozon (the warehouse only).
func (l *load) reserveCommand(rng *rand.Rand, id string, ttl time.Duration) contract.OrderCommand {
	ch := l.chans[0]
	if rng.IntN(5) == 0 && len(l.chans) > 1 {
		ch = l.chans[1]
	}
	n := 1 + rng.IntN(2)
	picked := rng.Perm(len(skus))[:n]
	slices.Sort(picked)
	var lines []contract.Line
	for _, i := range picked {
		ln := contract.Line{SKU: skus[i], Qty: int64(1 + rng.IntN(3))}
		if rng.IntN(3) == 0 {
			ln.Location = ch.Locations[rng.IntN(len(ch.Locations))]
		}
		lines = append(lines, ln)
	}
	return contract.OrderCommand{Type: contract.Reserve, OrderID: id, Lines: lines, Channel: ch.Name, TTLS: int64(ttl / time.Second)}
}

// orderWorker runs orders through their lives until stop.
func (l *load) orderWorker(stop context.Context, w int) {
	rng := rand.New(rand.NewPCG(uint64(l.seed), uint64(w)))
	for n := 0; stop.Err() == nil; n++ {
		id := fmt.Sprintf("o-%d-%d", w, n)
		plan := pickPlan(rng)
		ttl := normalTTL
		if plan == planExpire {
			ttl = time.Duration(2+rng.IntN(3)) * time.Second
		}
		twice := rng.IntN(10) == 0
		step := func(cmd contract.OrderCommand) *contract.OrderResult {
			if twice {
				return l.decideTwice(stop, rng, cmd)
			}
			return l.decide(stop, rng, cmd)
		}
		res := step(l.reserveCommand(rng, id, ttl))
		if res == nil || res.Status != contract.StatusReserved {
			think(stop, rng)
			continue
		}
		next := func(op string) *contract.OrderResult {
			think(stop, rng)
			return step(contract.OrderCommand{Type: op, OrderID: id})
		}
		switch plan {
		case planShip:
			if r := next(contract.Confirm); r != nil && r.Status == contract.StatusConfirmed {
				next(contract.Ship)
			}
		case planRelease:
			next(contract.Release)
		case planConfirmRelease:
			if r := next(contract.Confirm); r != nil && r.Status == contract.StatusConfirmed {
				next(contract.Release)
			}
		case planBadShip:
			next(contract.Ship)
			next(contract.Release)
		}
		think(stop, rng)
	}
}

func think(stop context.Context, rng *rand.Rand) {
	select {
	case <-stop.Done():
	case <-time.After(time.Duration(30+rng.IntN(120)) * time.Millisecond):
	}
}

// conflictWorker sends, every 2 s, two reserves with the same order id and
// different bodies at once, over two different routes. The reservations
// that result are left to expire.
func (l *load) conflictWorker(stop context.Context) {
	rng := rand.New(rand.NewPCG(uint64(l.seed), 1000))
	for n := 0; stop.Err() == nil; n++ {
		id := fmt.Sprintf("c-%d", n)
		a := l.reserveCommand(rng, id, 3*time.Second)
		b := a
		b.Lines = slices.Clone(a.Lines)
		b.Lines[0].Qty = a.Lines[0].Qty%3 + 1 // another quantity: another body
		r1 := rng.IntN(len(l.routes))
		r2 := (r1 + 1 + rng.IntN(len(l.routes)-1)) % len(l.routes)
		var wg sync.WaitGroup
		wg.Go(func() { l.send(l.routes[r1], a) })
		wg.Go(func() { l.send(l.routes[r2], b) })
		wg.Wait()
		l.lateConflict(rng)
		select {
		case <-stop.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// lateConflict re-sends a reserve of an order decided earlier (within the
// last minute, so across a fault), with another body: the answer must be a
// refusal, never a replayed answer of the first body.
func (l *load) lateConflict(rng *rand.Rand) {
	l.h.mu.Lock()
	var past []*Attempt
	for _, a := range l.h.Attempts {
		if a.Op == contract.Reserve && a.Result != nil && time.Since(a.Answered) < time.Minute && time.Since(a.Answered) > 5*time.Second {
			past = append(past, a)
		}
	}
	l.h.mu.Unlock()
	if len(past) == 0 {
		return
	}
	cmd := past[rng.IntN(len(past))].Body
	cmd.Lines = slices.Clone(cmd.Lines)
	cmd.Lines[0].Qty = cmd.Lines[0].Qty%3 + 1
	l.send(l.routes[rng.IntN(len(l.routes))], cmd)
}
