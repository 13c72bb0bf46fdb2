// Package client is the Go client order services use to reserve, confirm,
// release and ship orders in stocksync (see docs/api.md), over Kafka or over
// the HTTP API; both clients have the same methods and the same answers.
//
//	c, err := client.NewKafka(ctx, client.KafkaConfig{Brokers: []string{"kafka:9092"}})
//	res, err := c.Reserve(ctx, "o-1", []contract.Line{{SKU: "A", Qty: 2}}, "web", 15*time.Minute)
//	switch {
//	case err != nil:                            // transport, timeout, auth: see the Err* sentinels
//	case res.Status == contract.StatusRejected: // res.Error says why (insufficient_stock, conflict, …)
//	default:                                    // reserved: res.Lines name the locations, res.ExpiresAt the expiry
//	}
//
// Every call waits for the engine's decision. The order id is the
// idempotency key: repeating a command with the same id returns the first
// answer, so a call that failed with a Retryable error can be repeated as
// is; a reserve with the same id and different lines is rejected with the
// reason "conflict".
package client

import (
	"time"

	"github.com/stocksync/stocksync/contract"
)

// command builds and validates an order command. A reserve's ttl is rounded
// up to whole seconds; 0 takes the engine's default (contract.DefaultTTLS,
// 15 minutes).
func command(typ, orderID string, lines []contract.Line, channel string, ttl time.Duration) (contract.OrderCommand, error) {
	c := contract.OrderCommand{Type: typ, OrderID: orderID}
	if typ == contract.Reserve {
		c.Lines, c.Channel = lines, channel
		switch {
		case ttl < 0:
			c.TTLS = -1 // refused by Validate
		case ttl > 0:
			c.TTLS = int64((ttl + time.Second - 1) / time.Second)
		}
	}
	if err := c.Validate(); err != nil {
		return c, &Error{Op: typ, OrderID: orderID, Kind: ErrInvalid, Err: err}
	}
	return c, nil
}
