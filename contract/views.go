package contract

import (
	"errors"
	"fmt"
)

// StockView is the answer of GET /v1/stock/{sku}.
type StockView struct {
	SKU       string         `json:"sku"`
	OnHand    int64          `json:"on_hand"`
	Reserved  int64          `json:"reserved"`
	Committed int64          `json:"committed"`
	Available int64          `json:"available"`
	Locations []LocationView `json:"locations"`
	// Channels maps each configured channel to its available-to-sell.
	Channels map[string]int64 `json:"channels"`
	// Shortage is true when some location holds less than its reservations.
	Shortage bool `json:"shortage,omitempty"`
}

// LocationView is one location's quantities of a SKU.
type LocationView struct {
	Location  string `json:"location"`
	OnHand    int64  `json:"on_hand"`
	Reserved  int64  `json:"reserved"`
	Committed int64  `json:"committed"`
	Available int64  `json:"available"`
	// Versions is the last snapshot version applied at the location from
	// each source (reconciliation tells a stale export by it); absent
	// before the first snapshot.
	Versions map[string]int64 `json:"versions,omitempty"`
}

// OrderView is the answer of GET /v1/orders/{order_id}.
type OrderView struct {
	OrderID   string  `json:"order_id"`
	State     string  `json:"state"` // StatePending or a Status* constant
	Channel   string  `json:"channel,omitempty"`
	Lines     []Line  `json:"lines"`
	ExpiresAt string  `json:"expires_at,omitempty"` // RFC 3339, while reserved
	Error     *Reason `json:"error,omitempty"`
}

// LocationInfo is one entry of GET /v1/locations.
type LocationInfo struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // warehouse | darkstore | store
}

// ChannelInfo is one entry of GET /v1/channels.
type ChannelInfo struct {
	Name        string      `json:"name"`
	Marketplace string      `json:"marketplace"`
	Mode        ChannelMode `json:"mode"`
	Circuit     Circuit     `json:"circuit"`
	Pending     int64       `json:"pending"`
	LastAckAt   string      `json:"last_ack_at,omitempty"`
	// LastError is the newest failure of a push to the marketplace (on this
	// instance), LastErrorAt when it happened (RFC 3339).
	LastError   string `json:"last_error,omitempty"`
	LastErrorAt string `json:"last_error_at,omitempty"`
}

// ChannelMode is how a channel's values reach its marketplace
// (ChannelInfo.Mode, POST /v1/channels/{name}/mode).
type ChannelMode string

const (
	ModeAuto   ChannelMode = "auto"   // pushed as they change; the default
	ModeManual ChannelMode = "manual" // nothing pushed: values are kept for an operator's upload
)

// Validate returns a *InvalidError unless m is ModeAuto or ModeManual.
func (m ChannelMode) Validate() error {
	if m != ModeAuto && m != ModeManual {
		return &InvalidError{Field: "mode", Reason: fmt.Sprintf("%q is not one of %s, %s", string(m), ModeManual, ModeAuto)}
	}
	return nil
}

// Circuit is the state of the circuit breaker in front of a channel's
// marketplace (ChannelInfo.Circuit).
type Circuit string

const (
	CircuitClosed   Circuit = "closed"    // pushes go out
	CircuitOpen     Circuit = "open"      // the marketplace kept failing: no push for a pause
	CircuitHalfOpen Circuit = "half-open" // the pause is over: one probe push decides
	CircuitNone     Circuit = "none"      // no sink on this instance yet
)

// FeedStatus is FeedAnswer.Status.
type FeedStatus string

const (
	FeedApplied  FeedStatus = "applied"  // the engine's table shows the change
	FeedAccepted FeedStatus = "accepted" // durably queued, not yet applied
)

// FeedAnswer is the answer to an HTTP snapshot or adjust.
type FeedAnswer struct {
	Status FeedStatus `json:"status"`
	// Ignored is true for a snapshot whose version was not newer than the
	// last one applied for that source and location, or an adjust id seen before.
	Ignored bool       `json:"ignored,omitempty"`
	Stock   *StockView `json:"stock,omitempty"`
}

// Errors the engine returns to the API; the API maps them to HTTP statuses.
var (
	// ErrNotFound is returned for a SKU or order the engine has no record of.
	ErrNotFound = errors.New("contract: not found")
	// ErrUnavailable is returned while the engine cannot answer for a key
	// (starting, recovering tables, partitions moving); retry shortly.
	ErrUnavailable = errors.New("contract: temporarily unavailable")
	// ErrTimeout is returned when a command was queued but its answer did not
	// arrive in time; the command may still take effect: repeat it with the
	// same order id to learn its outcome.
	ErrTimeout = errors.New("contract: timed out waiting for the engine's answer")
)

// NotOwnerError is returned for a key whose partition another instance owns;
// Owner is that instance's advertised base URL (e.g. http://10.0.0.7:8080).
// The API forwards the request there.
type NotOwnerError struct {
	Key       string
	Partition int32
	Owner     string
}

func (e *NotOwnerError) Error() string {
	return fmt.Sprintf("contract: partition %d of key %q is owned by %s", e.Partition, e.Key, e.Owner)
}

// ChannelStockView is the answer of GET /v1/channels/{name}/stock/{sku}.
type ChannelStockView struct {
	Channel             string `json:"channel"`
	SKU                 string `json:"sku"`
	Projected           int64  `json:"projected"`    // the channel's available-to-sell now
	Acknowledged        int64  `json:"acknowledged"` // the last value the marketplace acknowledged
	AcknowledgedAt      string `json:"acknowledged_at,omitempty"`
	Version             int64  `json:"version"` // of the projected value
	AcknowledgedVersion int64  `json:"acknowledged_version"`
	Parked              string `json:"parked,omitempty"` // why the projected value sits in the DLQ
}

// PendingValue is a value a channel's marketplace has not acknowledged yet
// (GET /v1/channels/{name}/pending).
type PendingValue struct {
	SKU       string `json:"sku"`
	Available int64  `json:"available"` // what the marketplace should show
	Version   int64  `json:"version"`
	Since     string `json:"since"` // RFC 3339: when this value was projected
	Attempts  int    `json:"attempts"`
	LastError string `json:"last_error,omitempty"`
}
