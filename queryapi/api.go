// Package queryapi serves the HTTP API of stocksync (DESIGN.md "Public
// contract (v1)") on go-chi: stock reads and feed writes, order commands that
// answer once the engine has decided, and health, readiness and metrics.
//
// Every error is answered in one JSON shape, {"error":{"type","message"}},
// whose type is one of the ErrorType constants; the one exception is a
// refused order command, answered 409 with the engine's OrderResult, whose
// "error" carries a contract reason type (e.g. insufficient_stock).
//
// With Config.Auth, every /v1 route needs a bearer token whose scopes cover
// it (401 unauthorized, 403 forbidden); each token has a rate and the API a
// cap on requests in flight (429 rate_limited with Retry-After). Health,
// readiness, metrics and GET /openapi.json, the OpenAPI 3.1 description of
// every route, stay open.
//
// The ops console's page is served at /ops/ (opsui) and its data at
// /v1/ops/..., /v1/orders/{id}/history and /v1/dlq (ops.go), from
// Config.Console. With Config.Instance every answer names the instance that
// gave it in X-Stocksync-Instance.
//
// Metrics, registered on Config.Registry:
//
//	stocksync_http_requests_total{route,method,code}         counter of answered requests
//	stocksync_http_request_duration_seconds{route,method}    histogram of time to answer
//
// route is the chi route pattern ("/v1/stock/{sku}"), or "unmatched" for a
// path no route serves, so the label stays bounded whatever clients send;
// method is the HTTP method, or "OTHER" for one the API does not know; code is
// the HTTP status.
package queryapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stocksync/stocksync/auth"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/opsui"
)

// Config configures the API. Zero fields take the defaults stated on them.
type Config struct {
	// The engine's side of the API: one small interface per role, each
	// declared beside the handlers that use it. An instance passes its
	// engine to every one; a test passes a fake of the roles it drives.
	// All are required. Their errors may wrap contract.ErrNotFound,
	// contract.ErrUnavailable, contract.ErrTimeout or be a
	// *contract.InvalidError, which the API maps to statuses (errors.go),
	// or a *contract.NotOwnerError: another instance owns the key, and the
	// API forwards the request there (forward.go).
	Stock         StockReader     // GET /v1/stock/{sku}
	Feed          FeedSubmitter   // PUT /v1/stock/{sku}/locations/{location}, POST .../adjust
	Orders        OrderReader     // GET /v1/orders/{order_id}
	OrderCommands OrderSubmitter  // POST /v1/orders/{order_id}/reserve, confirm, release, ship
	Catalogue     Catalogue       // GET /v1/locations, GET /v1/channels; the locations POST /v1/imports knows
	Readiness     Readiness       // GET /readyz
	Channels      ChannelOperator // /v1/channels/{name}/stock/{sku}, pending, mode, push, dlq/replay
	// Registry receives the metrics listed in the package doc. Required: the
	// global default registry is never used.
	Registry prometheus.Registerer
	// Gatherer is what GET /metrics exposes, usually the same registry as
	// Registry. Required.
	Gatherer prometheus.Gatherer
	// Logger logs internal errors and panics with the request id. Default
	// slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes bounds a request body; a larger one is answered 413.
	// Default and maximum contract.MaxMessageBytes (64 KiB), the limit the
	// contract puts on one message, so HTTP accepts no body Kafka would refuse.
	MaxBodyBytes int64
	// WriteTimeout is how long a write waits for the engine's answer before
	// it is answered 504 (the command may still take effect; repeating it with
	// the same id tells its outcome). Default 5s.
	WriteTimeout time.Duration
	// Auth requires on every /v1 route a bearer token of this keyring whose
	// scopes cover the route (DESIGN.md "Auth"; see scopeFor): 401 without
	// one, 403 with the wrong scope. Default nil; then Open must be set, or
	// Middleware given that authenticates.
	Auth *auth.Keyring
	// Open serves /v1 without authentication, as `stocksync dev` does on
	// loopback. Default false; it excludes Auth.
	Open bool
	// RatePerS is the requests per second a token may send when it has no
	// rate of its own (auth.Token.RatePerS); a token may burst one second's
	// worth. Over it, 429 with Retry-After. Only with Auth. Default 1000.
	RatePerS float64
	// MaxInFlight bounds the /v1 requests served at once over all callers;
	// one more is answered 429 with Retry-After. Default 512.
	MaxInFlight int
	// Imports writes the rows of POST /v1/imports to stock.feed. Default
	// nil: the route answers 503.
	Imports FeedBatcher
	// Middleware wraps every /v1 route, in order, after Auth and the rate
	// limits. It runs after routing, so chi.RouteContext(r.Context())
	// .RoutePattern() names the route; health, readiness, metrics, the
	// OpenAPI document and 404/405 answers do not pass through it. Default
	// none.
	Middleware []func(http.Handler) http.Handler
	// ReadyGate, when set, also has to answer nil before /readyz answers
	// 200: for work the instance does beside the engine (stocksync dev
	// seeds its demo catalogue). Its error is the 503's message. Default
	// none.
	ReadyGate func() error
	// Fraud serves the anti-fraud routes (fraud:write, fraud:review).
	// Default nil: they answer 404, anti-fraud is off.
	Fraud Fraud
	// Reconciliations serves /v1/reconciliations. Default nil: its routes
	// answer 503 (the list is empty).
	Reconciliations Reconciliations
	// Console serves the ops console's data: /v1/ops/series, /v1/ops/top,
	// /v1/ops/cluster, /v1/orders/{id}/history and /v1/dlq. Default nil:
	// they answer 404; the console's page still shows channels and lookups.
	Console Console
	// Instance names this instance in the X-Stocksync-Instance header of
	// every answer, so an operator sees which instance answered. Default
	// "": no header.
	Instance string
}

