package stock

import (
	"slices"

	"github.com/stocksync/stocksync/contract"
)

// Effect says what applying a message did.
type Effect struct {
	Changed   bool      // the ledger changed: persist it and emit a Change
	Duplicate bool      // the message had already taken effect; nothing changed
	Stale     bool      // a snapshot older than the last applied one; ignored
	Note      string    // why a command without effect did nothing, for logs
	Shortage  *Shortage // set when a location is left holding less than it promised
}

// Reserve decides a reserve line. It holds the units at the named location, or
// at the candidate location with the most available units, only if that
// location's available covers the quantity (DESIGN.md invariant 1).
func (s *SKU) Reserve(c Command, cat *Catalog) (Reply, Effect) {
	reply := Reply{OrderID: c.OrderID, SKU: c.SKU, Qty: c.Qty}
	if r := s.Reservation(c.OrderID); r != nil {
		reply.OK, reply.Location, reply.Qty = true, r.Location, r.Qty
		if l := s.Location(r.Location); l != nil {
			reply.Available = max(l.Available(), 0)
		}
		return reply, Effect{Duplicate: true}
	}
	if s.finished(c.OrderID) {
		reply.Error = contract.ErrInvalidTransition
		return reply, Effect{Duplicate: true, Note: "reserve for an order that already ended on this SKU"}
	}
	var best *Location
	bestAvail := int64(-1 << 62)
	if c.Location != "" {
		if !cat.Known(c.Location) {
			reply.Error, reply.Location = contract.ErrUnknownLocation, c.Location
			return reply, Effect{}
		}
		best, bestAvail = s.Location(c.Location), 0
		if best != nil {
			bestAvail = best.Available()
		}
		reply.Location = c.Location
	} else {
		for _, name := range cat.Candidates(c.Channel) {
			if l := s.Location(name); l != nil && l.Available() > bestAvail {
				best, bestAvail = l, l.Available()
			}
		}
	}
	if best == nil || bestAvail < c.Qty {
		reply.Error, reply.Available = contract.ErrInsufficientStock, max(bestAvail, 0)
		return reply, Effect{}
	}
	best.Reserved += c.Qty
	i, _ := s.findReservation(c.OrderID)
	s.Reservations = slices.Insert(s.Reservations, i, Reservation{
		OrderID: c.OrderID, Location: best.Name, Qty: c.Qty, State: Held, ExpiresAt: c.ExpiresAt,
	})
	s.Seq++
	reply.OK, reply.Location, reply.Available = true, best.Name, bestAvail-c.Qty
	return reply, Effect{Changed: true}
}

// Confirm turns a held reservation into committed units (no expiry).
func (s *SKU) Confirm(c Command) Effect {
	r := s.Reservation(c.OrderID)
	switch {
	case r == nil:
		return s.missing(c)
	case r.State == Committed:
		return Effect{Duplicate: true}
	}
	l := s.location(r.Location)
	l.Reserved -= r.Qty
	l.Committed += r.Qty
	r.State = Committed
	s.Seq++
	return Effect{Changed: true}
}

// Release ends a reservation, held or committed (an order cancelled after
// confirmation gives its units back too).
func (s *SKU) Release(c Command) Effect {
	r := s.Reservation(c.OrderID)
	if r == nil {
		return s.missing(c)
	}
	l := s.location(r.Location)
	if r.State == Held {
		l.Reserved -= r.Qty
	} else {
		l.Committed -= r.Qty
	}
	s.finish(c.OrderID)
	s.Seq++
	return Effect{Changed: true}
}

// Expire releases a reservation that is still held; a confirmed one stays.
func (s *SKU) Expire(c Command) Effect {
	r := s.Reservation(c.OrderID)
	if r == nil {
		return s.missing(c)
	}
	if r.State != Held {
		return Effect{Note: "expire of a confirmed reservation: kept"}
	}
	return s.Release(c)
}

// Ship takes committed units out of on_hand and ends the reservation.
func (s *SKU) Ship(c Command) Effect {
	r := s.Reservation(c.OrderID)
	if r == nil {
		return s.missing(c)
	}
	if r.State != Committed {
		return Effect{Note: "ship of a reservation that was never confirmed: ignored"}
	}
	l := s.location(r.Location)
	l.Committed -= r.Qty
	l.OnHand -= r.Qty
	s.finish(c.OrderID)
	s.Seq++
	return Effect{Changed: true}
}

func (s *SKU) missing(c Command) Effect {
	if s.finished(c.OrderID) {
		return Effect{Duplicate: true}
	}
	return Effect{Note: c.Type + " for an order with no reservation on this SKU"}
}

// Snapshot sets a location's on_hand from a source of truth if its version is
// newer than the last one applied for that source and location.
func (s *SKU) Snapshot(f contract.FeedMessage) Effect {
	l := s.location(f.Location)
	i := slices.IndexFunc(l.Versions, func(v SourceVersion) bool { return v.Source == f.Source })
	if i >= 0 && f.Version <= l.Versions[i].Version {
		return Effect{Stale: true, Duplicate: f.Version == l.Versions[i].Version}
	}
	if i < 0 {
		l.Versions = append(l.Versions, SourceVersion{Source: f.Source})
		i = len(l.Versions) - 1
	}
	l.Versions[i].Version = f.Version
	l.OnHand = *f.OnHand
	s.Seq++
	return Effect{Changed: true, Shortage: shortage(l, f.SKU, contract.Snapshot)}
}

// Adjust adds a delta to a location's on_hand, once per adjust id.
func (s *SKU) Adjust(f contract.FeedMessage) Effect {
	if slices.Contains(s.Adjusts, f.ID) {
		return Effect{Duplicate: true}
	}
	l := s.location(f.Location)
	l.OnHand += f.Delta
	s.Adjusts = remember(s.Adjusts, f.ID, RecentAdjusts)
	s.Seq++
	return Effect{Changed: true, Shortage: shortage(l, f.SKU, contract.Adjust)}
}

func shortage(l *Location, sku, cause string) *Shortage {
	if l.Short() == 0 {
		return nil
	}
	return &Shortage{SKU: sku, Location: l.Name, OnHand: l.OnHand, Reserved: l.Reserved,
		Committed: l.Committed, Short: l.Short(), Cause: cause}
}
