package inventory

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/state"
	"github.com/stocksync/stocksync/topology"
)

// State is an order's state.
type State string

// Order states.
const (
	Pending   State = "pending" // a reserve waiting for other partitions' holds and its id's claim
	Reserved  State = "reserved"
	Rejected  State = "rejected" // refused; kept so a repeat gets the same answer
	Confirmed State = "confirmed"
	Released  State = "released"
	Expired   State = "expired"
	Shipped   State = "shipped"
)

// final reports whether no command changes the order any more.
func (s State) final() bool { return s == Released || s == Shipped || s == Expired || s == Rejected }

// order is the value of an order's key at its route partition.
type order struct {
	ID        string `json:"id"`
	State     State  `json:"state"`
	Route     string `json:"route"` // the route SKU
	Channel   string `json:"channel,omitempty"`
	TTLS      int64  `json:"ttl_s"`
	Digest    uint64 `json:"digest"` // of the reserve body: same id, other body is a conflict
	ExpiresAt int64  `json:"expires_at"`
	// FinishedAt is when the order reached a final state (released,
	// shipped, expired), unix ms; it leaves the table Retention later.
	FinishedAt int64       `json:"finished_at,omitempty"`
	Lines      []orderLine `json:"lines"`
	// Answer is the reserve's answer, stored with the first request's id:
	// a repeat of the reserve gets it with its own.
	Answer contract.OrderResult `json:"answer"`
	// Waiting is set while the order waits for other partitions: a
	// reserve's holds and claim, or a step's settlements.
	Waiting *waiting `json:"waiting,omitempty"`
	// Claimed: the order id's partition (another than the route's) holds
	// the id for this body, so a rejection gives it back.
	Claimed bool `json:"claimed,omitempty"`
}

// waiting is a step an order waits on other partitions for.
type waiting struct {
	Step     string           `json:"step"`     // reserve, confirm, release or ship
	Answers  int              `json:"answers"`  // still to come
	Requests []string         `json:"requests"` // the request ids to answer once decided
	Failure  *contract.Reason `json:"failure,omitempty"`
}

type orderLine struct {
	SKU       string `json:"sku"`
	Qty       int64  `json:"qty"`
	Requested string `json:"requested,omitempty"` // the location the reserve named, if any
	Location  string `json:"location"`            // where it was placed
}

// dirEntry is the value of an order id's key at the order id's partition:
// where the order lives, and which body the id was accepted with.
type dirEntry struct {
	Route    string                  `json:"route"`
	Digest   uint64                  `json:"digest"`
	Accepted *contract.AcceptedOrder `json:"accepted"`
	// Rejected: the order was refused; the entry only leads lookups by id
	// to it, and the id is free for another body.
	Rejected bool `json:"rejected,omitempty"`
}

func (o *order) accepted() *contract.AcceptedOrder {
	a := &contract.AcceptedOrder{Channel: o.Channel, TTLS: o.TTLS, Lines: make([]contract.Line, len(o.Lines))}
	for i, l := range o.Lines {
		a.Lines[i] = contract.Line{SKU: l.SKU, Qty: l.Qty, Location: l.Requested}
	}
	return a
}

func (o *order) placed() []contract.Line {
	out := make([]contract.Line, len(o.Lines))
	for i, l := range o.Lines {
		out[i] = contract.Line{SKU: l.SKU, Qty: l.Qty, Location: l.Location}
	}
	return out
}

func (o *order) view() contract.OrderView {
	v := contract.OrderView{OrderID: o.ID, State: string(o.State), Channel: o.Channel, Lines: o.placed()}
	switch o.State {
	case Reserved:
		v.ExpiresAt = time.UnixMilli(o.ExpiresAt).UTC().Format(time.RFC3339Nano)
	case Rejected:
		v.Error = o.Answer.Error
	}
	return v
}

// digest identifies a reserve body (lines as requested, channel, ttl).
// Stored orders keep their digest, so the bytes hashed must never change:
// channel|ttl, then |sku NUL location NUL qty per line (written with
// fmt.Fprintf before; appended here without its allocations).
func digest(c contract.OrderCommand) uint64 {
	var buf [256]byte
	b := append(buf[:0], c.Channel...)
	b = append(b, '|')
	b = strconv.AppendInt(b, c.TTLS, 10)
	for _, l := range c.Lines {
		b = append(b, '|')
		b = append(b, l.SKU...)
		b = append(b, 0)
		b = append(b, l.Location...)
		b = append(b, 0)
		b = strconv.AppendInt(b, l.Qty, 10)
	}
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// FindOrder looks an order up by id in the stores served here (store gives
// a partition's, nil when not served): at the order id's partition, either
// the order itself or its directory entry naming its route.
func FindOrder(store func(int32) *state.Partition, partitions int32, id string) (*contract.OrderView, error) {
	d := store(topology.PartitionOf(id, partitions))
	if d == nil {
		return nil, fmt.Errorf("%w: order %q's directory partition is not served here", contract.ErrUnavailable, id)
	}
	read := func(st *state.Partition) (*contract.OrderView, error) {
		v, err := st.Get([]byte(orderKey(id)))
		if err != nil || v == nil {
			return nil, err
		}
		o, err := decodeOrder(v)
		if err != nil {
			return nil, err
		}
		view := o.view()
		return &view, nil
	}
	if v, err := read(d); err != nil || v != nil {
		return v, err
	}
	raw, err := d.Get([]byte(dirKey(id)))
	if err != nil || raw == nil {
		return nil, err
	}
	e, err := decodeDir(raw)
	if err != nil {
		return nil, fmt.Errorf("inventory: directory entry of order %q: %w", id, err)
	}
	home := store(topology.PartitionOf(e.Route, partitions))
	if home == nil {
		return nil, fmt.Errorf("%w: order %q lives at a partition not served here", contract.ErrUnavailable, id)
	}
	return read(home)
}
