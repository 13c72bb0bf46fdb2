package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stocksync/stocksync/contract"
)

// Errors every method may return, wrapped in an *Error; test with errors.Is.
// A command the engine refuses (not enough stock, a conflicting repeat, an
// unknown order) is not an error: it is a result with Status "rejected".
var (
	// ErrInvalid is returned for a command that breaks the contract (an
	// empty or oversized id, a quantity out of bounds, too many lines): it
	// was refused before it was sent, or answered 400 or 413. Fix the call;
	// repeating it cannot help. The *contract.InvalidError is wrapped too
	// when the client found it.
	ErrInvalid = errors.New("client: invalid command")
	// ErrUnauthorized is returned when the HTTP API answers 401 (no or an
	// unknown token), or Kafka refuses the SASL credentials.
	ErrUnauthorized = errors.New("client: unauthorized")
	// ErrForbidden is returned when the token lacks orders:write (403), or
	// a Kafka ACL refuses the topics.
	ErrForbidden = errors.New("client: forbidden")
	// ErrRateLimited is returned for a 429: the token is over its rate or
	// the API is at its cap of requests in flight. Nothing was done; retry
	// after Error.RetryAfter.
	ErrRateLimited = errors.New("client: rate limited")
	// ErrUnavailable is returned when stocksync cannot be reached or cannot
	// answer yet (connection refused, Kafka unreachable, 503). Retrying
	// with the same order id is safe.
	ErrUnavailable = errors.New("client: stocksync unavailable")
	// ErrTimeout is returned when no answer arrived before the context ended
	// or Timeout passed (or the API answered 504). The command may still take
	// effect: repeat it with the same order id to learn its outcome. The
	// context's error is wrapped too.
	ErrTimeout = errors.New("client: no answer in time")
	// ErrServer is returned for an answer the client cannot use: a 500, an
	// unexpected status or an unreadable body.
	ErrServer = errors.New("client: unexpected answer")
	// ErrClosed is returned by calls on, or waiting in, a closed client.
	ErrClosed = errors.New("client: closed")
)

// Error says which call failed and why. Kind is one of the sentinels above;
// errors.Is matches both Kind and Err.
type Error struct {
	Op      string // reserve, confirm, release, ship
	OrderID string
	Kind    error
	// Status is the HTTP status, 0 over Kafka or without an answer.
	Status int
	// Type and Message are the HTTP API's error type (e.g. "rate_limited")
	// and message, when it answered one.
	Type, Message string
	// RetryAfter is when to retry, from a 429's or 503's Retry-After; 0 when
	// the answer gave none.
	RetryAfter time.Duration
	// Err is the cause, if any: a transport error, the context's error, a
	// *contract.InvalidError.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("client: " + e.Op)
	if e.OrderID != "" {
		fmt.Fprintf(&b, " %q", e.OrderID)
	}
	if e.Kind != nil {
		b.WriteString(": " + strings.TrimPrefix(e.Kind.Error(), "client: "))
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
		if e.Type != "" {
			fmt.Fprintf(&b, " %s", e.Type)
		}
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Unwrap returns Kind and Err.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Retryable reports whether repeating the same command with the same order
// id may succeed: after ErrTimeout, ErrUnavailable or ErrRateLimited (wait
// Error.RetryAfter first). Repeating is always safe: the engine answers a
// repeat with its first answer.
func Retryable(err error) bool {
	return errors.Is(err, ErrTimeout) || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrRateLimited)
}

// ctxError is the error of a call whose context ended before its answer.
func ctxError(op, orderID string, err error) *Error {
	return &Error{Op: op, OrderID: orderID, Kind: ErrTimeout, Err: err}
}

// isCtxErr reports whether err is a context's.
func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// AsAPIError turns an error of Submit into the contract's errors the HTTP
// API answers with (an engine submitting on an HTTP caller's behalf):
// timeout, invalid as it is, anything else unavailable.
func AsAPIError(err error, timeout time.Duration, cmd contract.OrderCommand) error {
	switch {
	case err == nil, errors.Is(err, ErrInvalid):
		return err
	case errors.Is(err, ErrTimeout):
		return fmt.Errorf("%w after %s (order %s, %s)", contract.ErrTimeout, timeout, cmd.OrderID, cmd.Type)
	}
	return fmt.Errorf("%w: %v", contract.ErrUnavailable, err)
}
