package marketplace

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// ozonRetryable says which of Ozon's per-item error codes are worth
// retrying with the same value. Codes not listed are not: the DLQ shows
// them with Ozon's message, and a new code gets classified here.
var ozonRetryable = map[string]bool{
	// The pair was updated less than 30 s ago: the same value goes through
	// once the cooldown (Limits.ItemCooldown) has passed.
	"TOO_MANY_REQUESTS": true,
	// Not in the seller's catalogue (or not at this warehouse).
	"NOT_FOUND": false,
	// The value is over what Ozon takes for this product; the same value
	// fails again.
	"STOCK_TOO_BIG": false,
	// The product's state on Ozon (archived, failed moderation, still being
	// created) refuses stock. It changes by a person or an Ozon process over
	// hours, not within the sink's backoff, and each retry spends Ozon's
	// 80 requests/min and the pair's cooldown: park it; the next change of
	// the SKU, or a DLQ replay, pushes it again.
	"INVALID_STATE": false,
}

// ozonCodeThrottled is the code of Ozon's (gRPC-style) error body that
// means the seller's request rate is spent (RESOURCE_EXHAUSTED).
const ozonCodeThrottled = 8

type ozon struct {
	client
	cfg    Config
	limits Limits
}

func (o *ozon) Name() string   { return KindOzon }
func (o *ozon) Limits() Limits { return o.limits }

type ozonStock struct {
	OfferID     string `json:"offer_id"`
	Stock       int64  `json:"stock"`
	WarehouseID int64  `json:"warehouse_id"`
}

type ozonResult struct {
	OfferID string `json:"offer_id"`
	Updated bool   `json:"updated"`
	Errors  []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

// Push sends the batch to POST /v2/products/stocks. Ozon answers 200 with a
// verdict per item even when some fail.
func (o *ozon) Push(ctx context.Context, batch []Update) ([]ItemResult, error) {
	if len(batch) > o.limits.MaxBatch {
		return nil, tooLarge(o.name, len(batch), o.limits.MaxBatch)
	}
	p := check(o.name, batch, nil)
	if len(p.send) == 0 {
		return p.results, nil
	}
	body := struct {
		Stocks []ozonStock `json:"stocks"`
	}{}
	for _, i := range p.send {
		body.Stocks = append(body.Stocks, ozonStock{OfferID: batch[i].SKU, Stock: batch[i].Available, WarehouseID: o.cfg.WarehouseID})
	}
	h := http.Header{}
	h.Set("Client-Id", o.cfg.ClientID)
	h.Set("Api-Key", o.cfg.Token)
	a, err := o.send(ctx, http.MethodPost, strings.TrimSuffix(o.cfg.BaseURL, "/")+"/v2/products/stocks", h, body)
	if err != nil {
		return nil, err
	}
	if a.status != http.StatusOK {
		var e struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(a.body, &e) == nil && e.Code == ozonCodeThrottled {
			return nil, &ThrottledError{Marketplace: o.name, Status: a.status, RetryAfter: retryAfter(a.header), Reason: reason(a.body)}
		}
		if err := o.generic(a); err != nil {
			return nil, err
		}
	}
	var answer struct {
		Result []ozonResult `json:"result"`
	}
	if err := json.Unmarshal(a.body, &answer); err != nil {
		return nil, &UnavailableError{Marketplace: o.name, Status: a.status, Reason: "unreadable answer: " + reason(a.body), Err: err}
	}
	// Match by offer_id, in order for a SKU that appears twice.
	byOffer := map[string][]ozonResult{}
	for _, r := range answer.Result {
		byOffer[r.OfferID] = append(byOffer[r.OfferID], r)
	}
	for _, i := range p.send {
		res := &p.results[i]
		rs := byOffer[res.SKU]
		if len(rs) == 0 {
			res.Retryable, res.Reason = true, "ozon: no result for this offer in the answer"
			continue
		}
		byOffer[res.SKU] = rs[1:]
		*res = ozonItem(res.SKU, rs[0])
	}
	return p.results, nil
}

// ozonItem maps one result: retryable only if every error code is.
func ozonItem(sku string, r ozonResult) ItemResult {
	if len(r.Errors) == 0 {
		if r.Updated {
			return ItemResult{SKU: sku, OK: true}
		}
		return ItemResult{SKU: sku, Retryable: true, Reason: "ozon: not updated, no error given"}
	}
	retryable := true
	why := make([]string, 0, len(r.Errors))
	for _, e := range r.Errors {
		retryable = retryable && ozonRetryable[e.Code]
		why = append(why, fmt.Sprintf("%s: %s", e.Code, e.Message))
	}
	return ItemResult{SKU: sku, Retryable: retryable, Reason: "ozon: " + strings.Join(why, "; ")}
}