const (
	defaultMaxBodyBytes = contract.MaxMessageBytes
	defaultWriteTimeout = 5 * time.Second
	defaultRatePerS     = 1000
	defaultMaxInFlight  = 512
)

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = defaultMaxBodyBytes
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = defaultWriteTimeout
	}
	if c.RatePerS == 0 {
		c.RatePerS = defaultRatePerS
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = defaultMaxInFlight
	}
	if c.Fraud == nil {
		c.Fraud = fraudOff{}
	}
	if c.Reconciliations == nil {
		c.Reconciliations = reconOff{}
	}
	return c
}

// Validate reports every problem of c at once. Zero fields that have a
// default are valid.
func (c Config) Validate() error {
	var errs []error
	for _, role := range []struct {
		field  string
		absent bool
		serves string
	}{
		{"Stock", c.Stock == nil, "GET /v1/stock/{sku}"},
		{"Feed", c.Feed == nil, "the snapshot and adjust routes"},
		{"Orders", c.Orders == nil, "GET /v1/orders/{order_id}"},
		{"OrderCommands", c.OrderCommands == nil, "reserve, confirm, release and ship"},
		{"Catalogue", c.Catalogue == nil, "GET /v1/locations and /v1/channels"},
		{"Readiness", c.Readiness == nil, "GET /readyz"},
		{"Channels", c.Channels == nil, "the /v1/channels/{name}/... routes"},
	} {
		if role.absent {
			errs = append(errs, fmt.Errorf("queryapi: Config.%s is required: it serves %s", role.field, role.serves))
		}
	}
	if c.Registry == nil {
		errs = append(errs, errors.New("queryapi: Registry is required"))
	}
	if c.Gatherer == nil {
		errs = append(errs, errors.New("queryapi: Gatherer is required"))
	}
	if c.MaxBodyBytes < 0 || c.MaxBodyBytes > contract.MaxMessageBytes {
		errs = append(errs, fmt.Errorf("queryapi: MaxBodyBytes %d is outside 1..%d", c.MaxBodyBytes, contract.MaxMessageBytes))
	}
	if c.WriteTimeout < 0 {
		errs = append(errs, fmt.Errorf("queryapi: WriteTimeout %s is negative", c.WriteTimeout))
	}
	for i, mw := range c.Middleware {
		if mw == nil {
			errs = append(errs, fmt.Errorf("queryapi: Middleware[%d] is nil", i))
		}
	}
	if math.IsNaN(c.RatePerS) || c.RatePerS < 0 || c.RatePerS > auth.MaxRatePerS {
		errs = append(errs, fmt.Errorf("queryapi: RatePerS %g is outside 0..%g", c.RatePerS, float64(auth.MaxRatePerS)))
	}
	if c.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("queryapi: MaxInFlight %d is negative", c.MaxInFlight))
	}
	switch {
	case c.Open && c.Auth != nil:
		errs = append(errs, errors.New("queryapi: Open and Auth exclude each other"))
	case !c.Open && c.Auth == nil && len(c.Middleware) == 0:
		errs = append(errs, errors.New("queryapi: no authentication: set Auth, or Open to serve /v1 without it, or give Middleware that authenticates"))
	}
	return errors.Join(errs...)
}

