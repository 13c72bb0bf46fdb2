package stock

// Command types on stock.commands (contract's order command types reused).
const (
	CmdReserve = "reserve"
	CmdConfirm = "confirm"
	CmdRelease = "release"
	CmdShip    = "ship"
	// CmdExpire releases a reservation only while it is still held: a
	// confirmed order no longer expires.
	CmdExpire = "expire"
)

// Command is a message on stock.commands (key SKU): one order line, sent by
// the orders processor to the SKU's single writer.
type Command struct {
	Type      string `json:"type"`
	OrderID   string `json:"order_id"`
	SKU       string `json:"sku"`
	Qty       int64  `json:"qty,omitempty"`
	Location  string `json:"location,omitempty"`
	Channel   string `json:"channel,omitempty"`
	ExpiresAt int64  `json:"expires_at,omitempty"` // unix ms
	At        int64  `json:"at,omitempty"`         // unix ms the order command was accepted
}

// Reply is a message on stock.replies (key order_id): the inventory's answer
// to one line of a reserve, or its acknowledgement that it applied a confirm,
// release or ship.
type Reply struct {
	Type      string `json:"type,omitempty"` // the command answered; "" is reserve
	OrderID   string `json:"order_id"`
	SKU       string `json:"sku"`
	OK        bool   `json:"ok"`
	Location  string `json:"location,omitempty"`
	Qty       int64  `json:"qty"`
	Error     string `json:"error,omitempty"` // a contract.Err* reason type
	Available int64  `json:"available"`       // on a refusal: the most any candidate location had
}

// Change is a message on stock.changes (key SKU): the SKU's quantities after
// a change, for the channels processor and the query API's listeners.
type Change struct {
	SKU       string        `json:"sku"`
	Seq       int64         `json:"seq"`
	Locations []LocationQty `json:"locations"`
	Cause     string        `json:"cause"` // the command or feed type that changed it
	At        int64         `json:"at"`    // unix ms the cause entered the engine
}

// LocationQty is one location's quantities in a Change.
type LocationQty struct {
	Location  string `json:"location"`
	OnHand    int64  `json:"on_hand"`
	Reserved  int64  `json:"reserved"`
	Committed int64  `json:"committed"`
	Available int64  `json:"available"`
}

// Shortage is a message on stock.shortages (key SKU): a location holds fewer
// units than it has promised (DESIGN.md invariant 1: never a silent negative).
type Shortage struct {
	SKU       string `json:"sku"`
	Location  string `json:"location"`
	OnHand    int64  `json:"on_hand"`
	Reserved  int64  `json:"reserved"`
	Committed int64  `json:"committed"`
	Short     int64  `json:"short"`
	Cause     string `json:"cause"`
}

// Change builds the stock.changes message for the SKU's current state.
func (s *SKU) Change(sku, cause string, at int64) Change {
	c := Change{SKU: sku, Seq: s.Seq, Cause: cause, At: at, Locations: make([]LocationQty, len(s.Locations))}
	for i := range s.Locations {
		l := &s.Locations[i]
		c.Locations[i] = LocationQty{Location: l.Name, OnHand: l.OnHand, Reserved: l.Reserved, Committed: l.Committed, Available: l.Available()}
	}
	return c
}
