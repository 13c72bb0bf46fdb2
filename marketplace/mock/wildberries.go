package mock

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stocksync/stocksync/marketplace"
)

const (
	wbMaxBatch     = 1000
	wbMaxAmount    = 100_000
	wbRate         = 5  // tokens per second: 300/min, one per 200 ms
	wbBurst        = 20 // tokens
	wbConflictCost = 5  // a 409 weighs five requests
)

// NewWildberries serves PUT /api/v3/stocks/{warehouseId} like WB's
// Marketplace API.
func NewWildberries() *Server {
	s := newServer(marketplace.KindWildberries)
	s.authorized = func(r *http.Request) bool {
		a := r.Header.Get("Authorization")
		return a == Token || a == "Bearer "+Token
	}
	s.fail = func(status int) reply {
		if status == http.StatusTooManyRequests {
			return wbThrottled(time.Second)
		}
		if status == http.StatusConflict { // names no SKU: the whole batch
			return jsonReply(status, []wbError{{Code: "Conflict", Message: "update failed"}})
		}
		return wbErr(status, http.StatusText(status))
	}
	s.handle = s.wildberries
	s.bucket = newBucket(wbRate, wbBurst)
	return s.start()
}

type wbError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

func wbErr(status int, msg string) reply {
	return jsonReply(status, wbError{Code: strings.ReplaceAll(http.StatusText(status), " ", ""), Message: msg})
}

// wbThrottled is WB's 429: X-Ratelimit-Retry says in whole seconds when a
// request will pass; there is no Retry-After.
func wbThrottled(wait time.Duration) reply {
	rep := wbErr(http.StatusTooManyRequests, "too many requests")
	rep.header = map[string]string{
		"X-Ratelimit-Retry":     strconv.Itoa(int(math.Ceil(wait.Seconds()))),
		"X-Ratelimit-Limit":     strconv.Itoa(wbBurst),
		"X-Ratelimit-Remaining": "0",
		"X-Ratelimit-Reset":     strconv.Itoa(int(math.Ceil(float64(wbBurst) / wbRate))),
	}
	return rep
}

func (s *Server) wildberries(r *http.Request, body []byte) reply {
	id, ok := strings.CutPrefix(r.URL.Path, "/api/v3/stocks/")
	if r.Method != http.MethodPut || !ok {
		return wbErr(http.StatusNotFound, "no such method")
	}
	if id != strconv.Itoa(WarehouseID) {
		return wbErr(http.StatusNotFound, "warehouse "+id+" not found")
	}
	// Field names are not validated: an unknown one decodes to nothing.
	var req struct {
		Stocks *[]struct {
			SKU    *string `json:"sku"`
			Amount *int64  `json:"amount"`
		} `json:"stocks"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return wbErr(http.StatusBadRequest, "invalid body: "+err.Error())
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.throttle {
		if wait, ok := s.bucket.take(now); !ok {
			return wbThrottled(wait)
		}
	}
	if req.Stocks == nil {
		return reply{status: http.StatusNoContent} // "stock", "items"…: 204, nothing changes
	}
	if n := len(*req.Stocks); n == 0 || n > wbMaxBatch {
		return wbErr(http.StatusBadRequest, fmt.Sprintf("stocks: %d items, want 1..%d", n, wbMaxBatch))
	}
	type item struct {
		SKU    string `json:"sku"`
		Amount int64  `json:"amount"`
	}
	var apply, unknown []item
	for _, it := range *req.Stocks {
		if it.SKU == nil || it.Amount == nil {
			continue // "quantity", "barcode"…: silently nothing
		}
		if *it.Amount < 0 || *it.Amount > wbMaxAmount {
			return wbErr(http.StatusBadRequest, fmt.Sprintf("amount %d of %q is outside 0..%d", *it.Amount, *it.SKU, wbMaxAmount))
		}
		if !s.known(*it.SKU) {
			unknown = append(unknown, item{*it.SKU, *it.Amount})
			continue
		}
		apply = append(apply, item{*it.SKU, *it.Amount})
	}
	if len(unknown) > 0 { // nothing of the batch is applied
		if s.throttle {
			s.bucket.charge(now, wbConflictCost-1)
		}
		return jsonReply(http.StatusConflict, []wbError{{Code: "NotFound", Message: "products not found", Data: unknown}})
	}
	for _, it := range apply {
		s.stock[it.SKU] = it.Amount
	}
	return reply{status: http.StatusNoContent}
}
