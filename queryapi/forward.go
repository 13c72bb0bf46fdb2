package queryapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/stocksync/stocksync/contract"
)

// forwardedHeader marks a request one instance sent to another; an instance
// that does not own the key either refuses such a request with 503 (the
// partitions are moving) rather than forwarding it again.
const forwardedHeader = "X-Stocksync-Forwarded"

// forward answers a request for a key another instance owns by asking that
// instance, like Kafka Streams' interactive queries: the caller's token and
// body go along, the owner's answer comes back as is.
func (a *api) forward(w http.ResponseWriter, r *http.Request, owner *contract.NotOwnerError) {
	if r.Header.Get(forwardedHeader) != "" {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, ErrorUnavailable,
			"the partitions are moving between instances; retry shortly")
		return
	}
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(r.Body, a.maxBody+1))
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.writeTimeout+time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, owner.Owner+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		a.internal(w, r, fmt.Errorf("forward to %s: %w", owner.Owner, err))
		return
	}
	for _, h := range []string{"Authorization", "Content-Type", "Accept"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	req.Header.Set(forwardedHeader, "1")
	req.Header.Set(middleware.RequestIDHeader, middleware.GetReqID(r.Context()))
	res, err := a.peers.Do(req)
	if err != nil {
		a.log.WarnContext(r.Context(), "queryapi: the owner of the key did not answer", "owner", owner.Owner,
			"partition", owner.Partition, "err", err)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, ErrorUnavailable,
			"the instance that owns this key did not answer; retry shortly")
		return
	}
	defer res.Body.Close()
	for _, h := range []string{"Content-Type", "Content-Disposition", "Retry-After", "WWW-Authenticate"} {
		if v := res.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.Header().Set("X-Stocksync-Owner", owner.Owner)
	w.WriteHeader(res.StatusCode)
	_, _ = io.Copy(w, res.Body)
}
