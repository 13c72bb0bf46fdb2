package queryapi

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the HTTP metrics listed in the package doc.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stocksync_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "stocksync_http_request_duration_seconds",
			Help: "Time to answer an HTTP request, by route pattern and method.",
			// 5ms..10s: reads take milliseconds, writes up to WriteTimeout (5s).
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("queryapi: register metrics: %w", err)
		}
	}
	return m, nil
}

// instrument counts and times every request, labelled by route pattern.
func (m *metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		code := ww.Status()
		if code == 0 {
			code = http.StatusOK // the handler wrote nothing: net/http answers 200
		}
		route, method := routeLabel(r), methodLabel(r.Method)
		m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
		m.duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
	})
}

// routePattern is the chi pattern of the route serving r, "" before routing
// or when no route matched.
func routePattern(r *http.Request) string {
	return chi.RouteContext(r.Context()).RoutePattern()
}

func routeLabel(r *http.Request) string {
	if p := routePattern(r); p != "" {
		return p
	}
	return "unmatched"
}

// methodLabel bounds the method label: clients may send any token.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// echoRequestID returns the request id (middleware.RequestID's, the
// client's X-Request-Id if it sent one) so a caller can quote it.
func echoRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(middleware.RequestIDHeader, middleware.GetReqID(r.Context()))
		next.ServeHTTP(w, r)
	})
}

// nameInstance names the instance that answered in X-Stocksync-Instance.
func nameInstance(name string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Stocksync-Instance", name)
			next.ServeHTTP(w, r)
		})
	}
}

// recoverer turns a panic into a logged 500 in the error shape, so one bad
// request cannot take the process down. http.ErrAbortHandler is re-panicked:
// it is net/http's way to abort a response on purpose.
func (a *api) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			a.log.ErrorContext(r.Context(), "queryapi: panic",
				"request_id", middleware.GetReqID(r.Context()), "method", r.Method,
				"route", routePattern(r), "panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
			if ww, ok := w.(middleware.WrapResponseWriter); ok && ww.Status() != 0 {
				return // the header is out; the client sees a cut answer
			}
			writeError(w, http.StatusInternalServerError, ErrorInternal,
				"internal error; request id "+middleware.GetReqID(r.Context()))
		}()
		next.ServeHTTP(w, r)
	})
}
