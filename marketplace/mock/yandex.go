package mock

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stocksync/stocksync/marketplace"
)

const (
	yandexMaxBatch        = 2000
	yandexMaxInFlight     = 4
	yandexOffersPerMinute = 100_000
	statusEnhanceYourCalm = 420 // Yandex's answer past its limits
)

// NewYandex serves PUT /v2/campaigns/{campaignId}/offers/stocks like
// Yandex Market's Partner API.
func NewYandex() *Server {
	s := newServer(marketplace.KindYandex)
	s.maxInFlight = yandexMaxInFlight
	s.authorized = func(r *http.Request) bool { return r.Header.Get("Api-Key") == Token }
	s.fail = func(status int) reply {
		code := strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_"))
		if status == statusEnhanceYourCalm {
			code = "TOO_MANY_REQUESTS"
		}
		return yandexErr(status, yandexError{Code: code, Message: "request refused"})
	}
	s.handle = s.yandex
	s.quota = &quota{limit: yandexOffersPerMinute, per: time.Minute}
	return s.start()
}

// SetOfferQuota sets Yandex's offers per minute (default 100,000).
func (s *Server) SetOfferQuota(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quota.limit = n
}

type yandexError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func yandexErr(status int, errs ...yandexError) reply {
	return jsonReply(status, map[string]any{"status": "ERROR", "errors": errs})
}

func (s *Server) yandex(r *http.Request, body []byte) reply {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v2/campaigns/")
	id, ok2 := strings.CutSuffix(rest, "/offers/stocks")
	if r.Method != http.MethodPut || !ok || !ok2 {
		return yandexErr(http.StatusNotFound, yandexError{"NOT_FOUND", "no such method"})
	}
	if id != strconv.Itoa(CampaignID) {
		return yandexErr(http.StatusNotFound, yandexError{"NOT_FOUND", "campaign " + id + " not found"})
	}
	var req struct {
		SKUs []struct {
			SKU   string `json:"sku"`
			Items []struct {
				Count     *int64  `json:"count"`
				UpdatedAt *string `json:"updatedAt"`
			} `json:"items"`
		} `json:"skus"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return yandexErr(http.StatusBadRequest, yandexError{"BAD_REQUEST", "invalid JSON: " + err.Error()})
	}
	if n := len(req.SKUs); n == 0 || n > yandexMaxBatch {
		return yandexErr(http.StatusBadRequest, yandexError{"BAD_REQUEST", fmt.Sprintf("skus: %d items, want 1..%d", n, yandexMaxBatch)})
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []yandexError
	bad := func(i int, format string, args ...any) {
		errs = append(errs, yandexError{"BAD_REQUEST", fmt.Sprintf("skus[%d]: ", i) + fmt.Sprintf(format, args...)})
	}
	for i, it := range req.SKUs {
		switch {
		case it.SKU == "":
			bad(i, "sku is required")
		case !s.known(it.SKU):
			bad(i, "offer %q not found", it.SKU)
		case len(it.Items) != 1:
			bad(i, "items: %d, want exactly 1", len(it.Items))
		case it.Items[0].Count == nil || *it.Items[0].Count < 0:
			bad(i, "count is required and must be ≥ 0")
		case it.Items[0].UpdatedAt == nil:
			bad(i, "updatedAt is required")
		default:
			if _, err := time.Parse(time.RFC3339, *it.Items[0].UpdatedAt); err != nil {
				bad(i, "updatedAt %q is not ISO 8601", *it.Items[0].UpdatedAt)
			}
		}
	}
	if len(errs) > 0 { // the whole request is refused
		return yandexErr(http.StatusBadRequest, errs...)
	}
	rep := jsonReply(http.StatusOK, map[string]string{"status": "OK"})
	if s.throttle {
		if !s.quota.take(now, len(req.SKUs)) {
			rep = yandexErr(statusEnhanceYourCalm, yandexError{"TOO_MANY_REQUESTS", "offers quota spent"})
		}
		rep.header = map[string]string{
			"X-RateLimit-Resource-Limit":     strconv.Itoa(s.quota.limit),
			"X-RateLimit-Resource-Remaining": strconv.Itoa(s.quota.remaining()),
			"X-RateLimit-Resource-Until":     s.quota.until.UTC().Format(http.TimeFormat),
		}
		if rep.status != http.StatusOK {
			return rep
		}
	}
	for _, it := range req.SKUs {
		s.stock[it.SKU] = *it.Items[0].Count
	}
	return rep
}