// api holds what the handlers share.
type api struct {
	stock        StockReader
	feed         FeedSubmitter
	orders       OrderReader
	commands     OrderSubmitter
	catalogue    Catalogue
	readiness    Readiness
	channelOps   ChannelOperator
	log          *slog.Logger
	maxBody      int64
	writeTimeout time.Duration
	peers        *http.Client // forwards requests to the instance that owns a key
	readyGate    func() error // nil: the engine alone decides readiness
	imports      FeedBatcher  // POST /v1/imports; nil: answered 503
	recon        Reconciliations
	console      Console // nil: the console's routes answer 404
}

// New returns the API's handler. It fails if cfg is invalid or the metrics
// are already registered on cfg.Registry.
func New(cfg Config) (http.Handler, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	spec, err := openAPIJSON()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	a := &api{stock: cfg.Stock, feed: cfg.Feed, orders: cfg.Orders, commands: cfg.OrderCommands, catalogue: cfg.Catalogue,
		readiness: cfg.Readiness, channelOps: cfg.Channels, log: cfg.Logger, maxBody: cfg.MaxBodyBytes,
		writeTimeout: cfg.WriteTimeout, peers: &http.Client{Timeout: cfg.WriteTimeout + 2*time.Second},
		readyGate: cfg.ReadyGate, imports: cfg.Imports, recon: cfg.Reconciliations, console: cfg.Console}
	if cfg.Open {
		a.log.Warn("queryapi: serving /v1 without authentication (Open is set)")
	}
	if cfg.Auth != nil {
		a.log.Info("queryapi: /v1 requires bearer tokens", "tokens", cfg.Auth.Len(),
			"default_rate_per_s", cfg.RatePerS, "max_in_flight", cfg.MaxInFlight)
	}

	r := chi.NewRouter()
	r.Use(middleware.RequestID, echoRequestID, m.instrument, a.recoverer)
	if cfg.Instance != "" {
		r.Use(nameInstance(cfg.Instance))
	}
	r.NotFound(a.notFound)
	r.MethodNotAllowed(a.methodNotAllowed(r))

	r.Get("/healthz", a.healthz)
	r.Get("/readyz", a.readyz)
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelError),
	}))
	r.Get("/openapi.json", serveOpenAPI(spec))
	r.Method(http.MethodGet, "/ops", http.RedirectHandler("/ops/", http.StatusMovedPermanently))
	r.Method(http.MethodGet, "/ops/*", opsui.Handler()) // static; its API calls carry the operator's token

	// The comments name the scope each route needs (scopeFor).
	r.Group(func(r chi.Router) {
		r.Use(newGuard(a, cfg.Auth, cfg.RatePerS, cfg.MaxInFlight).middleware)
		r.Use(cfg.Middleware...)
		// stock:read
		r.Get("/v1/stock/{sku}", a.getStock)
		r.Get("/v1/locations", a.locations)
		r.Get("/v1/channels", a.channels)
		r.Get("/v1/orders/{order_id}", a.getOrder)
		r.Get("/v1/channels/{name}/stock/{sku}", a.channelStock)
		r.Get("/v1/channels/{name}/pending", a.pending)
		r.Get("/v1/channels/{name}/pending.csv", a.pendingCSV)
		r.Get("/v1/orders/{order_id}/history", a.consoleRoute(a.orderHistory))
		r.Get("/v1/ops/series", a.consoleRoute(a.series))
		r.Get("/v1/ops/top", a.consoleRoute(a.top))
		r.Get("/v1/ops/cluster", a.consoleRoute(a.cluster))
		// stock:write
		r.Put("/v1/stock/{sku}/locations/{location}", a.putSnapshot)
		r.Post("/v1/stock/{sku}/locations/{location}/adjust", a.postAdjust)
		r.Post("/v1/imports", a.postImports)
		// orders:write
		r.Post("/v1/orders/{order_id}/reserve", a.reserve)
		r.Post("/v1/orders/{order_id}/confirm", a.transition(contract.Confirm, contract.StatusConfirmed))
		r.Post("/v1/orders/{order_id}/release", a.transition(contract.Release, contract.StatusReleased))
		r.Post("/v1/orders/{order_id}/ship", a.transition(contract.Ship, contract.StatusShipped))
		// ops:admin
		r.Post("/v1/channels/{name}/mode", a.setMode)
		r.Post("/v1/channels/{name}/push", a.pushNow)
		r.Post("/v1/channels/{name}/dlq/replay", a.replayDLQ)
		r.Get("/v1/dlq", a.consoleRoute(a.deadLetters)) // messages carry order and customer data: not stock:read
		r.Get("/v1/dlq/{id}", a.consoleRoute(a.deadLetter))
		r.Post("/v1/dlq/replay", a.consoleRoute(a.replayDeadLetters))
		// fraud:write
		r.Post("/v1/returns", cfg.Fraud.PostReturns)
		r.Post("/v1/loyalty", cfg.Fraud.PostLoyalty)
		// fraud:review
		r.Get("/v1/fraud/alerts", cfg.Fraud.GetAlerts)
		r.Post("/v1/fraud/alerts/{id}/label", cfg.Fraud.PostLabel)
		a.reconRoutes(r)
	})
	return r, nil
}

