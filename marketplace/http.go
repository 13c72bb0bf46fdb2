package marketplace

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxAnswer bounds what is read of an answer: stock APIs answer in a few
// KiB, and a runaway body must not hold memory.
const maxAnswer = 4 << 20 // 4 MiB

// maxReason bounds an answer body quoted in an error.
const maxReason = 512

// client sends one JSON request and classifies the transport failures;
// the adapters classify the statuses, each by its marketplace's rules.
type client struct {
	name string
	http *http.Client
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (c client) send(ctx context.Context, method, url string, header http.Header, body any) (*answer, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("%s: encode request: %w", c.name, err) // only our own types are encoded
	}
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(data))
	if err != nil {
		return nil, &RejectedError{Marketplace: c.name, Reason: err.Error(), Err: err}
	}
	if header != nil {
		req.Header = header
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	return &answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// transportError: the caller cancelling is not the marketplace failing, so
// it is no *UnavailableError; a deadline, whoever set it, is a timeout.
func (c client) transportError(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("%s: push abandoned: %w", c.name, ctx.Err())
	}
	return &UnavailableError{Marketplace: c.name, Err: err}
}

// generic classifies the statuses every marketplace shares: 429 throttled,
// 408 and 5xx unavailable, any other non-2xx rejected. It returns nil for
// a 2xx and for statuses it leaves to the adapter.
func (c client) generic(a *answer) error {
	switch {
	case a.status >= 200 && a.status < 300:
		return nil
	case a.status == http.StatusTooManyRequests:
		return &ThrottledError{Marketplace: c.name, Status: a.status, RetryAfter: retryAfter(a.header), Reason: reason(a.body)}
	case a.status == http.StatusRequestTimeout || a.status >= 500:
		return &UnavailableError{Marketplace: c.name, Status: a.status, Reason: reason(a.body)}
	default:
		return &RejectedError{Marketplace: c.name, Status: a.status, Reason: reason(a.body)}
	}
}

// retryAfter reads Retry-After (seconds or an HTTP date), then
// Wildberries' X-Ratelimit-Retry (seconds); 0 when neither says.
func retryAfter(h http.Header) time.Duration {
	if v := h.Get("Retry-After"); v != "" {
		if d, ok := seconds(v); ok {
			return d
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(0, time.Until(t))
		}
	}
	if d, ok := seconds(h.Get("X-Ratelimit-Retry")); ok {
		return d
	}
	return 0
}

func seconds(v string) (time.Duration, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}

// reason quotes an answer body for an error, short and on one line.
func reason(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > maxReason {
		s = s[:maxReason] + "…"
	}
	if s == "" {
		return "empty answer"
	}
	return s
}

// pending holds a batch's results while it is checked, sent and answered:
// items refused before sending keep their verdict, the rest are sent.
type pending struct {
	results []ItemResult
	send    []int // indexes into results of the items to send
}

// check refuses, per item, what no marketplace takes: an empty SKU or a
// negative quantity; extra is the marketplace's own rule ("" = fine).
func check(name string, batch []Update, extra func(Update) string) *pending {
	p := &pending{results: make([]ItemResult, len(batch))}
	for i, u := range batch {
		p.results[i].SKU = u.SKU
		why := ""
		switch {
		case u.SKU == "":
			why = "empty SKU"
		case u.Available < 0:
			why = fmt.Sprintf("available %d is negative", u.Available)
		case extra != nil:
			why = extra(u)
		}
		if why != "" {
			p.results[i].Reason = name + ": not sent: " + why
			continue
		}
		p.send = append(p.send, i)
	}
	return p
}

// all gives every sent item the same verdict.
func (p *pending) all(ok, retryable bool, why string) []ItemResult {
	for _, i := range p.send {
		p.results[i].OK, p.results[i].Retryable, p.results[i].Reason = ok, retryable, why
	}
	return p.results
}

func tooLarge(name string, n, max int) error {
	return &RejectedError{Marketplace: name, Reason: fmt.Sprintf("batch of %d updates, at most %d", n, max), Err: ErrBatchTooLarge}
}

// bucket mirrors a marketplace's token bucket where an answer costs more
// than the one token the sink's limiter charged (Wildberries' 409 costs
// five). It refills at rate up to burst.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	at     time.Time
}

// slack is how far below one token the mirror still lets a request go: the
// sink paces by the same bucket, and a few milliseconds of scheduling delay
// between its limiter and Push must not read as "spent".
const slack = 0.1

func newBucket(rate float64, burst int) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst), at: time.Now()}
}

func (b *bucket) refill(now time.Time) {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.at).Seconds()*b.rate)
	b.at = now
}

// take charges one request, or says how long until one is affordable.
func (b *bucket) take() (wait time.Duration, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(time.Now())
	if b.tokens < 1-slack {
		return time.Duration((1 - b.tokens) / b.rate * float64(time.Second)), false
	}
	b.tokens--
	return 0, true
}

// charge adds the cost of an answer beyond the token take already charged.
func (b *bucket) charge(n float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(time.Now())
	b.tokens -= n
}

// empty records the marketplace saying the bucket is spent for d.
func (b *bucket) empty(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(time.Now())
	b.tokens = min(b.tokens, 1-d.Seconds()*b.rate)
}
