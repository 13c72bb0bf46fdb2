package sinks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/marketplace"
)

// Verdict is a message on the sink verdicts stream (key SKU): what a
// channel's marketplace made of one update. OK is false when the update is
// parked: refused for good, or still failing after MaxAttempts.
type Verdict struct {
	Channel   string `json:"channel"`
	SKU       string `json:"sku"`
	Version   int64  `json:"version"`
	Available int64  `json:"available"`
	OK        bool   `json:"ok"`
	Reason    string `json:"reason,omitempty"`
	At        int64  `json:"at"` // unix ms of the acknowledgement or refusal
}

// Config is what a Pusher needs.
type Config struct {
	Channel string              // required
	Adapter marketplace.Adapter // required
	// Send hands a verdict to the sink processor (the verdicts stream) and
	// calls done once it is durable, or failed; required. It must not block:
	// a marketplace batch ends in hundreds of verdicts.
	Send        func(ctx context.Context, v Verdict, done func(error))
	Metrics     *Metrics      // required
	Logger      *slog.Logger  // default slog.Default()
	MaxAttempts int           // retryable item failures before an update is parked; default 10
	Backoff     time.Duration // first retry delay, doubled per attempt up to MaxBackoff, with jitter; default 200ms
	MaxBackoff  time.Duration // default 30s
	// MaxPending bounds the values held in memory; 0 (default) holds every
	// value offered. Past it, an offered value of a SKU not held is left
	// where it is durable, the processor's push state, and its partition
	// is marked behind: the processor offers such values again (Behind,
	// CaughtUp) once the pusher has room. A catalogue's first sync to a
	// slow marketplace would otherwise hold every SKU of every channel.
	MaxPending int
	// Unordered pushes pending values in no particular order, as before
	// urgent values went first (issue 16); for measuring what the order
	// buys. Default false: urgent values first.
	Unordered bool
}

// Pending is one SKU whose newest value the marketplace has not acknowledged.
type Pending struct {
	SKU       string
	Available int64
	Version   int64
	Since     time.Time // when this value was offered
	Attempts  int
	LastError string
}

// Status is a pusher's state for GET /v1/channels.
type Status struct {
	Manual    bool
	Circuit   contract.Circuit
	Pending   int
	LastAckAt time.Time
	// LastError is the newest failure of a push (a refusal, a throttle, an
	// error) and LastErrorAt when it happened; zero before the first.
	LastError   string
	LastErrorAt time.Time
}

type entry struct {
	partition    int32
	update       marketplace.Update
	offered      time.Time
	sentOK       int64     // version the marketplace accepted, awaiting the processor's ack
	sentAt       time.Time // when; past ackWait the value is pushed again
	inflight     bool
	attempts     int // every retry, for the ops console
	itemFailures int // retries the marketplace blamed on this item
	notBefore    time.Time
	lastErr      string
	urgent       bool // a sell-out or a sharp drop: pushed before routine values
	first        bool // the marketplace shows no value of this SKU yet (a new listing): pushed after changes
}

// Pusher pushes one channel's pending updates.
type Pusher struct {
	cfg     Config
	limits  marketplace.Limits
	limiter *rate.Limiter
	slots   chan struct{}
	wake    chan struct{}

	mu         sync.Mutex
	entries    map[string]*entry
	manual     bool
	forceOnce  bool
	breaker    circuit
	pauseUntil time.Time
	lastAck    time.Time
	lastErr    string
	lastErrAt  time.Time
	shown      []uint32 // per hash slot of a SKU: 1 + the value the marketplace last acknowledged, 0 unknown
	// cooling holds, for a marketplace with an ItemCooldown, when each SKU
	// it took within the cooldown may be pushed again: the SKU's entry is
	// forgotten once acknowledged, and a value offered after that must
	// still wait, or the marketplace refuses it and it waits for backoff.
	cooling  map[string]time.Time
	coolScan int // len(cooling) at which expired ones are swept next
	// behind counts, per partition, the values not taken for want of room
	// (MaxPending) since the processor last caught the partition up.
	behind map[int32]uint64
}

// shownSlots bounds the memory of what each marketplace shows: 4 bytes a
// slot, 1 MiB a channel. Two SKUs that share a slot only blur which of
// their values counts as urgent; nothing else reads it.
const shownSlots = 1 << 18