// pathKey returns the path parameter name, unescaped and checked with
// contract.CheckKey; on failure it answers 400 and returns false.
//
// chi routes on r.URL.RawPath when the request's path has escapes that
// Path cannot round-trip (a SKU with "/" sent as %2F), and then its params
// are still escaped; otherwise it routes on the already unescaped Path.
// Unescaping in the second case would corrupt a SKU like "100%".
func (a *api) pathKey(w http.ResponseWriter, r *http.Request, name string) (string, bool) {
	v := chi.URLParam(r, name)
	if r.URL.RawPath != "" {
		u, err := url.PathUnescape(v)
		if err != nil {
			a.fail(w, r, &contract.InvalidError{Field: name, Reason: "is not a valid path segment: " + err.Error()})
			return "", false
		}
		v = u
	}
	if err := contract.CheckKey(name, v); err != nil {
		a.fail(w, r, err)
		return "", false
	}
	return v, true
}

// writeCtx bounds how long a write waits for the engine's answer.
func (a *api) writeCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), a.writeTimeout)
}

// decodeBody reads at most maxBody+1 bytes of r's body and decodes them with
// contract.DecodeStrict into a new T; on failure it answers 413 or 400 and
// returns nil. With emptyOK, an empty body stands for {}.
func decodeBody[T any](a *api, w http.ResponseWriter, r *http.Request, emptyOK bool) *T {
	data, err := io.ReadAll(io.LimitReader(r.Body, a.maxBody+1))
	if err != nil {
		a.fail(w, r, &contract.InvalidError{Reason: "cannot read the body: " + err.Error()})
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(data)) // readable again, should the request be forwarded
	if int64(len(data)) > a.maxBody {
		writeError(w, http.StatusRequestEntityTooLarge, ErrorTooLarge,
			fmt.Sprintf("the body is over the limit of %d bytes", a.maxBody))
		return nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if emptyOK {
			return new(T)
		}
		a.fail(w, r, &contract.InvalidError{Reason: "the body must be a JSON object, it is empty"})
		return nil
	}
	// Decoding into a pointer tells {} from null, which is refused.
	var v *T
	if err := contract.DecodeStrict(data, &v); err != nil {
		a.fail(w, r, err)
		return nil
	}
	if v == nil {
		a.fail(w, r, &contract.InvalidError{Reason: "the body must be a JSON object, not null"})
		return nil
	}
	return v
}
