package bench

import (
	"context"
	"time"

	"github.com/stocksync/stocksync/contract"
)

// System is a system under test: it decides order commands and takes stock
// feed messages. Every method is safe for concurrent use. An order command
// answers with the system's decision, in the shape of orders.results; a
// refusal is a result with Status rejected, not an error.
type System interface {
	// Name is the system's row in the results, e.g. "postgres".
	Name() string
	// Load sets the starting stock: one row per SKU and location.
	Load(ctx context.Context, cat *Catalogue) error
	Reserve(ctx context.Context, orderID string, lines []contract.Line, channel string, ttl time.Duration) (contract.OrderResult, error)
	Confirm(ctx context.Context, orderID string) (contract.OrderResult, error)
	Release(ctx context.Context, orderID string) (contract.OrderResult, error)
	Ship(ctx context.Context, orderID string) (contract.OrderResult, error)
	// Snapshot sets a row's on-hand if version is newer than the last one
	// applied from the ERP.
	Snapshot(ctx context.Context, k Key, onHand, version int64) error
	// Adjust moves a row's on-hand by delta, once per id.
	Adjust(ctx context.Context, k Key, delta int64, id string) error
	// Processes are the processes whose CPU and memory count as the
	// system's; none when it runs inside the load generator.
	Processes() []Process
	Close() error
}

// Process is an operating-system process of a system under test; its
// children count with it (PostgreSQL's backends).
type Process struct {
	Name string // "postgres", "kafka", …
	PID  int
}

// ChannelLatencies is implemented by systems that measure stock change →
// marketplace acknowledgement (stocksync): a snapshot of the histograms,
// per channel, cumulative since the system started.
type ChannelLatencies interface {
	ChannelLatency(ctx context.Context) (map[string]Histogram, error)
}

// RequestCounters is implemented by systems that count their requests to
// the broker by kind (stocksync's loop): a snapshot, cumulative since the
// system started. A transaction costs the broker about ten requests
// whatever its size, so requests per order shows what a cycle's size
// saves.
type RequestCounters interface {
	KafkaRequests(ctx context.Context) (map[string]float64, error)
}

// Histogram is a cumulative Prometheus histogram: Counts[i] observations ≤
// Bounds[i]; Count is all of them.
type Histogram struct {
	Bounds []float64 // seconds
	Counts []uint64
	Count  uint64
	Sum    float64
}

// Add is h plus another histogram with the same buckets.
func (h Histogram) Add(o Histogram) Histogram {
	if len(h.Counts) == 0 {
		return o
	}
	if len(o.Counts) != len(h.Counts) {
		return h
	}
	out := Histogram{Bounds: h.Bounds, Counts: make([]uint64, len(h.Counts)), Count: h.Count + o.Count, Sum: h.Sum + o.Sum}
	for i := range h.Counts {
		out.Counts[i] = h.Counts[i] + o.Counts[i]
	}
	return out
}

// Sub is h minus an earlier snapshot of the same histogram.
func (h Histogram) Sub(before Histogram) Histogram {
	if len(before.Counts) != len(h.Counts) {
		return h
	}
	out := Histogram{Bounds: h.Bounds, Counts: make([]uint64, len(h.Counts)), Count: h.Count - before.Count, Sum: h.Sum - before.Sum}
	for i := range h.Counts {
		out.Counts[i] = h.Counts[i] - before.Counts[i]
	}
	return out
}

// Quantile estimates the q-quantile by linear interpolation within the
// bucket, as Prometheus' histogram_quantile does; +Inf when it falls past
// the last bound, NaN without observations.
func (h Histogram) Quantile(q float64) float64 {
	if h.Count == 0 {
		return nan
	}
	rank := q * float64(h.Count)
	var prevBound float64
	var prevCount uint64
	for i, b := range h.Bounds {
		if float64(h.Counts[i]) >= rank {
			in := float64(h.Counts[i] - prevCount)
			if in == 0 {
				return b
			}
			return prevBound + (b-prevBound)*(rank-float64(prevCount))/in
		}
		prevBound, prevCount = b, h.Counts[i]
	}
	return inf
}
