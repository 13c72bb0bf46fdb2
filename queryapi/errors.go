package queryapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/stocksync/stocksync/contract"
)

// ErrorType is the "type" of an error answer: a small closed set a client
// can switch on. The message says more, for a human.
type ErrorType string

// Error types, each with the status it is answered with.
const (
	ErrorBadRequest       ErrorType = "bad_request"        // 400: bad JSON, unknown field, a value outside its bounds
	ErrorUnauthorized     ErrorType = "unauthorized"       // 401: no or unknown bearer token (auth issue)
	ErrorForbidden        ErrorType = "forbidden"          // 403: the token's scopes do not cover the route (auth issue)
	ErrorNotFound         ErrorType = "not_found"          // 404: unknown SKU, order or route
	ErrorMethodNotAllowed ErrorType = "method_not_allowed" // 405: the route exists, the method does not
	ErrorConflict         ErrorType = "conflict"           // 409: the state forbids it (a reconciliation going, a row decided)
	ErrorTooLarge         ErrorType = "too_large"          // 413: body over Config.MaxBodyBytes
	ErrorRateLimited      ErrorType = "rate_limited"       // 429: over the token's rate (auth issue)
	ErrorInternal         ErrorType = "internal"           // 500: a bug; logged with the request id
	ErrorUnavailable      ErrorType = "unavailable"        // 503: not ready, or the key's partition is moving; Retry-After says when
	ErrorTimeout          ErrorType = "timeout"            // 504: the engine did not answer in time; repeat with the same id
)

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong.
type ErrorDetail struct {
	Type    ErrorType `json:"type"`
	Message string    `json:"message"`
}

// statusClientClosed is recorded when the client went away before the
// engine answered; nobody reads the answer, but the metrics should not
// count it as a server error (nginx's convention).
const statusClientClosed = 499

// writeError answers status with the error shape. A 503 tells the client to
// retry after a second: the engine is recovering or a partition is moving,
// which takes about that long to change.
func writeError(w http.ResponseWriter, status int, typ ErrorType, msg string) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, ErrorResponse{Error: ErrorDetail{Type: typ, Message: msg}})
}

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only a type the API controls is marshalled; this is a bug.
		status = http.StatusInternalServerError
		body, _ = json.Marshal(ErrorResponse{Error: ErrorDetail{Type: ErrorInternal, Message: "cannot encode the answer"}})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n')) // a failed write means the client is gone
}

// fail answers err: input and engine errors by their kind, anything else as
// 500, logged with the request id and never shown to the caller.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	var invalid *contract.InvalidError
	var notOwner *contract.NotOwnerError
	switch {
	case errors.As(err, &notOwner):
		a.forward(w, r, notOwner)
	case errors.As(err, &invalid):
		writeError(w, http.StatusBadRequest, ErrorBadRequest, invalidMessage(invalid))
	case errors.Is(err, contract.ErrNotFound):
		writeError(w, http.StatusNotFound, ErrorNotFound, notFoundMessage(r, err))
	case errors.Is(err, contract.ErrUnavailable):
		writeError(w, http.StatusServiceUnavailable, ErrorUnavailable, "the engine cannot answer for this key yet; retry shortly")
	case errors.Is(err, contract.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, ErrorTimeout,
			"the engine did not answer in time; the command may still take effect: repeat it with the same id to learn its outcome")
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		w.WriteHeader(statusClientClosed)
	default:
		a.internal(w, r, err)
	}
}

// internal logs err with the request id and answers 500 without details.
func (a *api) internal(w http.ResponseWriter, r *http.Request, err error) {
	id := middleware.GetReqID(r.Context())
	a.log.ErrorContext(r.Context(), "queryapi: internal error",
		"request_id", id, "method", r.Method, "route", routePattern(r), "err", err)
	writeError(w, http.StatusInternalServerError, ErrorInternal, "internal error; request id "+id)
}

// invalidMessage drops the "contract:" prefix: the caller wants the field and
// the rule, not the package.
func invalidMessage(e *contract.InvalidError) string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

func notFoundMessage(r *http.Request, err error) string {
	switch {
	case strings.HasPrefix(routePattern(r), "/v1/channels/"):
		// The engine says which is missing: the channel, or its value for the SKU.
		if msg, ok := strings.CutPrefix(err.Error(), contract.ErrNotFound.Error()+": "); ok {
			return msg
		}
	case strings.HasPrefix(routePattern(r), "/v1/orders/"):
		return "no order with this order_id"
	case strings.HasPrefix(routePattern(r), "/v1/stock/"):
		return "no stock recorded for this sku"
	}
	return "not found"
}

func (a *api) notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, ErrorNotFound, "no route for "+r.URL.EscapedPath())
}

// apiMethods are the methods some route serves; Allow lists those of them
// the requested path takes.
var apiMethods = []string{http.MethodGet, http.MethodPut, http.MethodPost}

// methodNotAllowed answers 405 with Allow, or 404 if no method serves the
// path (chi sends a method it does not know here, whatever the path).
func (a *api) methodNotAllowed(mux *chi.Mux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.RawPath
		if path == "" {
			path = r.URL.Path
		}
		var allowed []string
		for _, m := range apiMethods {
			if mux.Match(chi.NewRouteContext(), m, path) {
				allowed = append(allowed, m)
			}
		}
		if len(allowed) == 0 {
			a.notFound(w, r)
			return
		}
		allow := strings.Join(allowed, ", ")
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, ErrorMethodNotAllowed,
			fmt.Sprintf("%s is not allowed here; allowed: %s", r.Method, allow))
	}
}
