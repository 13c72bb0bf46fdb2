package marketplace

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// yandexMaxSKU is the longest offer id (shop SKU) Yandex Market takes.
const yandexMaxSKU = 255

// statusEnhanceYourCalm is Yandex's answer past its limits: more than 4
// requests in parallel, or the offers quota spent.
const statusEnhanceYourCalm = 420

type yandex struct {
	client
	cfg    Config
	limits Limits

	mu        sync.Mutex
	remaining int       // offers left in the quota window, from the last answer
	until     time.Time // end of that window; zero: nothing known
}

func (y *yandex) Name() string   { return KindYandex }
func (y *yandex) Limits() Limits { return y.limits }

type yandexSKU struct {
	SKU   string           `json:"sku"`
	Items []yandexSKUCount `json:"items"`
}

type yandexSKUCount struct {
	Count     int64  `json:"count"`
	UpdatedAt string `json:"updatedAt"`
}

// Push sends the batch to PUT /v2/campaigns/{campaignId}/offers/stocks.
// Yandex answers for the whole request: 200 or 400 with errors[].
func (y *yandex) Push(ctx context.Context, batch []Update) ([]ItemResult, error) {
	if len(batch) > y.limits.MaxBatch {
		return nil, tooLarge(y.name, len(batch), y.limits.MaxBatch)
	}
	p := check(y.name, batch, func(u Update) string {
		if len(u.SKU) > yandexMaxSKU {
			return fmt.Sprintf("SKU longer than %d bytes", yandexMaxSKU)
		}
		return ""
	})
	if len(p.send) == 0 {
		return p.results, nil
	}
	if wait := y.quotaWait(len(p.send)); wait > 0 {
		return nil, &ThrottledError{Marketplace: y.name, RetryAfter: wait,
			Reason: fmt.Sprintf("offers quota: fewer than %d left until the window ends", len(p.send))}
	}
	now := time.Now().UTC().Format(time.RFC3339)
	body := struct {
		SKUs []yandexSKU `json:"skus"`
	}{}
	for _, i := range p.send {
		body.SKUs = append(body.SKUs, yandexSKU{SKU: batch[i].SKU, Items: []yandexSKUCount{{Count: batch[i].Available, UpdatedAt: now}}})
	}
	h := http.Header{}
	h.Set("Api-Key", y.cfg.Token)
	url := fmt.Sprintf("%s/v2/campaigns/%d/offers/stocks", strings.TrimSuffix(y.cfg.BaseURL, "/"), y.cfg.CampaignID)
	a, err := y.send(ctx, http.MethodPut, url, h, body)
	if err != nil {
		return nil, err
	}
	remaining, until, quota := y.observe(a.header)
	switch a.status {
	case statusEnhanceYourCalm, http.StatusTooManyRequests:
		// Without Retry-After: the quota's window end if it is the quota
		// that is spent; otherwise (the parallel limit) unknown.
		wait := retryAfter(a.header)
		if wait == 0 && quota && remaining < len(p.send) {
			wait = max(0, time.Until(until))
		}
		return nil, &ThrottledError{Marketplace: y.name, Status: a.status, RetryAfter: wait, Reason: yandexErrors(a.body)}
	case http.StatusBadRequest:
		return nil, &RejectedError{Marketplace: y.name, Status: a.status, Reason: yandexErrors(a.body)}
	}
	if err := y.generic(a); err != nil {
		return nil, err
	}
	return p.all(true, false, ""), nil
}

// observe records the X-RateLimit-Resource-* headers; ok is false when the
// answer has none.
func (y *yandex) observe(h http.Header) (remaining int, until time.Time, ok bool) {
	remaining, err := strconv.Atoi(h.Get("X-RateLimit-Resource-Remaining"))
	if err != nil {
		return 0, time.Time{}, false
	}
	if until, ok = parseTime(h.Get("X-RateLimit-Resource-Until")); !ok {
		return 0, time.Time{}, false
	}
	y.mu.Lock()
	y.remaining, y.until = remaining, until
	y.mu.Unlock()
	return remaining, until, true
}

// quotaWait is how long to hold back a push of n offers that the last known
// quota cannot cover; 0 to send.
func (y *yandex) quotaWait(n int) time.Duration {
	y.mu.Lock()
	defer y.mu.Unlock()
	wait := time.Until(y.until)
	if y.until.IsZero() || wait <= 0 || y.remaining >= n {
		return 0
	}
	return wait
}

func parseTime(v string) (time.Time, bool) {
	if v == "" {
		return time.Time{}, false
	}
	if t, err := http.ParseTime(v); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// yandexErrors quotes {"status":"ERROR","errors":[{code,message}]} as
// "CODE: message; …", or the raw body if it is not that.
func yandexErrors(body []byte) string {
	var e struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Errors) == 0 {
		return reason(body)
	}
	parts := make([]string, len(e.Errors))
	for i, x := range e.Errors {
		parts[i] = x.Code + ": " + x.Message
	}
	return strings.Join(parts, "; ")
}
