// Package contract holds the public messages of stocksync (DESIGN.md "Public
// contract (v1)"): the JSON on orders.commands, orders.results, stock.feed and
// channel.stock, and the rules every message from outside must pass. HTTP and
// Kafka decode through the same functions, so both refuse the same input.
package contract

// Order command types on orders.commands.
const (
	Reserve = "reserve"
	Confirm = "confirm"
	Release = "release"
	Ship    = "ship"
	// Expire is sent by the engine's own sweeper, never by order services.
	Expire = "expire"
)

// Result statuses on orders.results. An order's state (OrderView.State) is
// the status of its last result, or StatePending before its reserve is
// decided.
const (
	StatusReserved  = "reserved"
	StatusRejected  = "rejected"
	StatusConfirmed = "confirmed"
	StatusReleased  = "released"
	StatusShipped   = "shipped"
	StatusExpired   = "expired"

	// StatePending is an order's state while its reserve is being decided;
	// no result has it.
	StatePending = "pending"
)

// Feed message types on stock.feed.
const (
	Snapshot = "snapshot"
	Adjust   = "adjust"
)

// Line is one SKU of an order. Location is optional on reserve: without it the
// engine picks one of the channel's locations; results always name it.
type Line struct {
	SKU      string `json:"sku"`
	Qty      int64  `json:"qty"`
	Location string `json:"location,omitempty"`
}

// OrderCommand is a message on orders.commands (key order_id).
type OrderCommand struct {
	Type    string `json:"type"`
	OrderID string `json:"order_id"`
	Lines   []Line `json:"lines,omitempty"`
	Channel string `json:"channel,omitempty"`
	TTLS    int64  `json:"ttl_s,omitempty"`
	// RequestID names this one request, so its answer can be told from the
	// answer to another command with the same order id (a concurrent
	// reserve with another body, a replay after a fault). Optional; the Go
	// clients and the HTTP API always set one. On Kafka it may also come as
	// the header HeaderRequestID; the JSON field wins.
	RequestID string `json:"request_id,omitempty"`
}

// HeaderRequestID is the Kafka header that may carry a command's request id
// (for producers that cannot change the JSON); results carry it back in the
// same header as well as in their "request_id" field.
const HeaderRequestID = "stocksync-request-id"

// OrderResult is a message on orders.results (key order_id) and the body of
// the HTTP answers to order writes.
type OrderResult struct {
	OrderID string `json:"order_id"`
	// RequestID is the request id of the command this answers, "" for a
	// command that had none and for the engine's own expiries.
	RequestID string  `json:"request_id,omitempty"`
	Type      string  `json:"type"`
	Status    string  `json:"status"`
	Lines     []Line  `json:"lines,omitempty"`
	Error     *Reason `json:"error,omitempty"`
	// ExpiresAt is the reservation's expiry (RFC 3339) on a reserved answer.
	ExpiresAt string `json:"expires_at,omitempty"`
}

// Reason says why a command was refused. Type is one of the Err* constants.
type Reason struct {
	Type      string `json:"type"`
	Message   string `json:"message,omitempty"`
	SKU       string `json:"sku,omitempty"`
	Location  string `json:"location,omitempty"`
	Requested int64  `json:"requested,omitempty"`
	Available *int64 `json:"available,omitempty"`
	State     string `json:"state,omitempty"`
	// Accepted is, on a conflict, the reserve the order id was accepted
	// with: its lines, channel and ttl_s.
	Accepted *AcceptedOrder `json:"accepted,omitempty"`
}

// AcceptedOrder is the body an order id was first reserved with.
type AcceptedOrder struct {
	Lines   []Line `json:"lines"`
	Channel string `json:"channel,omitempty"`
	TTLS    int64  `json:"ttl_s"`
}

// Reason types of refused commands.
const (
	ErrInsufficientStock = "insufficient_stock" // a line asks for more than is available
	ErrUnknownLocation   = "unknown_location"   // a line names a location the engine does not know
	ErrUnknownOrder      = "unknown_order"      // confirm/release/ship for an order never reserved
	ErrInvalidTransition = "invalid_transition" // e.g. ship before confirm, confirm after release
	ErrConflict          = "conflict"           // same order id, different reserve body
	ErrExpired           = "expired"            // the reservation's TTL passed
	ErrUnknownChannel    = "unknown_channel"    // a reserve names a channel that is not configured
	ErrPending           = "pending"            // the order's reserve is still being decided; retry
)

// FeedMessage is a message on stock.feed (key SKU): a snapshot from a source
// of truth, or an adjustment.
type FeedMessage struct {
	Type     string `json:"type"`
	SKU      string `json:"sku"`
	Location string `json:"location"`
	// Snapshot fields.
	OnHand  *int64 `json:"on_hand,omitempty"`
	Source  string `json:"source,omitempty"`
	Version int64  `json:"version,omitempty"`
	// Adjust fields.
	Delta  int64  `json:"delta,omitempty"`
	Reason string `json:"reason,omitempty"`
	ID     string `json:"id,omitempty"`
}

// ChannelStock is a message on channel.stock (key SKU).
type ChannelStock struct {
	Channel   string `json:"channel"`
	SKU       string `json:"sku"`
	Available int64  `json:"available"`
	Version   int64  `json:"version"`
}
