// Package mock runs loopback HTTP servers that behave like the
// marketplaces' stock APIs, unpleasant parts included, for the contract
// tests and for `stocksync dev`:
//
//   - Ozon answers 200 with per-item errors, refuses a pair updated less
//     than 30 s ago (TOO_MANY_REQUESTS), answers NOT_FOUND for SKUs not in
//     its catalogue and 429 {"code":8} past 80 requests/min.
//   - Wildberries answers 204 to unknown field names and changes nothing,
//     answers 409 for unknown SKUs (nothing of the batch applied) and charges
//     it as five requests, and 429 with X-Ratelimit-Retry past 300/min
//     (a bucket of 20 refilled every 200 ms).
//   - Yandex Market answers 420 when more than 4 requests are in flight or
//     its offers quota (100,000/min) is spent, sends X-RateLimit-Resource-*
//     headers, and 400 errors[] for bad input, refusing the whole request.
//   - The webhook answers per-item results, refuses stale versions, and 429
//     or 503 with Retry-After.
//
// Each requires its auth header with Token (and Ozon's Client-Id with
// ClientID). Rate limits are on by default, as on the real ones.
package mock

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/stocksync/stocksync/marketplace"
)

// Credentials and ids the mocks accept; Server.Config fills them in.
const (
	Token       = "mock-token"
	ClientID    = "mock-client" // Ozon's Client-Id
	WarehouseID = 1001          // Ozon's warehouse_id and Wildberries' {warehouseId}
	CampaignID  = 2002          // Yandex's {campaignId}
)

// maxBody bounds a request body: 2000 Yandex offers are ~200 KiB.
const maxBody = 8 << 20 // 8 MiB

// Server is one mock marketplace on 127.0.0.1. Its methods are safe for
// concurrent use.
type Server struct {
	kind        string
	maxInFlight int                        // 0: no limit
	authorized  func(r *http.Request) bool // the kind's auth header check
	fail        func(status int) reply     // the kind's error answer, for FailNext, auth and the in-flight limit
	handle      func(r *http.Request, body []byte) reply

	ln  net.Listener
	srv *http.Server

	mu        sync.Mutex
	stock     map[string]int64
	catalogue map[string]bool // nil: every SKU is known
	requests  int
	inFlight  int
	failN     int
	failCode  int
	down      bool
	throttle  bool
	stall     chan struct{}    // non-nil: admitted requests wait for it to close
	clock     func() time.Time // the limits' clock; nil: time.Now
	lastBody  []byte

	cooldown   time.Duration        // Ozon: per-pair interval
	lastSet    map[string]time.Time // Ozon: when each SKU was last updated
	itemErrors map[string]string    // Ozon: SKU → forced item error code
	window     *window              // Ozon: 80 requests/min
	bucket     *bucket              // Wildberries, webhook
	quota      *quota               // Yandex: offers/min
	results    bool                 // webhook: answer per-item results
	versions   map[string]int64     // webhook: last applied version per SKU
}

// reply is a handler's answer, written after the lock is released.
type reply struct {
	status int
	header map[string]string
	body   []byte // JSON; nil for none
}

func newServer(kind string) *Server {
	return &Server{kind: kind, stock: map[string]int64{}, throttle: true}
}

// start listens on a free loopback port. Like httptest.NewServer it panics
// when it cannot: a machine without loopback cannot run the mocks at all.
func (s *Server) start() *Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("mock %s: listen: %v", s.kind, err))
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }() // returns ErrServerClosed on Close
	return s
}

// URL is the server's base URL, http://127.0.0.1:port.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Config is an adapter config for this server: its URL (the webhook's
// /hook), Token, ClientID and the ids it accepts.
func (s *Server) Config() marketplace.Config {
	c := marketplace.Config{BaseURL: s.URL(), Token: Token}
	switch s.kind {
	case marketplace.KindOzon:
		c.ClientID, c.WarehouseID = ClientID, WarehouseID
	case marketplace.KindWildberries:
		c.WarehouseID = WarehouseID
	case marketplace.KindYandex:
		c.CampaignID = CampaignID
	case marketplace.KindWebhook:
		c.BaseURL += "/hook"
	}
	return c
}

