package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stocksync/stocksync/contract"
)

// HTTPConfig configures an HTTP client. Zero fields take the defaults
// stated on them.
type HTTPConfig struct {
	// BaseURL is where the API listens, e.g. "https://stocksync.internal".
	// Required.
	BaseURL string
	// Token is the bearer token, with the scope orders:write; "" sends none
	// (a `stocksync dev` server). It is never put in an error.
	Token string
	// Timeout bounds each call; a shorter context deadline wins. Default
	// 10s: longer than the server's own wait for the engine (its
	// engine.write_timeout, default 5s), so its 504 arrives first.
	Timeout time.Duration
	// HTTPClient sends the requests. Default a client of its own on
	// http.DefaultTransport.
	HTTPClient *http.Client
}

const (
	defaultHTTPTimeout = 10 * time.Second
	maxAnswerBytes     = 1 << 20 // 1 MiB; an order result is a few KiB
)

// HTTP sends order commands to the HTTP API (POST /v1/orders/{id}/…). It is
// safe for concurrent use.
type HTTP struct {
	base    string // without a trailing slash
	authz   string // "Bearer …", or ""
	timeout time.Duration
	hc      *http.Client
	ids     requestIDs
}

// NewHTTP returns a client of the API at cfg.BaseURL. It does not connect.
func NewHTTP(cfg HTTPConfig) (*HTTP, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: HTTPConfig.BaseURL %q is not an http(s) URL such as https://stocksync.internal", cfg.BaseURL)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("client: HTTPConfig.Timeout %s is negative", cfg.Timeout)
	}
	if strings.ContainsAny(cfg.Token, " \t\r\n") {
		return nil, errors.New("client: HTTPConfig.Token holds whitespace")
	}
	h := &HTTP{base: strings.TrimSuffix(u.String(), "/"), timeout: cfg.Timeout, hc: cfg.HTTPClient, ids: newRequestIDs()}
	if cfg.Token != "" {
		h.authz = "Bearer " + cfg.Token
	}
	if h.timeout == 0 {
		h.timeout = defaultHTTPTimeout
	}
	if h.hc == nil {
		h.hc = &http.Client{}
	}
	return h, nil
}

// reserveBody is the body of POST /v1/orders/{id}/reserve.
type reserveBody struct {
	Lines   []contract.Line `json:"lines"`
	Channel string          `json:"channel,omitempty"`
	TTLS    int64           `json:"ttl_s,omitempty"`
	// RequestID is echoed in the answer: a check that the answer is this
	// request's.
	RequestID string `json:"request_id,omitempty"`
}

// stepBody is the body of confirm, release and ship.
type stepBody struct {
	RequestID string `json:"request_id"`
}

// Reserve holds every line or none for ttl (rounded up to seconds; 0 for
// the engine's default of 15 minutes) on channel ("" for none). A refusal
// (409) is a result with Status rejected and its reason in Error.
func (h *HTTP) Reserve(ctx context.Context, orderID string, lines []contract.Line, channel string, ttl time.Duration) (contract.OrderResult, error) {
	cmd, err := command(contract.Reserve, orderID, lines, channel, ttl)
	if err != nil {
		return contract.OrderResult{}, err
	}
	requestID := h.ids.next()
	body, err := json.Marshal(reserveBody{Lines: cmd.Lines, Channel: cmd.Channel, TTLS: cmd.TTLS, RequestID: requestID})
	if err != nil {
		return contract.OrderResult{}, &Error{Op: cmd.Type, OrderID: orderID, Kind: ErrInvalid, Err: err}
	}
	return h.post(ctx, cmd.Type, orderID, requestID, body)
}

// Confirm turns a reservation into committed stock, without expiry.
func (h *HTTP) Confirm(ctx context.Context, orderID string) (contract.OrderResult, error) {
	return h.transition(ctx, contract.Confirm, orderID)
}

// Release gives a reserved or confirmed order's units back.
func (h *HTTP) Release(ctx context.Context, orderID string) (contract.OrderResult, error) {
	return h.transition(ctx, contract.Release, orderID)
}

// Ship takes a confirmed order's units off the shelf.
func (h *HTTP) Ship(ctx context.Context, orderID string) (contract.OrderResult, error) {
	return h.transition(ctx, contract.Ship, orderID)
}

func (h *HTTP) transition(ctx context.Context, typ, orderID string) (contract.OrderResult, error) {
	if _, err := command(typ, orderID, nil, "", 0); err != nil {
		return contract.OrderResult{}, err
	}
	requestID := h.ids.next()
	body, _ := json.Marshal(stepBody{RequestID: requestID}) // a struct of one string: cannot fail
	return h.post(ctx, typ, orderID, requestID, body)
}

// Close releases idle connections. The client stays usable.
func (h *HTTP) Close() error {
	h.hc.CloseIdleConnections()
	return nil
}

// post sends POST /v1/orders/{orderID}/{op} and reads the answer.
func (h *HTTP) post(ctx context.Context, op, orderID, requestID string, body []byte) (contract.OrderResult, error) {
	fail := func(e *Error) (contract.OrderResult, error) {
		e.Op, e.OrderID = op, orderID
		return contract.OrderResult{}, e
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/v1/orders/"+url.PathEscape(orderID)+"/"+op, bytes.NewReader(body))
	if err != nil {
		return fail(&Error{Kind: ErrInvalid, Err: err})
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if h.authz != "" {
		req.Header.Set("Authorization", h.authz)
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fail(ctxError(op, orderID, ctx.Err()))
		}
		return fail(&Error{Kind: ErrUnavailable, Err: err})
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		if ctx.Err() != nil {
			return fail(ctxError(op, orderID, ctx.Err()))
		}
		return fail(&Error{Kind: ErrUnavailable, Status: resp.StatusCode, Err: fmt.Errorf("reading the answer: %w", err)})
	}
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusConflict {
		var res contract.OrderResult
		if err := json.Unmarshal(data, &res); err != nil || res.OrderID != orderID || res.Type != op || res.Status == "" ||
			(res.RequestID != "" && res.RequestID != requestID) {
			return fail(&Error{Kind: ErrServer, Status: resp.StatusCode, Message: "the answer is not the order's result", Err: err})
		}
		if resp.StatusCode == http.StatusConflict && res.Status != contract.StatusRejected {
			return fail(&Error{Kind: ErrServer, Status: resp.StatusCode, Message: "a 409 whose status is " + res.Status})
		}
		return res, nil
	}
	var shape struct {
		Error struct{ Type, Message string } `json:"error"`
	}
	_ = json.Unmarshal(data, &shape) // a body in another shape leaves them empty
	e := &Error{Status: resp.StatusCode, Type: shape.Error.Type, Message: shape.Error.Message,
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	switch resp.StatusCode {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		e.Kind = ErrInvalid
	case http.StatusUnauthorized:
		e.Kind = ErrUnauthorized
	case http.StatusForbidden:
		e.Kind = ErrForbidden
	case http.StatusTooManyRequests:
		e.Kind = ErrRateLimited
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		e.Kind = ErrUnavailable
	case http.StatusGatewayTimeout:
		e.Kind = ErrTimeout
	default:
		e.Kind = ErrServer
	}
	return fail(e)
}

// retryAfter parses a Retry-After header, seconds or an HTTP date; 0 when
// absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 && s < 1<<31 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