// New builds a pusher; Run starts it.
func New(cfg Config) (*Pusher, error) {
	if cfg.Channel == "" || cfg.Adapter == nil || cfg.Send == nil || cfg.Metrics == nil {
		return nil, errors.New("sinks: Channel, Adapter, Send and Metrics are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	cfg.Logger = cfg.Logger.With("channel", cfg.Channel, "marketplace", cfg.Adapter.Name())
	l := cfg.Adapter.Limits()
	return &Pusher{
		cfg:     cfg,
		limits:  l,
		limiter: rate.NewLimiter(rate.Limit(l.Rate), max(l.Burst, 1)),
		slots:   make(chan struct{}, max(l.MaxParallel, 1)),
		wake:    make(chan struct{}, 1),
		entries: map[string]*entry{},
		shown:   make([]uint32, shownSlots),
		cooling: map[string]time.Time{},
		behind:  map[int32]uint64{},
	}, nil
}

func (p *Pusher) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Urgent values go before routine ones (issue 16): a value that takes the
// marketplace's stock to zero, or to at most half of what it last
// acknowledged, is what turns the marketplace's next orders into
// cancellations; a first value or a rise only makes it sell less.
func urgent(available int64, shown uint32) bool {
	return available == 0 || shown > 0 && available <= (int64(shown)-1)/2
}

func slot(sku string) uint32 {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(sku); i++ {
		h = (h ^ uint32(sku[i])) * 16777619
	}
	return h % shownSlots
}

// Offer records the newest value for a SKU; an older or equal version than
// the one already held is ignored (conflation).
func (p *Pusher) Offer(partition int32, u marketplace.Update) {
	p.mu.Lock()
	e, ok := p.entries[u.SKU]
	if ok && u.Version <= e.update.Version {
		p.mu.Unlock()
		return
	}
	if !ok && p.cfg.MaxPending > 0 && len(p.entries) >= p.cfg.MaxPending {
		p.behind[partition]++
		p.mu.Unlock()
		return
	}
	if !ok {
		e = &entry{notBefore: p.cooling[u.SKU]}
		p.entries[u.SKU] = e
	}
	e.partition, e.update, e.offered, e.attempts, e.itemFailures, e.lastErr = partition, u, time.Now(), 0, 0, ""
	shown := p.shown[slot(u.SKU)]
	e.urgent = !p.cfg.Unordered && urgent(u.Available, shown)
	e.first = !p.cfg.Unordered && !e.urgent && shown == 0
	p.cfg.Metrics.Pending.WithLabelValues(p.cfg.Channel).Set(float64(len(p.entries)))
	p.mu.Unlock()
	p.signal()
}

// MarkBehind says a partition may hold values this pusher does not: a
// partition just restored, whose pending values the processor offers when
// the pusher has room (Behind) rather than all at once.
func (p *Pusher) MarkBehind(partition int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.behind[partition]++
}

// Behind returns the partitions marked behind with their marks, and how
// many values the pusher has room for; none while it holds more than half
// of MaxPending.
func (p *Pusher) Behind() (marks map[int32]uint64, room int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.behind) == 0 || p.cfg.MaxPending > 0 && len(p.entries) > p.cfg.MaxPending/2 {
		return nil, 0
	}
	room = p.cfg.MaxPending - len(p.entries)
	if p.cfg.MaxPending == 0 {
		room = 1 << 30
	}
	return maps.Clone(p.behind), room
}

// CaughtUp says the processor offered every pending value of a partition
// it found since mark was read from Behind; a value refused for room
// meanwhile keeps the partition behind.
func (p *Pusher) CaughtUp(partition int32, mark uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.behind[partition] == mark {
		delete(p.behind, partition)
	}
}

// Acked forgets a SKU once the processor recorded version as acknowledged.
func (p *Pusher) Acked(sku string, version int64) { p.forget(sku, version) }

// Dropped forgets a SKU whose update was parked.
func (p *Pusher) Dropped(sku string, version int64) { p.forget(sku, version) }

func (p *Pusher) forget(sku string, version int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// An entry still marked in flight is forgotten too: the processor may
	// record a verdict before settle has cleared the mark.
	e, ok := p.entries[sku]
	p.cfg.Logger.Debug("sink: verdict recorded", "sku", sku, "version", version, "pending", ok, "pending_version", func() int64 {
		if ok {
			return e.update.Version
		}
		return 0
	}())
	if ok && e.update.Version <= version {
		delete(p.entries, sku)
		p.cfg.Metrics.Pending.WithLabelValues(p.cfg.Channel).Set(float64(len(p.entries)))
	}
}

// Forget drops the SKUs of a partition this instance no longer owns.
func (p *Pusher) Forget(partition int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.behind, partition)
	for sku, e := range p.entries {
		if e.partition == partition && !e.inflight {
			delete(p.entries, sku)
		}
	}
	p.cfg.Metrics.Pending.WithLabelValues(p.cfg.Channel).Set(float64(len(p.entries)))
}