// Kind is the adapter kind this server mocks.
func (s *Server) Kind() string { return s.kind }

// Close releases stalled requests and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	if s.stall != nil {
		close(s.stall)
		s.stall = nil
	}
	s.mu.Unlock()
	_ = s.srv.Close()
}

// Stock is what the marketplace now shows for sku, and whether it has
// ever been set.
func (s *Server) Stock(sku string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.stock[sku]
	return v, ok
}

// Order takes qty of sku off what the marketplace shows, as a marketplace
// does when it accepts a customer's order against its displayed stock; it
// takes nothing and returns false when it shows less (or nothing).
func (s *Server) Order(sku string, qty int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.stock[sku]; !ok || v < qty {
		return false
	}
	s.stock[sku] -= qty
	return true
}

// SetClock runs the limits (request rates, quotas, Ozon's per-item
// cooldown) on now instead of the wall clock: a simulation whose time runs
// faster than the wall's passes its own. Retry-After values the mocks send
// are in now's seconds.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock = now
}

// now reads the limits' clock; s.mu must not be held.
func (s *Server) now() time.Time {
	s.mu.Lock()
	clock := s.clock
	s.mu.Unlock()
	if clock != nil {
		return clock()
	}
	return time.Now()
}

// Requests counts every request received, failed ones included.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// InFlight counts the requests being answered now.
func (s *Server) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight
}

// LastBody is the body of the last request received.
func (s *Server) LastBody() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.lastBody...)
}

// FailNext makes the next n requests fail with status, in the kind's error
// shape (a 429 carries the kind's throttling headers).
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failCode = n, status
}

// SetDown makes every request fail with a bare 503 (no Retry-After).
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Throttle turns the kind's rate limits on or off; default on. Yandex's
// limit of 4 requests in flight stays on.
func (s *Server) Throttle(enabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = enabled
}

// AddProducts adds skus to the catalogue. The catalogue starts open (every
// SKU known); the first call closes it to the SKUs added.
func (s *Server) AddProducts(skus ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.catalogue == nil {
		s.catalogue = map[string]bool{}
	}
	for _, sku := range skus {
		s.catalogue[sku] = true
	}
}

// Stall holds every admitted request (after auth and the in-flight check)
// until release is called or the server closes.
func (s *Server) Stall() (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.stall = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.stall == ch {
				close(ch)
				s.stall = nil
			}
			s.mu.Unlock()
		})
	}
}

// known reports whether sku is in the catalogue; s.mu is held.
func (s *Server) known(sku string) bool { return s.catalogue == nil || s.catalogue[sku] }

// ServeHTTP runs the checks every kind shares, in the order a real API
// meets them, then the kind's handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody)) // a short read is a bad body, found by the handler
	s.mu.Lock()
	s.requests++
	s.inFlight++
	s.lastBody = body
	down, fail, inFlight, stall := s.down, 0, s.inFlight, s.stall
	if !down && s.failN > 0 {
		s.failN--
		fail = s.failCode
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()

	switch {
	case down:
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	case fail != 0:
		write(w, s.fail(fail))
		return
	case !s.authorized(r):
		write(w, s.fail(http.StatusUnauthorized))
		return
	case s.maxInFlight > 0 && inFlight > s.maxInFlight:
		write(w, s.fail(statusEnhanceYourCalm))
		return
	}
	if stall != nil {
		select {
		case <-stall:
		case <-r.Context().Done():
			return
		}
	}
	write(w, s.handle(r, body))
}

func write(w http.ResponseWriter, rep reply) {
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.body != nil {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body) // a failed write means the client is gone
}

// jsonReply encodes v; the mocks only encode their own types.
func jsonReply(status int, v any) reply {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return reply{status: status, body: b}
}

// New starts the mock of a marketplace kind (ozon, wildberries, yandex,
// webhook).
func New(kind string) (*Server, error) {
	switch kind {
	case marketplace.KindOzon:
		return NewOzon(), nil
	case marketplace.KindWildberries:
		return NewWildberries(), nil
	case marketplace.KindYandex:
		return NewYandex(), nil
	case marketplace.KindWebhook:
		return NewWebhook(), nil
	}
	return nil, fmt.Errorf("mock: no mock for marketplace %q", kind)
}
