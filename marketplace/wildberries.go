package marketplace

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// wbMaxAmount is the largest amount Wildberries takes. A larger value is
// refused per item before sending, not clamped: clamping would show a
// number the seller never had, and the DLQ makes the problem visible.
const wbMaxAmount = 100_000

// wbConflictCost is what a 409 weighs against WB's request limit.
const wbConflictCost = 5

type wildberries struct {
	client
	cfg    Config
	limits Limits
	bucket *bucket // WB's token bucket as the adapter sees it
}

func (w *wildberries) Name() string   { return KindWildberries }
func (w *wildberries) Limits() Limits { return w.limits }

type wbStock struct {
	SKU    string `json:"sku"`
	Amount int64  `json:"amount"`
}

type wbError struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// Push sends the batch to PUT /api/v3/stocks/{warehouseId}. WB answers 204
// for the whole batch, or 409 when some items are refused, in which case
// nothing of the batch is applied.
//
// WB accepts unknown field names with 204 and changes nothing, so the body's
// field names are pinned by the contract test, not by WB.
func (w *wildberries) Push(ctx context.Context, batch []Update) ([]ItemResult, error) {
	if len(batch) > w.limits.MaxBatch {
		return nil, tooLarge(w.name, len(batch), w.limits.MaxBatch)
	}
	p := check(w.name, batch, func(u Update) string {
		if u.Available > wbMaxAmount {
			return fmt.Sprintf("amount %d above %d", u.Available, wbMaxAmount)
		}
		return ""
	})
	if len(p.send) == 0 {
		return p.results, nil
	}
	if wait, ok := w.bucket.take(); !ok {
		return nil, &ThrottledError{Marketplace: w.name, RetryAfter: wait,
			Reason: fmt.Sprintf("request budget spent (a 409 costs %d requests)", wbConflictCost)}
	}
	body := struct {
		Stocks []wbStock `json:"stocks"`
	}{}
	for _, i := range p.send {
		body.Stocks = append(body.Stocks, wbStock{SKU: batch[i].SKU, Amount: batch[i].Available})
	}
	h := http.Header{}
	h.Set("Authorization", w.cfg.Token)
	url := strings.TrimSuffix(w.cfg.BaseURL, "/") + "/api/v3/stocks/" + strconv.FormatInt(w.cfg.WarehouseID, 10)
	a, err := w.send(ctx, http.MethodPut, url, h, body)
	if err != nil {
		return nil, err
	}
	switch a.status {
	case http.StatusConflict:
		w.bucket.charge(wbConflictCost - 1)
		return w.conflict(p, a), nil
	case http.StatusTooManyRequests:
		err := w.generic(a).(*ThrottledError)
		w.bucket.empty(err.RetryAfter)
		return nil, err
	}
	if err := w.generic(a); err != nil {
		return nil, err
	}
	return p.all(true, false, ""), nil
}

// conflict maps a 409: the SKUs its data names are refused (not
// retryable); the others were not applied with them and are retryable.
// When no SKU is named, WB did not say which item is at fault, so none is
// parked on this answer: all are retryable, and the sink's bounded retries
// park them if it repeats.
func (w *wildberries) conflict(p *pending, a *answer) []ItemResult {
	var errs []wbError
	if err := json.Unmarshal(a.body, &errs); err != nil {
		var one wbError // some 409s carry a single object
		if json.Unmarshal(a.body, &one) == nil && one.Code != "" {
			errs = []wbError{one}
		}
	}
	named := map[string]string{} // SKU → reason
	var unnamed []string
	for _, e := range errs {
		why := fmt.Sprintf("wildberries: 409 %s: %s", e.Code, e.Message)
		skus := wbSKUs(e.Data)
		for _, s := range skus {
			named[s] = why
		}
		if len(skus) == 0 {
			unnamed = append(unnamed, fmt.Sprintf("%s: %s", e.Code, e.Message))
		}
	}
	whole := "wildberries: 409 for the whole batch: " + reason(a.body)
	if len(unnamed) > 0 {
		whole = "wildberries: 409 for the whole batch: " + strings.Join(unnamed, "; ")
	}
	for _, i := range p.send {
		res := &p.results[i]
		switch why, ok := named[res.SKU]; {
		case ok:
			res.Reason = why
		case len(named) > 0:
			res.Retryable, res.Reason = true, "wildberries: not applied: another item of the batch was refused (409)"
		default:
			res.Retryable, res.Reason = true, whole
		}
	}
	return p.results
}

// wbSKUs reads the SKUs a 409's data names: [{"sku":…}], [""], {"sku":…}.
func wbSKUs(data json.RawMessage) []string {
	var objs []struct {
		SKU string `json:"sku"`
	}
	var out []string
	if json.Unmarshal(data, &objs) == nil {
		for _, o := range objs {
			if o.SKU != "" {
				out = append(out, o.SKU)
			}
		}
		return out
	}
	var strs []string
	if json.Unmarshal(data, &strs) == nil {
		return strs
	}
	var one struct {
		SKU string `json:"sku"`
	}
	if json.Unmarshal(data, &one) == nil && one.SKU != "" {
		return []string{one.SKU}
	}
	return nil
}
