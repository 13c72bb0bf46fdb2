package queryapi

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stocksync/stocksync/auth"
)

// scopeFor is the scope a /v1 route needs (DESIGN.md "Auth"), by method and
// chi route pattern; false for a route no scope grants, which is refused.
//
//	GET  /v1/...                         stock:read (stock, orders, locations, channels)
//	PUT, POST /v1/stock/...              stock:write
//	POST /v1/imports                     stock:write
//	POST /v1/reconciliations             stock:write
//	POST /v1/reconciliations/{id}/...    ops:admin (apply, dismiss)
//	POST /v1/orders/...                  orders:write
//	POST /v1/channels/{name}/...         ops:admin (mode, push, dlq/replay)
//	GET, POST /v1/dlq...                 ops:admin (dead letters carry orders and customers: not stock:read)
//	POST /v1/returns, /v1/loyalty        fraud:write
//	GET, POST /v1/fraud/...              fraud:review (alerts name customers: not stock:read)
func scopeFor(method, pattern string) (auth.Scope, bool) {
	switch {
	case (method == http.MethodGet || method == http.MethodPost) && strings.HasPrefix(pattern, "/v1/fraud/"):
		return auth.FraudReview, true
	case method == http.MethodPost && (pattern == "/v1/returns" || pattern == "/v1/loyalty"):
		return auth.FraudWrite, true
	case (method == http.MethodGet || method == http.MethodPost) && (pattern == "/v1/dlq" || strings.HasPrefix(pattern, "/v1/dlq/")):
		return auth.OpsAdmin, true
	case method == http.MethodGet && strings.HasPrefix(pattern, "/v1/"):
		return auth.StockRead, true
	case (method == http.MethodPut || method == http.MethodPost) && strings.HasPrefix(pattern, "/v1/stock/"):
		return auth.StockWrite, true
	case method == http.MethodPost && (pattern == "/v1/imports" || pattern == "/v1/reconciliations"):
		return auth.StockWrite, true
	case method == http.MethodPost && (pattern == "/v1/reconciliations/{id}/apply" || pattern == "/v1/reconciliations/{id}/dismiss"):
		return auth.OpsAdmin, true
	case method == http.MethodPost && strings.HasPrefix(pattern, "/v1/orders/"):
		return auth.OrdersWrite, true
	case method == http.MethodPost && (pattern == "/v1/channels/{name}/mode" ||
		pattern == "/v1/channels/{name}/push" || pattern == "/v1/channels/{name}/dlq/replay"):
		return auth.OpsAdmin, true
	}
	return "", false
}

// guard is the first middleware of every /v1 route: with a keyring it
// answers 401 without a known bearer token and 403 when the token lacks the
// route's scope; then 429 when the token is over its rate or the API serves
// its maximum of requests at once. A refused request has no effect.
type guard struct {
	api      *api
	keyring  *auth.Keyring // nil: open
	rate     float64       // requests/s of a token without its own
	inFlight chan struct{} // one element per request being served

	mu      sync.Mutex
	buckets map[*auth.Identity]*bucket
	now     func() time.Time
}

func newGuard(a *api, keyring *auth.Keyring, rate float64, maxInFlight int) *guard {
	return &guard{api: a, keyring: keyring, rate: rate, inFlight: make(chan struct{}, maxInFlight),
		buckets: map[*auth.Identity]*bucket{}, now: time.Now}
}

const bearerRealm = `Bearer realm="stocksync"`

func (g *guard) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.keyring != nil {
			id, ok := g.authenticate(w, r)
			if !ok {
				return
			}
			b := g.bucket(id)
			if wait, ok := b.take(g.now()); !ok {
				g.api.log.DebugContext(r.Context(), "queryapi: token over its rate", "token", id.Name, "route", routePattern(r))
				refuseRate(w, wait, fmt.Sprintf("this token is over its rate of %g requests per second", b.rate))
				return
			}
		}
		select {
		case g.inFlight <- struct{}{}:
			defer func() { <-g.inFlight }()
		default:
			refuseRate(w, time.Second, fmt.Sprintf("the API is serving its maximum of %d requests at once", cap(g.inFlight)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate returns the caller of r if its bearer token is known and
// covers the route; otherwise it answers 401, 403 or 500 and returns false.
func (g *guard) authenticate(w http.ResponseWriter, r *http.Request) (*auth.Identity, bool) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		w.Header().Set("WWW-Authenticate", bearerRealm)
		writeError(w, http.StatusUnauthorized, ErrorUnauthorized, "a bearer token is required: send Authorization: Bearer <token>")
		return nil, false
	}
	id, ok := g.keyring.Authenticate(strings.TrimSpace(token))
	if !ok {
		w.Header().Set("WWW-Authenticate", bearerRealm+`, error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, ErrorUnauthorized, "the bearer token is not valid")
		return nil, false
	}
	pattern := routePattern(r)
	scope, ok := scopeFor(r.Method, pattern)
	if !ok {
		g.api.internal(w, r, fmt.Errorf("no scope grants %s %s", r.Method, pattern))
		return nil, false
	}
	if !id.Can(scope) {
		g.api.log.WarnContext(r.Context(), "queryapi: token lacks the route's scope",
			"token", id.Name, "method", r.Method, "route", pattern, "scope", scope)
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`%s, error="insufficient_scope", scope=%q`, bearerRealm, scope))
		writeError(w, http.StatusForbidden, ErrorForbidden, fmt.Sprintf("this token lacks the scope %s, which %s %s needs", scope, r.Method, pattern))
		return nil, false
	}
	return id, true
}

// refuseRate answers 429 with Retry-After: wait in whole seconds, at least 1.
func refuseRate(w http.ResponseWriter, wait time.Duration, msg string) {
	secs := max(1, int64(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	writeError(w, http.StatusTooManyRequests, ErrorRateLimited, fmt.Sprintf("%s; retry after %d s", msg, secs))
}

// bucket returns the rate limiter of id, made on its first request.
func (g *guard) bucket(id *auth.Identity) *bucket {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.buckets[id]
	if b == nil {
		rate := id.RatePerS
		if rate == 0 {
			rate = g.rate
		}
		b = newBucket(rate, g.now())
		g.buckets[id] = b
	}
	return b
}

// bucket is a token bucket: it holds up to burst requests, one second's
// worth (at least 1), and refills at rate per second.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, now time.Time) *bucket {
	burst := max(1, math.Ceil(rate))
	return &bucket{rate: rate, burst: burst, tokens: burst, last: now}
}

// take spends one request if the bucket holds one; otherwise it returns how
// long until it will.
func (b *bucket) take(now time.Time) (wait time.Duration, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second)), false
}