// SetManual switches manual mode: nothing is pushed, pending values are kept.
func (p *Pusher) SetManual(manual bool) {
	p.mu.Lock()
	p.manual = manual
	p.mu.Unlock()
	p.cfg.Metrics.Manual.WithLabelValues(p.cfg.Channel).Set(map[bool]float64{true: 1}[manual])
	p.signal()
}

// PushNow pushes every pending value once, even in manual mode.
func (p *Pusher) PushNow() {
	p.mu.Lock()
	p.forceOnce = true
	for _, e := range p.entries {
		e.notBefore = time.Time{}
	}
	p.mu.Unlock()
	p.signal()
}

// Pending lists the SKUs not yet acknowledged, sorted by SKU.
func (p *Pusher) Pending() []Pending {
	p.mu.Lock()
	out := make([]Pending, 0, len(p.entries))
	for sku, e := range p.entries {
		out = append(out, Pending{SKU: sku, Available: e.update.Available, Version: e.update.Version,
			Since: e.offered, Attempts: e.attempts, LastError: e.lastErr})
	}
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].SKU < out[j].SKU })
	return out
}

// Status reports mode, circuit and backlog.
func (p *Pusher) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Status{Manual: p.manual, Circuit: p.breaker.State(time.Now()), Pending: len(p.entries), LastAckAt: p.lastAck,
		LastError: p.lastErr, LastErrorAt: p.lastErrAt}
}

// Run pushes until ctx ends. A batch is picked once a request may go (rate
// and a free slot), so a value that turned urgent while the pusher waited
// still goes first.
func (p *Pusher) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.wake:
		case <-timer.C:
		}
		for {
			if ok, wait := p.due(time.Now()); !ok {
				timer.Reset(wait)
				break
			}
			if err := p.limiter.Wait(ctx); err != nil {
				return nil
			}
			select {
			case p.slots <- struct{}{}:
			case <-ctx.Done():
				return nil
			}
			batch := p.pick(time.Now())
			if len(batch) == 0 {
				<-p.slots
				timer.Reset(10 * time.Millisecond) // another took them, or the probe is out
				break
			}
			go func() {
				defer func() { <-p.slots }()
				p.push(ctx, batch)
			}()
		}
	}
}

// due reports whether a value may be pushed now, or how long to wait.
func (p *Pusher) due(now time.Time) (bool, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	const idle = 250 * time.Millisecond
	switch {
	case p.manual && !p.forceOnce:
		return false, idle
	case now.Before(p.pauseUntil):
		return false, p.pauseUntil.Sub(now)
	case p.breaker.State(now) == contract.CircuitOpen:
		return false, max(p.breaker.openUntil.Sub(now), 10*time.Millisecond)
	case p.breaker.probing:
		return false, 10 * time.Millisecond // the half-open probe decides first
	}
	wait := idle
	for _, e := range p.entries {
		switch {
		case e.inflight || awaitingAck(e, now):
		case now.Before(e.notBefore):
			wait = min(wait, e.notBefore.Sub(now))
		default:
			return true, 0
		}
	}
	p.breaker.probing = false
	p.forceOnce = false
	return false, wait
}

// pick takes up to MaxBatch SKUs that are due, urgent ones first, first
// values (a new listing, a catalogue's first sync) last, and marks them in
// flight.
func (p *Pusher) pick(now time.Time) []marketplace.Update {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.manual && !p.forceOnce || now.Before(p.pauseUntil) || !p.breaker.allow(now) {
		return nil
	}
	limit := max(p.limits.MaxBatch, 1)
	var batch, routine, first []*entry
	for _, e := range p.entries {
		switch {
		case e.inflight || awaitingAck(e, now) || now.Before(e.notBefore):
		case e.urgent && len(batch) < limit:
			batch = append(batch, e)
		case e.first && len(first) < limit:
			first = append(first, e)
		case !e.urgent && !e.first && len(routine) < limit:
			routine = append(routine, e)
		}
	}
	batch = append(batch, routine[:min(len(routine), limit-len(batch))]...)
	batch = append(batch, first[:min(len(first), limit-len(batch))]...)
	out := make([]marketplace.Update, len(batch))
	for i, e := range batch {
		e.inflight = true
		out[i] = e.update
	}
	if len(out) == 0 {
		p.breaker.probing = false
		p.forceOnce = false
	}
	return out
}

