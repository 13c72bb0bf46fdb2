// Package stock is the per-SKU ledger of the inventory processor: each
// location's on_hand, reserved and committed units, the reservations that hold
// them, the snapshot versions applied per source, and the recent command ids
// that make every command take effect once. It decides every reserve and is
// pure: no Kafka, no clock; the processor feeds it decoded messages.
package stock

import (
	"slices"
	"sort"
)

// Reservation states.
const (
	Held      = 0 // reserved: counts in Location.Reserved, expires
	Committed = 1 // confirmed: counts in Location.Committed until shipped
)

// Remembered ids: a redelivered command is recognised among the SKU's last
// RecentOrders finished orders and last RecentAdjusts adjust ids. Redeliveries
// come from crash replays and client retries, both seconds apart.
const (
	RecentOrders  = 64
	RecentAdjusts = 64
)

// SKU is the ledger of one SKU: the value of the inventory table.
type SKU struct {
	Locations    []Location    // sorted by Name
	Reservations []Reservation // active ones, sorted by OrderID
	Finished     []string      // ids of recently finished orders, oldest first
	Adjusts      []string      // ids of recent adjusts, oldest first
	Seq          int64         // bumped on every change: the version of stock.changes
}

// Location is one location's quantities of a SKU.
type Location struct {
	Name      string
	OnHand    int64
	Reserved  int64
	Committed int64
	Versions  []SourceVersion // last snapshot version applied per source
}

// SourceVersion is the last snapshot version applied from one source.
type SourceVersion struct {
	Source  string
	Version int64
}

// Reservation holds units of one location for one order.
type Reservation struct {
	OrderID   string
	Location  string
	Qty       int64
	State     uint8 // Held or Committed
	ExpiresAt int64 // unix ms; the orders processor expires it
}

// Available is on_hand − reserved − committed (negative during a shortage).
func (l *Location) Available() int64 { return l.OnHand - l.Reserved - l.Committed }

// Short is how many units the location lacks for what it has promised.
func (l *Location) Short() int64 {
	if s := l.Reserved + l.Committed - l.OnHand; s > 0 {
		return s
	}
	return 0
}

// Location returns the named location, or nil.
func (s *SKU) Location(name string) *Location {
	i, ok := slices.BinarySearchFunc(s.Locations, name, func(l Location, n string) int { return cmpStr(l.Name, n) })
	if !ok {
		return nil
	}
	return &s.Locations[i]
}

// availableAt is the SKU's availability at a location, 0 where it has none.
func (s *SKU) availableAt(location string) int64 {
	if l := s.Location(location); l != nil {
		return l.Available()
	}
	return 0
}

// location returns the named location, adding it when missing.
func (s *SKU) location(name string) *Location {
	i, ok := slices.BinarySearchFunc(s.Locations, name, func(l Location, n string) int { return cmpStr(l.Name, n) })
	if !ok {
		s.Locations = slices.Insert(s.Locations, i, Location{Name: name})
	}
	return &s.Locations[i]
}

// Reservation returns the order's active reservation, or nil.
func (s *SKU) Reservation(orderID string) *Reservation {
	i, ok := s.findReservation(orderID)
	if !ok {
		return nil
	}
	return &s.Reservations[i]
}

func (s *SKU) findReservation(orderID string) (int, bool) {
	return slices.BinarySearchFunc(s.Reservations, orderID, func(r Reservation, id string) int { return cmpStr(r.OrderID, id) })
}

// Totals sums the quantities over all locations.
func (s *SKU) Totals() (onHand, reserved, committed int64) {
	for i := range s.Locations {
		onHand += s.Locations[i].OnHand
		reserved += s.Locations[i].Reserved
		committed += s.Locations[i].Committed
	}
	return
}

func (s *SKU) finished(orderID string) bool { return slices.Contains(s.Finished, orderID) }

func (s *SKU) finish(orderID string) {
	i, _ := s.findReservation(orderID)
	s.Reservations = slices.Delete(s.Reservations, i, i+1)
	s.Finished = remember(s.Finished, orderID, RecentOrders)
}

func remember(ids []string, id string, limit int) []string {
	if len(ids) >= limit {
		ids = slices.Delete(ids, 0, len(ids)-limit+1)
	}
	return append(ids, id)
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sortedNames returns names sorted, for deterministic choices.
func sortedNames(names []string) []string {
	out := slices.Clone(names)
	sort.Strings(out)
	return out
}

// Clone returns a deep copy of s, to decide on without touching s.
func (s *SKU) Clone() *SKU {
	c := &SKU{Seq: s.Seq, Locations: make([]Location, len(s.Locations)),
		Reservations: slices.Clone(s.Reservations), Finished: slices.Clone(s.Finished), Adjusts: slices.Clone(s.Adjusts)}
	for i, l := range s.Locations {
		l.Versions = slices.Clone(l.Versions)
		c.Locations[i] = l
	}
	return c
}
