package inventory

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/stocksync/stocksync/topology"
)

// Repartition places the engine table's content, given by partition as the
// table holds it, where it belongs with `to` partitions (docs/operations.md,
// "Growing the partitions"):
//   - a SKU's ledger and push state at the SKU's partition;
//   - an order at its route SKU's; where a refused body's order and the
//     accepted one of the same id now meet, the accepted one stays;
//   - an order id's directory entry at the id's partition; an order that
//     was its own entry (its home was its id's partition) and now is not
//     gets one;
//   - an order's held lines split by the partitions their SKUs now fall in
//     (lines now at the order's home need no hold: the home settles them).
//
// The messages between partitions must have drained: an order waiting for
// one has nothing to wait for in the new partitioning. Such orders are
// placed all the same and counted in waiting: a copy made while the old
// partitioning serves has them, the one made once it is fenced and drained
// must not.
func Repartition(from []map[string][]byte, to int32) (_ []map[string][]byte, waiting int, _ error) {
	out := make([]map[string][]byte, to)
	for i := range out {
		out[i] = map[string][]byte{}
	}
	n := int32(len(from))
	part := func(key string) int32 { return topology.PartitionOf(key, to) }
	own := map[string]*order{} // orders that were their id's own entry, by id
	anyOrder := map[string]*order{}
	holds := map[int32]map[string]*hold{}
	for old, kvs := range from {
		for k, v := range kvs {
			switch {
			case !strings.HasPrefix(k, "\x00"):
				out[part(k)][k] = v
			case strings.HasPrefix(k, channelsPrefix):
				out[part(k[len(channelsPrefix):])][k] = v
			case strings.HasPrefix(k, dirPrefix):
				out[part(k[len(dirPrefix):])][k] = v
			case strings.HasPrefix(k, orderPrefix):
				o, err := decodeOrder(v)
				if err != nil {
					return nil, 0, fmt.Errorf("partition %d, order %q: %w", old, k[len(orderPrefix):], err)
				}
				if o.Waiting != nil {
					waiting++
				}
				home := part(o.Route)
				if cur, ok := out[home][k]; ok && o.State == Rejected {
					if c, err := decodeOrder(cur); err == nil && c.State != Rejected {
						continue // the accepted body's order stays
					}
				}
				out[home][k] = v
				if a := anyOrder[o.ID]; a == nil || a.State == Rejected {
					anyOrder[o.ID] = o
				}
				if o.State != Rejected && topology.PartitionOf(o.ID, n) == int32(old) {
					own[o.ID] = o
				}
			case strings.HasPrefix(k, holdPrefix):
				var h hold
				if err := json.Unmarshal(v, &h); err != nil {
					return nil, 0, fmt.Errorf("partition %d, hold of order %q: %w", old, k[len(holdPrefix):], err)
				}
				home := part(h.Route)
				for _, l := range h.Lines {
					q := part(l.SKU)
					if q == home {
						continue
					}
					if holds[q] == nil {
						holds[q] = map[string]*hold{}
					}
					nh := holds[q][k]
					if nh == nil {
						nh = &hold{Route: h.Route, Until: h.Until, Confirmed: h.Confirmed}
						holds[q][k] = nh
					}
					nh.Lines = append(nh.Lines, l)
				}
			default:
				return nil, 0, fmt.Errorf("partition %d: key %q is of a kind this build does not know; use the stocksync that wrote the table", old, k)
			}
		}
	}
	for id, o := range anyOrder {
		d := part(id)
		if d == part(o.Route) {
			continue
		}
		if a := own[id]; a != nil { // it held the id itself: an entry now says so
			out[d][dirKey(id)] = (&dirEntry{Route: a.Route, Digest: a.Digest, Accepted: a.accepted()}).encode()
		} else if _, ok := out[d][dirKey(id)]; !ok { // lead lookups by id to it
			out[d][dirKey(id)] = (&dirEntry{Route: o.Route, Digest: o.Digest, Accepted: o.accepted(), Rejected: o.State == Rejected}).encode()
		}
	}
	for q, byKey := range holds {
		for k, h := range byKey {
			slices.SortFunc(h.Lines, func(a, b orderLine) int { return strings.Compare(a.SKU, b.SKU) })
			out[q][k] = mustJSON(h)
		}
	}
	return out, waiting, nil
}
