package soak

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/stocksync/stocksync/contract"
)

// expiryGrace is how long after its expiry a reservation may still show
// (the "expired within TTL + 1 s").
const expiryGrace = time.Second

// shortTTL marks the reservations the load leaves to expire.
const shortTTL = 5 // seconds

// expiryWatcher reads, on every instance, each reservation left to expire
// once its expiry plus the grace has passed, then every second until every
// instance shows it ended (or a minute passes).
func (l *load) expiryWatcher(stop context.Context) {
	type watch struct{ at, next time.Time } // expiry; next read
	due := map[string]watch{}
	seen := 0
	for {
		l.h.mu.Lock()
		for _, a := range l.h.Attempts[seen:] {
			if a.Op == contract.Reserve && a.Result != nil && a.Result.Status == contract.StatusReserved && a.Body.TTLS <= shortTTL {
				if at, err := time.Parse(time.RFC3339Nano, a.Result.ExpiresAt); err == nil {
					if _, ok := due[a.OrderID]; !ok {
						due[a.OrderID] = watch{at, at.Add(expiryGrace + 200*time.Millisecond)}
					}
				}
			}
		}
		seen = len(l.h.Attempts)
		l.h.mu.Unlock()
		now := time.Now()
		var ready []string
		for id, w := range due {
			if !now.Before(w.next) {
				ready = append(ready, id)
			}
		}
		ended := make([]bool, len(ready))
		var wg sync.WaitGroup
		for k, id := range ready {
			wg.Go(func() {
				ended[k] = true
				for i := range l.feeds.bases {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					v := l.feeds.order(ctx, i, id)
					cancel()
					if v == nil || !terminal(v.State) {
						ended[k] = false
					}
				}
			})
		}
		wg.Wait()
		for k, id := range ready {
			if w := due[id]; ended[k] || now.After(w.at.Add(time.Minute)) {
				delete(due, id)
			} else {
				due[id] = watch{w.at, now.Add(time.Second)}
			}
		}
		if stop.Err() != nil && len(due) == 0 {
			return
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-stop.Done():
			if len(due) == 0 {
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
}

// terminal reports whether an order state has ended its reservation.
func terminal(state string) bool {
	switch strings.ToLower(state) {
	case contract.StatusExpired, contract.StatusReleased, contract.StatusShipped, contract.StatusRejected, contract.StatusConfirmed:
		return true
	}
	return false
}
