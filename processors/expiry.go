package processors

import (
	"container/heap"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/lovoo/goka/storage"

	"github.com/stocksync/stocksync/contract"
)

// Expiry ends reservations past their TTL. goka has no timers, so the orders
// processor tells it of every reservation (Track) and of its end (Untrack);
// every Interval it sends an expire command for each one due, through
// orders.commands, so the order's single writer decides (DESIGN.md invariant
// 4: a reservation ends within TTL + Interval). The index is memory only:
// when a partition of the orders table is recovered, Seed reads it back.
type Expiry struct {
	// Send produces an expire command for the order; required.
	Send func(ctx context.Context, orderID string) error
	// Interval between sweeps; default 1s.
	Interval time.Duration
	Metrics  *Metrics     // required
	Logger   *slog.Logger // default slog.Default()

	mu    sync.Mutex
	due   map[string]tracked // order id → its reservation's expiry
	queue expiryHeap
}

type tracked struct {
	partition int32
	at        int64 // unix ms
}

func (e *Expiry) log() *slog.Logger {
	if e.Logger == nil {
		return slog.Default()
	}
	return e.Logger
}

// Track records that the order's reservation expires at unix ms at.
func (e *Expiry) Track(partition int32, orderID string, at int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.due == nil {
		e.due = make(map[string]tracked)
	}
	if t, ok := e.due[orderID]; ok && t.at == at {
		return
	}
	e.due[orderID] = tracked{partition: partition, at: at}
	heap.Push(&e.queue, expiryItem{id: orderID, at: at})
	e.Metrics.Tracked.Set(float64(len(e.due)))
}

// Untrack forgets the order: it was confirmed, released or expired.
func (e *Expiry) Untrack(partition int32, orderID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.due[orderID]; ok {
		delete(e.due, orderID)
		e.Metrics.Tracked.Set(float64(len(e.due)))
	}
	if len(e.queue) > 2*len(e.due)+1024 {
		e.rebuild() // most entries are stale: confirmed or released orders
	}
}

// rebuild makes the queue hold exactly the tracked orders.
func (e *Expiry) rebuild() {
	e.queue = e.queue[:0]
	for id, t := range e.due {
		e.queue = append(e.queue, expiryItem{id: id, at: t.at})
	}
	heap.Init(&e.queue)
}

// Forget drops every order of a partition this instance no longer owns.
func (e *Expiry) Forget(partition int32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, t := range e.due {
		if t.partition == partition {
			delete(e.due, id)
		}
	}
	e.Metrics.Tracked.Set(float64(len(e.due)))
}

// Seed tracks the reserved orders of a recovered partition of the orders table.
func (e *Expiry) Seed(partition int32, st storage.Storage) error {
	it, err := st.Iterator()
	if err != nil {
		return err
	}
	defer it.Release()
	n := 0
	for it.Next() {
		v, err := it.Value()
		if err != nil {
			return err
		}
		o, err := decodeOrder(v)
		if err != nil || o.State != contract.StatusReserved {
			continue
		}
		e.Track(partition, o.ID, o.ExpiresAt)
		n++
	}
	e.log().Info("expiry: reservations tracked after recovery", "partition", partition, "reservations", n)
	return it.Err()
}

// Run sweeps every Interval until ctx ends.
func (e *Expiry) Run(ctx context.Context) error {
	interval := e.Interval
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			for _, id := range e.popDue(now.UnixMilli()) {
				if err := e.Send(ctx, id); err != nil {
					e.log().Error("expiry: could not send an expire command; it is sent again in 5s", "order_id", id, "err", err)
					continue
				}
				e.Metrics.Expiries.Inc()
			}
		}
	}
}

// popDue removes and returns the orders due at now. An order stays tracked
// until the orders processor untracks it, so a lost command is sent again.
func (e *Expiry) popDue(now int64) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ids []string
	for e.queue.Len() > 0 && e.queue[0].at <= now {
		it := heap.Pop(&e.queue).(expiryItem)
		if t, ok := e.due[it.id]; ok && t.at == it.at {
			ids = append(ids, it.id)
			heap.Push(&e.queue, expiryItem{id: it.id, at: now + 5000}) // resend in 5s unless untracked
			e.due[it.id] = tracked{partition: t.partition, at: now + 5000}
		}
	}
	return ids
}

type expiryItem struct {
	id string
	at int64
}

type expiryHeap []expiryItem

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryItem)) }
func (h *expiryHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
