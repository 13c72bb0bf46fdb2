package mock

import "time"

// window allows n events in any interval of length per (Ozon's
// "80 requests per minute").
type window struct {
	n   int
	per time.Duration
	at  []time.Time
}

func newWindow(n int, per time.Duration) *window { return &window{n: n, per: per} }

func (w *window) allow(now time.Time) bool {
	keep := w.at[:0]
	for _, t := range w.at {
		if now.Sub(t) < w.per {
			keep = append(keep, t)
		}
	}
	w.at = keep
	if len(w.at) >= w.n {
		return false
	}
	w.at = append(w.at, now)
	return true
}

// bucket is a token bucket: burst tokens, refilled at rate per second
// (Wildberries: 20, one every 200 ms). Tokens may go negative when an
// answer costs more than the request (a WB 409).
type bucket struct {
	rate, burst, tokens float64
	at                  time.Time
}

func newBucket(rate float64, burst int) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst), at: time.Now()}
}

func (b *bucket) refill(now time.Time) {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.at).Seconds()*b.rate)
	b.at = now
}

// take spends one token, or says how long until one is there.
func (b *bucket) take(now time.Time) (wait time.Duration, ok bool) {
	b.refill(now)
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / b.rate * float64(time.Second)), false
	}
	b.tokens--
	return 0, true
}

func (b *bucket) charge(now time.Time, n float64) {
	b.refill(now)
	b.tokens -= n
}

// quota allows limit units (Yandex: offers) per fixed window of per,
// starting at the first use.
type quota struct {
	limit, used int
	per         time.Duration
	until       time.Time
}

func (q *quota) roll(now time.Time) {
	if !now.Before(q.until) {
		q.used, q.until = 0, now.Add(q.per)
	}
}

// take spends n units if they are there.
func (q *quota) take(now time.Time, n int) bool {
	q.roll(now)
	if q.used+n > q.limit {
		return false
	}
	q.used += n
	return true
}

func (q *quota) remaining() int { return max(0, q.limit-q.used) }
