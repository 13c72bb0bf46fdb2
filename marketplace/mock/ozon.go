package mock

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/stocksync/stocksync/marketplace"
)

const (
	ozonMaxBatch  = 100
	ozonPerMinute = 80
	ozonCooldown  = 30 * time.Second
	ozonMaxStock  = 1_000_000 // the mock's STOCK_TOO_BIG threshold
)

// NewOzon serves POST /v2/products/stocks like Ozon's Seller API.
func NewOzon() *Server {
	s := newServer(marketplace.KindOzon)
	s.authorized = func(r *http.Request) bool {
		return r.Header.Get("Client-Id") == ClientID && r.Header.Get("Api-Key") == Token
	}
	s.fail = func(status int) reply { return ozonError(status, http.StatusText(status)) }
	s.handle = s.ozon
	s.cooldown = ozonCooldown
	s.lastSet = map[string]time.Time{}
	s.itemErrors = map[string]string{}
	s.window = newWindow(ozonPerMinute, time.Minute)
	return s.start()
}

// SetCooldown sets Ozon's per-pair interval (default 30s; 0 turns it off).
func (s *Server) SetCooldown(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cooldown = d
}

// ItemError makes Ozon refuse every update of sku with code (INVALID_STATE,
// STOCK_TOO_BIG …) until it is cleared with "".
func (s *Server) ItemError(sku, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == "" {
		delete(s.itemErrors, sku)
		return
	}
	s.itemErrors[sku] = code
}

// ozonError is Ozon's gRPC-style error body; 429 carries code 8
// (RESOURCE_EXHAUSTED), and no Retry-After.
func ozonError(status int, msg string) reply {
	codes := map[int]int{400: 3, 401: 16, 403: 7, 404: 5, 429: 8, 500: 13, 503: 14}
	code, ok := codes[status]
	if !ok {
		code = 2 // UNKNOWN
	}
	return jsonReply(status, map[string]any{"code": code, "message": msg, "details": []any{}})
}

type ozonItemError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type ozonItemResult struct {
	WarehouseID int64           `json:"warehouse_id"`
	ProductID   int64           `json:"product_id"`
	OfferID     string          `json:"offer_id"`
	Updated     bool            `json:"updated"`
	Errors      []ozonItemError `json:"errors"`
}

func (s *Server) ozon(r *http.Request, body []byte) reply {
	if r.Method != http.MethodPost || r.URL.Path != "/v2/products/stocks" {
		return ozonError(http.StatusNotFound, "no such method")
	}
	// Missing fields take proto3 defaults (0, ""), as behind Ozon's gateway.
	var req struct {
		Stocks []struct {
			OfferID     string `json:"offer_id"`
			ProductID   int64  `json:"product_id"`
			Stock       int64  `json:"stock"`
			WarehouseID int64  `json:"warehouse_id"`
		} `json:"stocks"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return ozonError(http.StatusBadRequest, "invalid request payload: "+err.Error())
	}
	if len(req.Stocks) == 0 || len(req.Stocks) > ozonMaxBatch {
		return ozonError(http.StatusBadRequest, fmt.Sprintf("stocks: %d items, want 1..%d", len(req.Stocks), ozonMaxBatch))
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.throttle && !s.window.allow(now) {
		return ozonError(http.StatusTooManyRequests, "You have reached request rate limit per second")
	}
	out := make([]ozonItemResult, len(req.Stocks))
	for i, it := range req.Stocks {
		out[i] = ozonItemResult{WarehouseID: it.WarehouseID, ProductID: it.ProductID, OfferID: it.OfferID, Errors: []ozonItemError{}}
		code, msg := s.ozonRefuse(it.OfferID, it.Stock, it.WarehouseID, now)
		if code != "" {
			out[i].Errors = append(out[i].Errors, ozonItemError{Code: code, Message: msg})
			continue
		}
		s.stock[it.OfferID] = it.Stock
		s.lastSet[it.OfferID] = now
		out[i].Updated = true
	}
	return jsonReply(http.StatusOK, map[string]any{"result": out})
}

// ozonRefuse is the item error code and message for one pair, "" to apply
// it; s.mu is held.
func (s *Server) ozonRefuse(offer string, stock, warehouse int64, now time.Time) (string, string) {
	switch {
	case offer == "" || !s.known(offer):
		return "NOT_FOUND", fmt.Sprintf("product with offer_id %q not found", offer)
	case warehouse != WarehouseID:
		return "NOT_FOUND", fmt.Sprintf("warehouse %d not found", warehouse)
	case s.itemErrors[offer] != "":
		return s.itemErrors[offer], "forced by the mock"
	case stock < 0 || stock > ozonMaxStock:
		return "STOCK_TOO_BIG", fmt.Sprintf("stock %d is out of range", stock)
	}
	if last, ok := s.lastSet[offer]; ok && s.cooldown > 0 && now.Sub(last) < s.cooldown {
		return "TOO_MANY_REQUESTS", fmt.Sprintf("stock of this product at this warehouse can be updated once per %s", s.cooldown)
	}
	return "", ""
}