// circuitMetric exports the breaker's state; call with p.mu held.
func (p *Pusher) circuitMetric(now time.Time) {
	open := 0.0
	if p.breaker.State(now) != contract.CircuitClosed {
		open = 1
	}
	p.cfg.Metrics.Circuit.WithLabelValues(p.cfg.Channel).Set(open)
}

func (p *Pusher) release(batch []marketplace.Update) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, u := range batch {
		if e, ok := p.entries[u.SKU]; ok {
			e.inflight = false
		}
	}
}

// push sends one batch and settles every update in it.
func (p *Pusher) push(ctx context.Context, batch []marketplace.Update) {
	results, err := p.cfg.Adapter.Push(ctx, batch)
	if err != nil && ctx.Err() != nil {
		p.release(batch) // shutting down: not the marketplace's failure
		return
	}
	now := time.Now()
	var throttled *marketplace.ThrottledError
	var rejected *marketplace.RejectedError
	switch {
	case err == nil && len(results) != len(batch):
		err = &marketplace.UnavailableError{Err: fmt.Errorf("%d results for %d updates", len(results), len(batch))}
		fallthrough
	case err != nil && !errors.As(err, &throttled) && !errors.As(err, &rejected):
		p.cfg.Metrics.Pushes.WithLabelValues(p.cfg.Channel, "unavailable").Inc()
		p.cfg.Logger.Warn("marketplace unavailable; retrying with backoff", "batch", len(batch), "err", err)
		p.mu.Lock()
		p.breaker.failure(now)
		p.circuitMetric(now)
		p.mu.Unlock()
		p.retryAll(ctx, batch, err.Error(), 0, false)
		return
	case throttled != nil:
		p.cfg.Metrics.Pushes.WithLabelValues(p.cfg.Channel, "throttled").Inc()
		wait := throttled.RetryAfter
		if wait <= 0 {
			wait = p.cfg.Backoff
		}
		p.mu.Lock()
		p.pauseUntil = now.Add(wait)
		p.mu.Unlock()
		p.retryAll(ctx, batch, err.Error(), wait, false)
		return
	case rejected != nil && len(batch) > 1:
		// Some marketplaces (Yandex) refuse a whole request for one bad item:
		// split the batch until the bad one stands alone.
		p.cfg.Metrics.Pushes.WithLabelValues(p.cfg.Channel, "rejected").Inc()
		for _, half := range [][]marketplace.Update{batch[:len(batch)/2], batch[len(batch)/2:]} {
			if p.limiter.Wait(ctx) != nil {
				p.release(half)
				continue
			}
			p.push(ctx, half)
		}
		return
	case rejected != nil:
		p.cfg.Metrics.Pushes.WithLabelValues(p.cfg.Channel, "rejected").Inc()
		p.cfg.Logger.Error("marketplace rejected the request; parking its updates", "batch", len(batch), "err", err)
		for _, u := range batch {
			p.settle(ctx, u, Verdict{OK: false, Reason: err.Error()})
		}
		return
	}
	p.mu.Lock()
	p.breaker.success()
	p.circuitMetric(now)
	p.mu.Unlock()
	for i, u := range batch {
		r := results[i]
		switch {
		case r.OK:
			p.cfg.Metrics.Pushes.WithLabelValues(p.cfg.Channel, "ok").Inc()
			p.settle(ctx, u, Verdict{OK: true})
		case r.Retryable:
			p.cfg.Metrics.Pushes.WithLabelValues(p.cfg.Channel, "item_retry").Inc()
			p.retryAll(ctx, []marketplace.Update{u}, r.Reason, 0, true)
		default:
			p.cfg.Metrics.Pushes.WithLabelValues(p.cfg.Channel, "item_parked").Inc()
			p.settle(ctx, u, Verdict{OK: false, Reason: r.Reason})
		}
	}
}

