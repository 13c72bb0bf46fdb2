package fraud

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/stocksync/stocksync/contract"
)

// EventType is the "type" of an event on the returns, loyalty and sales
// topics.
type EventType string

// The event types, each with the topic that carries it.
const (
	TypeReturn     EventType = "return"     // <prefix>returns
	TypeAccrual    EventType = "accrual"    // <prefix>loyalty
	TypeRedemption EventType = "redemption" // <prefix>loyalty
	TypeSale       EventType = "sale"       // <prefix>sales
)

// Event is one message of the returns, loyalty or sales topic, keyed by
// customer_id (docs/fraud.md "Events"). Which fields are required depends
// on Type; the id field is return_id, event_id or sale_id.
type Event struct {
	Type       EventType `json:"type"`
	ReturnID   string    `json:"return_id,omitempty"`  // return: unique id of the returned line
	EventID    string    `json:"event_id,omitempty"`   // accrual, redemption: unique id
	SaleID     string    `json:"sale_id,omitempty"`    // sale: unique id of the sold line
	Store      string    `json:"store"`                // required
	Cashier    string    `json:"cashier"`              // required for returns and sales; loyalty: optional
	CustomerID string    `json:"customer_id"`          // required; the message key
	SKU        string    `json:"sku,omitempty"`        // return, sale: required
	Qty        int64     `json:"qty,omitempty"`        // return, sale: > 0
	Amount     float64   `json:"amount,omitempty"`     // return, sale: money refunded or paid, ≥ 0
	Reason     string    `json:"reason,omitempty"`     // return: free text, optional
	Points     int64     `json:"points,omitempty"`     // accrual, redemption: > 0
	ReceiptID  string    `json:"receipt_id,omitempty"` // the sale's receipt; a return without one has no matching sale
	TS         time.Time `json:"ts"`                   // when it happened, RFC 3339; required
}

// ID is the event's unique id: return_id, event_id or sale_id.
func (e *Event) ID() string {
	switch e.Type {
	case TypeReturn:
		return e.ReturnID
	case TypeSale:
		return e.SaleID
	}
	return e.EventID
}

// Kind says which topic an event belongs on.
type Kind int

// The input topics.
const (
	KindReturns Kind = iota
	KindLoyalty
	KindSales
)

func (k Kind) String() string { return [...]string{"returns", "loyalty", "sales"}[k] }

// maxAmount bounds an amount: larger is a unit mistake, not a refund.
const maxAmount = 1e9

// DecodeEvent decodes and validates one event of kind. Unknown fields, a
// type that does not belong on the topic and missing or out-of-range fields
// are a *contract.InvalidError naming the field.
func DecodeEvent(kind Kind, data []byte) (Event, error) {
	var e Event
	if err := contract.DecodeStrict(data, &e); err != nil {
		return Event{}, err
	}
	return e, e.Validate(kind)
}

// Validate checks e as an event of the topic of kind.
func (e *Event) Validate(kind Kind) error {
	bad := func(field, format string, args ...any) error {
		return &contract.InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case kind == KindReturns && e.Type != TypeReturn:
		return bad("type", "%q does not belong on the returns topic; want \"return\"", e.Type)
	case kind == KindLoyalty && e.Type != TypeAccrual && e.Type != TypeRedemption:
		return bad("type", "%q does not belong on the loyalty topic; want \"accrual\" or \"redemption\"", e.Type)
	case kind == KindSales && e.Type != TypeSale:
		return bad("type", "%q does not belong on the sales topic; want \"sale\"", e.Type)
	}
	idField := map[EventType]string{TypeReturn: "return_id", TypeSale: "sale_id"}[e.Type]
	if idField == "" {
		idField = "event_id"
	}
	var errs []error
	check := func(field, v string, required bool) {
		if v == "" && !required {
			return
		}
		if err := contract.CheckKey(field, v); err != nil {
			errs = append(errs, err)
		}
	}
	check(idField, e.ID(), true)
	check("customer_id", e.CustomerID, true)
	check("store", e.Store, true)
	check("cashier", e.Cashier, e.Type == TypeReturn || e.Type == TypeSale)
	check("receipt_id", e.ReceiptID, false)
	if e.TS.IsZero() {
		errs = append(errs, bad("ts", "is required, an RFC 3339 time such as 2026-12-01T10:00:00Z"))
	}
	switch e.Type {
	case TypeReturn, TypeSale:
		check("sku", e.SKU, true)
		if e.Qty <= 0 {
			errs = append(errs, bad("qty", "%d must be above 0", e.Qty))
		}
		if math.IsNaN(e.Amount) || e.Amount < 0 || e.Amount > maxAmount {
			errs = append(errs, bad("amount", "%g is outside 0..%g", e.Amount, float64(maxAmount)))
		}
		if e.Points != 0 {
			errs = append(errs, bad("points", "belongs to loyalty events, not to a %s", e.Type))
		}
	default:
		if e.Points <= 0 {
			errs = append(errs, bad("points", "%d must be above 0", e.Points))
		}
		if e.SKU != "" || e.Qty != 0 || e.Amount != 0 {
			errs = append(errs, bad("sku", "sku, qty and amount belong to returns and sales, not to a %s", e.Type))
		}
	}
	return errors.Join(errs...)
}
