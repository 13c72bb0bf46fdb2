package marketplace

import (
	"context"
	"encoding/json"
	"net/http"
)

type webhook struct {
	client
	cfg    Config
	limits Limits
}

func (w *webhook) Name() string   { return KindWebhook }
func (w *webhook) Limits() Limits { return w.limits }

type webhookUpdate struct {
	SKU       string `json:"sku"`
	Available int64  `json:"available"`
	Version   int64  `json:"version"`
}

type webhookResult struct {
	SKU       string `json:"sku"`
	OK        bool   `json:"ok"`
	Retryable bool   `json:"retryable"`
	Reason    string `json:"reason"`
}

// Push POSTs {"channel","updates":[…]} to the configured URL. A 2xx
// acknowledges every update unless its body carries per-item results.
func (w *webhook) Push(ctx context.Context, batch []Update) ([]ItemResult, error) {
	if len(batch) > w.limits.MaxBatch {
		return nil, tooLarge(w.name, len(batch), w.limits.MaxBatch)
	}
	p := check(w.name, batch, nil)
	if len(p.send) == 0 {
		return p.results, nil
	}
	body := struct {
		Channel string          `json:"channel"`
		Updates []webhookUpdate `json:"updates"`
	}{Channel: w.cfg.Channel}
	for _, i := range p.send {
		u := batch[i]
		body.Updates = append(body.Updates, webhookUpdate{SKU: u.SKU, Available: u.Available, Version: u.Version})
	}
	h := http.Header{}
	if w.cfg.Token != "" {
		h.Set("Authorization", "Bearer "+w.cfg.Token)
	}
	a, err := w.send(ctx, http.MethodPost, w.cfg.BaseURL, h, body)
	if err != nil {
		return nil, err
	}
	// A 503 that says when to come back is the receiver pacing us.
	if a.status == http.StatusServiceUnavailable {
		if wait := retryAfter(a.header); wait > 0 {
			return nil, &ThrottledError{Marketplace: w.name, Status: a.status, RetryAfter: wait, Reason: reason(a.body)}
		}
	}
	if err := w.generic(a); err != nil {
		return nil, err
	}
	// Per-item results are optional: a 2xx without {"results":[…]} (empty,
	// plain text, another JSON shape) acknowledges the whole batch.
	var answer struct {
		Results *[]webhookResult `json:"results"`
	}
	if json.Unmarshal(a.body, &answer) != nil || answer.Results == nil {
		return p.all(true, false, ""), nil
	}
	bySKU := map[string][]webhookResult{}
	for _, r := range *answer.Results {
		bySKU[r.SKU] = append(bySKU[r.SKU], r)
	}
	for _, i := range p.send {
		res := &p.results[i]
		rs := bySKU[res.SKU]
		if len(rs) == 0 {
			res.Retryable, res.Reason = true, "webhook: no result for this SKU in the answer"
			continue
		}
		bySKU[res.SKU] = rs[1:]
		r := rs[0]
		res.OK, res.Retryable = r.OK, !r.OK && r.Retryable
		if !r.OK {
			res.Reason = "webhook: " + r.Reason
		}
	}
	return p.results, nil
}