// retryAll schedules updates again after wait, or after an exponential
// backoff with jitter when wait is 0. An item failure counts toward
// MaxAttempts, past which the update is parked; a throttled or failed request
// does not: that is the marketplace's state, not the item's, and the circuit
// and Retry-After pace it.
func (p *Pusher) retryAll(ctx context.Context, batch []marketplace.Update, reason string, wait time.Duration, itemFailure bool) {
	var parked []marketplace.Update
	p.mu.Lock()
	if len(batch) > 0 {
		p.lastErr, p.lastErrAt = reason, time.Now()
	}
	for _, u := range batch {
		e, ok := p.entries[u.SKU]
		if !ok {
			continue
		}
		e.inflight = false
		e.attempts++
		e.lastErr = reason
		if itemFailure {
			e.itemFailures++
		}
		if e.itemFailures >= p.cfg.MaxAttempts && e.update.Version == u.Version {
			parked = append(parked, u)
			continue
		}
		d := wait
		if d <= 0 {
			d = min(p.cfg.Backoff<<min(e.attempts-1, 16), p.cfg.MaxBackoff)
			d = d/2 + rand.N(d/2+1) // jitter: spread retries of many SKUs
		}
		e.notBefore = time.Now().Add(d)
		p.cfg.Metrics.Retries.WithLabelValues(p.cfg.Channel).Inc()
	}
	p.mu.Unlock()
	for _, u := range parked {
		p.settle(ctx, u, Verdict{OK: false, Reason: fmt.Sprintf("gave up after %d attempts: %s", p.cfg.MaxAttempts, reason)})
	}
}

// settle hands a verdict to the processor. The SKU stays pending until the
// processor records it (Acked, Dropped), so a lost verdict is pushed again.
func (p *Pusher) settle(ctx context.Context, u marketplace.Update, v Verdict) {
	if !v.OK {
		p.mu.Lock()
		p.lastErr, p.lastErrAt = v.Reason, time.Now()
		p.mu.Unlock()
	}
	v.Channel, v.SKU, v.Version, v.Available, v.At = p.cfg.Channel, u.SKU, u.Version, u.Available, time.Now().UnixMilli()
	p.cfg.Send(ctx, v, func(err error) { p.settled(u, v, err) })
}

// ackWait is how long a value the marketplace took waits for the
// processor to record its verdict (Acked, Dropped) before it is pushed
// again: a verdict lost on its way (a partition that moved, an aborted
// cycle) must not hold the value, and a slot of MaxPending, for good. A
// marketplace takes an absolute value, so a repeat is harmless.
const ackWait = 15 * time.Second

// awaitingAck reports whether e's value was taken by the marketplace and
// waits, not for too long yet, for the processor to record it.
func awaitingAck(e *entry, now time.Time) bool {
	return e.update.Version <= e.sentOK && now.Sub(e.sentAt) < ackWait
}

// settled records the verdict's fate; the SKU stays in flight until then.
func (p *Pusher) settled(u marketplace.Update, v Verdict, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.entries[u.SKU]
	if !ok {
		return
	}
	e.inflight = false
	if err != nil {
		p.cfg.Logger.Warn("could not record a verdict; the update will be pushed again", "sku", u.SKU, "err", err)
		e.notBefore = time.Now().Add(p.cfg.Backoff)
		return
	}
	e.sentAt = time.Now()
	if v.OK {
		e.sentOK = max(e.sentOK, u.Version)
		p.shown[slot(u.SKU)] = uint32(min(max(u.Available, 0), math.MaxUint32-1)) + 1
		p.lastAck = time.UnixMilli(v.At)
		if p.limits.ItemCooldown > 0 {
			e.notBefore = time.Now().Add(p.limits.ItemCooldown)
			p.cool(u.SKU, e.notBefore)
		}
	} else if e.update.Version == u.Version {
		e.sentOK = u.Version // parked: wait for the processor to drop it, do not push again
	}
}

// cool records when sku may be pushed again, and sweeps the SKUs whose
// cooldown ended once the map has doubled: at most the SKUs pushed within
// one cooldown are held (Ozon: 75 requests/min of 100 for 30 s, 3,750);
// p.mu is held.
func (p *Pusher) cool(sku string, until time.Time) {
	p.cooling[sku] = until
	if len(p.cooling) < p.coolScan {
		return
	}
	now := time.Now()
	for k, t := range p.cooling {
		if !now.Before(t) {
			delete(p.cooling, k)
		}
	}
	p.coolScan = max(1024, 2*len(p.cooling))
}
