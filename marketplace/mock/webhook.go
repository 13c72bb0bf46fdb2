package mock

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/stocksync/stocksync/marketplace"
)

const (
	webhookRate  = 20 // requests per second
	webhookBurst = 20
)

// NewWebhook serves POST on any path like a generic stock receiver:
// {"channel","updates":[{sku,available,version}]} in, per-item results out.
func NewWebhook() *Server {
	s := newServer(marketplace.KindWebhook)
	s.authorized = func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+Token }
	s.fail = func(status int) reply {
		rep := jsonReply(status, map[string]string{"error": http.StatusText(status)})
		if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
			rep.header = map[string]string{"Retry-After": "1"}
		}
		return rep
	}
	s.handle = s.webhook
	s.bucket = newBucket(webhookRate, webhookBurst)
	s.results = true
	s.versions = map[string]int64{}
	return s.start()
}

// SetResults makes the webhook answer 200 with per-item results (default)
// or a bare 204.
func (s *Server) SetResults(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.results = on
}

type webhookResult struct {
	SKU       string `json:"sku"`
	OK        bool   `json:"ok"`
	Retryable bool   `json:"retryable"`
	Reason    string `json:"reason,omitempty"`
}

func (s *Server) webhook(r *http.Request, body []byte) reply {
	if r.Method != http.MethodPost {
		return s.fail(http.StatusMethodNotAllowed)
	}
	var req struct {
		Channel string `json:"channel"`
		Updates []struct {
			SKU       string `json:"sku"`
			Available *int64 `json:"available"`
			Version   *int64 `json:"version"`
		} `json:"updates"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Channel == "" || len(req.Updates) == 0 {
		return jsonReply(http.StatusBadRequest, map[string]string{"error": "want {channel, updates[]}"})
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.throttle {
		if _, ok := s.bucket.take(now); !ok {
			return s.fail(http.StatusTooManyRequests)
		}
	}
	out := make([]webhookResult, len(req.Updates))
	for i, u := range req.Updates {
		out[i].SKU = u.SKU
		switch {
		case u.SKU == "" || u.Available == nil || u.Version == nil:
			out[i].Reason = "bad_update: sku, available and version are required"
		case !s.known(u.SKU):
			out[i].Reason = "unknown_sku"
		case *u.Version < s.versions[u.SKU]:
			out[i].Reason = fmt.Sprintf("stale_version: have %d", s.versions[u.SKU])
		default:
			s.stock[u.SKU], s.versions[u.SKU] = *u.Available, *u.Version
			out[i].OK = true
		}
	}
	if !s.results {
		return reply{status: http.StatusNoContent}
	}
	return jsonReply(http.StatusOK, map[string]any{"results": out})
}
