package soak

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/stocksync/stocksync/contract"
)

// Attempt is one order command sent once, and what came back.
type Attempt struct {
	Seq     int64  `json:"seq"`
	Via     string `json:"via"` // "http-<i>" (instance i) or "kafka"
	Op      string `json:"op"`
	OrderID string `json:"order_id"`
	// Body is the command as the caller meant it (lines, channel, ttl).
	Body contract.OrderCommand `json:"body"`
	// RequestID is the request id echoed on the answer (issue 12 item 1),
	// "" while the engine does not echo one.
	RequestID string                `json:"request_id,omitempty"`
	Sent      time.Time             `json:"sent"`
	Answered  time.Time             `json:"answered"`
	Result    *contract.OrderResult `json:"result,omitempty"`
	Err       string                `json:"err,omitempty"`
	Retryable bool                  `json:"retryable,omitempty"`
}

// Feed is one adjust or snapshot sent over HTTP.
type Feed struct {
	Msg      contract.FeedMessage `json:"msg"`
	Instance int                  `json:"instance"`
	Sent     time.Time            `json:"sent"`
	Answered time.Time            `json:"answered"`
	Status   contract.FeedStatus  `json:"status,omitempty"`
	Ignored  bool                 `json:"ignored,omitempty"`
	Err      string               `json:"err,omitempty"`
}

// Read is one GET /v1/stock/{sku} on one instance.
type Read struct {
	Instance int                 `json:"instance"`
	At       time.Time           `json:"at"`
	Stock    *contract.StockView `json:"stock,omitempty"`
	Err      string              `json:"err,omitempty"`
}

// OrderRead is one GET /v1/orders/{id} on one instance.
type OrderRead struct {
	Instance int                 `json:"instance"`
	At       time.Time           `json:"at"` // when it was asked
	View     *contract.OrderView `json:"view,omitempty"`
}

// History is everything the harness sent and saw; safe for concurrent use.
type History struct {
	mu         sync.Mutex
	seq        int64
	Attempts   []*Attempt
	Feeds      []*Feed
	Reads      []*Read
	OrderReads map[string][]OrderRead
}

func newHistory() *History { return &History{OrderReads: map[string][]OrderRead{}} }

func (h *History) addAttempt(a *Attempt) {
	h.mu.Lock()
	h.seq++
	a.Seq = h.seq
	h.Attempts = append(h.Attempts, a)
	h.mu.Unlock()
}

func (h *History) addFeed(f *Feed) {
	h.mu.Lock()
	h.Feeds = append(h.Feeds, f)
	h.mu.Unlock()
}

func (h *History) addRead(r *Read) {
	h.mu.Lock()
	h.Reads = append(h.Reads, r)
	h.mu.Unlock()
}

func (h *History) addOrderRead(id string, r OrderRead) {
	h.mu.Lock()
	h.OrderReads[id] = append(h.OrderReads[id], r)
	h.mu.Unlock()
}

// echoedRequestID reads "request_id" from an answer through its JSON, so
// the harness builds with and without the field in contract.OrderResult.
func echoedRequestID(res contract.OrderResult) string {
	data, err := json.Marshal(res)
	if err != nil {
		return ""
	}
	var v struct {
		RequestID string `json:"request_id"`
	}
	_ = json.Unmarshal(data, &v)
	return v.RequestID
}
