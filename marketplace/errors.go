package marketplace

import (
	"errors"
	"fmt"
	"time"
)

// ErrUnknownKind is returned by New and DefaultLimits for a kind other than
// ozon, wildberries, yandex or webhook.
var ErrUnknownKind = errors.New("marketplace: unknown kind")

// ErrBatchTooLarge is wrapped by the *RejectedError that Push returns for a
// batch longer than Limits().MaxBatch; nothing is sent.
var ErrBatchTooLarge = errors.New("marketplace: batch larger than Limits.MaxBatch")

// ThrottledError says the marketplace refused the request for its rate or
// parallelism limits. Retry the same batch after RetryAfter.
type ThrottledError struct {
	Marketplace string
	// Status is the HTTP status: 429, Yandex's 420, a webhook's 503 with
	// Retry-After; 0 when the adapter held the request back itself because
	// it knows the marketplace's budget is spent (Wildberries' 409 cost,
	// Yandex's offers quota).
	Status int
	// RetryAfter is how long to wait, from Retry-After, X-Ratelimit-Retry,
	// X-RateLimit-Resource-Until or the marketplace's documented rule;
	// 0 if unknown: back off with jitter.
	RetryAfter time.Duration
	Reason     string // the marketplace's code and message
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%s: throttled (%s), retry after %s: %s", e.Marketplace, status(e.Status), e.RetryAfter, e.Reason)
}

// UnavailableError says the marketplace did not answer usefully: a 5xx,
// 408, a refused connection, a timeout, an unreadable success body. Retry.
type UnavailableError struct {
	Marketplace string
	Status      int // HTTP status; 0 when there was no answer
	Reason      string
	Err         error // the transport error, if any
}

func (e *UnavailableError) Error() string {
	msg := fmt.Sprintf("%s: unavailable (%s)", e.Marketplace, status(e.Status))
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// RejectedError says the request itself is wrong (bad credentials, unknown
// warehouse or campaign, malformed body, a batch too large): the same
// request will fail again. Not retryable.
type RejectedError struct {
	Marketplace string
	Status      int // HTTP status; 0 when the adapter refused before sending
	Reason      string
	Err         error // ErrBatchTooLarge, or nil
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("%s: rejected (%s): %s", e.Marketplace, status(e.Status), e.Reason)
}

func (e *RejectedError) Unwrap() error { return e.Err }

// Retryable reports whether err from Push is worth retrying with the same
// batch: a *ThrottledError or an *UnavailableError.
func Retryable(err error) bool {
	var t *ThrottledError
	var u *UnavailableError
	return errors.As(err, &t) || errors.As(err, &u)
}

func status(code int) string {
	if code == 0 {
		return "no HTTP status"
	}
	return fmt.Sprintf("HTTP %d", code)
}
