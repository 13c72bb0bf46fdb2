package soak

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
)

// Check is the verdict of one property over the whole history.
type Check struct {
	Name       string `json:"name"`
	Pass       bool   `json:"pass"`
	Checked    int    `json:"checked"`    // how many things were looked at
	Violations int    `json:"violations"` // how many broke the property
	// Kinds counts the violations by kind; Examples holds a few of each.
	Kinds    map[string]int `json:"kinds,omitempty"`
	Examples []string       `json:"examples,omitempty"`
	Notes    []string       `json:"notes,omitempty"`
}

func (c *Check) fail(format string, args ...any) { c.failKind("", format, args...) }

// failKind counts a violation of a kind; up to 4 examples of each kind
// are kept, so a frequent kind does not hide a rare one.
func (c *Check) failKind(kind, format string, args ...any) {
	c.Violations++
	if kind == "" {
		kind = "other"
	}
	if c.Kinds == nil {
		c.Kinds = map[string]int{}
	}
	c.Kinds[kind]++
	if c.Kinds[kind] <= 4 {
		c.Examples = append(c.Examples, fmt.Sprintf(format, args...))
	}
}

// final is what the instances show after the load stopped and every
// reservation's TTL passed.
type final struct {
	Stock    map[int]map[string]*contract.StockView // instance → SKU → view
	Orders   map[string]*contract.OrderView         // order id → view (read through instance 0)
	Channels map[string]map[string]*contract.ChannelStockView
}

// checker judges a history; it reads nothing from the engine but its
// public answers.
type checker struct {
	h      *History
	fin    final
	locs   []string
	chans  []config.Channel
	faults []Fault
	orders map[string]*orderHist
}

// orderHist is every attempt on one order id, by op.
type orderHist struct {
	id       string
	attempts []*Attempt
}

func newChecker(h *History, fin final, locs []string, chans []config.Channel, faults []Fault) *checker {
	c := &checker{h: h, fin: fin, locs: locs, chans: chans, faults: faults, orders: map[string]*orderHist{}}
	for _, a := range h.Attempts {
		o := c.orders[a.OrderID]
		if o == nil {
			o = &orderHist{id: a.OrderID}
			c.orders[a.OrderID] = o
		}
		o.attempts = append(o.attempts, a)
	}
	return c
}

func (c *checker) run() []Check {
	return []Check{c.noOversell(), c.conservation(), c.effectiveOnce(), c.ownAnswers(), c.reservationsEnd(),
		c.neverBackwards(), c.channelsConverge(), c.instancesAgree()}
}

// lineKey is a body's lines as "sku×qty@location" sorted; location only
// when asked for (or, with withLoc, always).
func lineKey(lines []contract.Line, withLoc bool) string {
	var parts []string
	for _, l := range lines {
		p := fmt.Sprintf("%s×%d", l.SKU, l.Qty)
		if withLoc && l.Location != "" {
			p += "@" + l.Location
		}
		parts = append(parts, p)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func rejectedAs(r *contract.OrderResult, typ string) bool {
	return r != nil && r.Status == contract.StatusRejected && r.Error != nil && r.Error.Type == typ
}

// noOversell: every location of every read has available ≥ 0 and
// consistent quantities; a negative available with the shortage flag (a
// snapshot below the reservations) is noted, not counted.
func (c *checker) noOversell() Check {
	ck := Check{Name: "no oversell"}
	shortages := 0
	for _, r := range c.h.Reads {
		if r.Stock == nil {
			continue
		}
		for _, l := range r.Stock.Locations {
			ck.Checked++
			if l.OnHand-l.Reserved-l.Committed != l.Available || l.Reserved < 0 || l.Committed < 0 {
				ck.fail("instance %d at %s: %s@%s shows on_hand %d reserved %d committed %d available %d: inconsistent",
					r.Instance, clock(r.At), r.Stock.SKU, l.Location, l.OnHand, l.Reserved, l.Committed, l.Available)
			}
			if l.Available < 0 {
				if r.Stock.Shortage {
					shortages++
					continue
				}
				ck.fail("instance %d at %s: %s@%s available %d (reserved %d + committed %d > on_hand %d)",
					r.Instance, clock(r.At), r.Stock.SKU, l.Location, l.Available, l.Reserved, l.Committed, l.OnHand)
			}
		}
	}
	if shortages > 0 {
		ck.Notes = append(ck.Notes, fmt.Sprintf("%d location reads in shortage (a snapshot below reserved + committed)", shortages))
	}
	ck.Pass = ck.Violations == 0 && ck.Checked > 0
	return ck
}

// finalView is the final stock of a SKU on the first instance that has it.
func (c *checker) finalView(sku string) *contract.StockView {
	for i := 0; i < len(c.fin.Stock); i++ {
		if v := c.fin.Stock[i][sku]; v != nil {
			return v
		}
	}
	return nil
}

func locOf(v *contract.StockView, loc string) (contract.LocationView, bool) {
	for _, l := range v.Locations {
		if l.Location == loc {
			return l, true
		}
	}
	return contract.LocationView{}, false
}

// window is when an effect happened: between From and To (To zero: any
// time after From, or never known).
type window struct{ From, To time.Time }

// conservation: per SKU and location, the final on_hand is the last
// snapshot plus the adjusts after it minus the units shipped after it
// (effects whose order against the snapshot is unknown count either way);
// reserved is 0 (every TTL passed) and committed is the confirmed orders'.
func (c *checker) conservation() Check {
	ck := Check{Name: "conservation per SKU and location"}
	type ship struct {
		qty int64
		w   window
	}
	ships := map[string][]ship{}    // sku/loc
	committed := map[string]int64{} // sku/loc
	for id, o := range c.orders {
		v := c.fin.Orders[id]
		if v == nil {
			continue
		}
		switch v.State {
		case contract.StatusShipped:
			var w window
			for _, a := range o.attempts {
				if a.Op != contract.Ship {
					continue
				}
				if w.From.IsZero() || a.Sent.Before(w.From) {
					w.From = a.Sent
				}
				if a.Result != nil && a.Result.Status == contract.StatusShipped && (w.To.IsZero() || a.Answered.Before(w.To)) {
					w.To = a.Answered
				}
			}
			for _, l := range v.Lines {
				ships[l.SKU+"/"+l.Location] = append(ships[l.SKU+"/"+l.Location], ship{l.Qty, w})
			}
		case contract.StatusConfirmed:
			for _, l := range v.Lines {
				committed[l.SKU+"/"+l.Location] += l.Qty
			}
		}
	}
	type adj struct {
		delta int64
		sure  bool // applied or accepted; else maybe
		w     window
	}
	adjusts := map[string]map[string]*adj{} // sku/loc → id
	type snap struct {
		value int64
		sure  bool
		w     window
		ver   int64
	}
	snaps := map[string][]snap{}
	for _, f := range c.h.Feeds {
		key := f.Msg.SKU + "/" + f.Msg.Location
		sure := f.Err == "" && !f.Ignored
		maybe := f.Err != ""
		switch f.Msg.Type {
		case contract.Adjust:
			if adjusts[key] == nil {
				adjusts[key] = map[string]*adj{}
			}
			a := adjusts[key][f.Msg.ID]
			if a == nil {
				a = &adj{delta: f.Msg.Delta, w: window{From: f.Sent}}
				adjusts[key][f.Msg.ID] = a
			}
			if f.Err == "" && (a.w.To.IsZero() || f.Answered.Before(a.w.To)) {
				a.w.To = f.Answered
			}
			a.sure = a.sure || f.Err == "" // an ignored duplicate means the first was applied
		case contract.Snapshot:
			if sure || maybe {
				s := snap{value: *f.Msg.OnHand, sure: sure, w: window{From: f.Sent}, ver: f.Msg.Version}
				if f.Status == contract.FeedApplied {
					s.w.To = f.Answered
				}
				snaps[key] = append(snaps[key], s)
			}
		}
	}
	before := func(a, b window) bool { return !a.To.IsZero() && a.To.Before(b.From) } // a surely before b
	for _, sku := range skus {
		v := c.finalView(sku)
		if v == nil {
			ck.fail("%s: no final stock read on any instance", sku)
			continue
		}
		for _, loc := range c.locs {
			ck.Checked++
			key := sku + "/" + loc
			lv, _ := locOf(v, loc)
			if lv.Reserved != 0 {
				ck.failKind("units reserved after every TTL", "%s: %d units still reserved after every TTL passed", key, lv.Reserved)
			}
			if lv.Committed != committed[key] {
				ck.failKind("committed units no confirmed order holds", "%s: committed %d, the confirmed orders hold %d", key, lv.Committed, committed[key])
			}
			// Candidate bases: the newest sure snapshot, and any maybe-applied one after it.
			ss := snaps[key]
			slices.SortFunc(ss, func(a, b snap) int { return int(a.ver - b.ver) })
			first := 0
			for i, s := range ss {
				if s.sure {
					first = i
				}
			}
			var ranges []string
			ok := false
			for _, s := range ss[first:] {
				lo, hi := s.value, s.value
				for _, a := range adjusts[key] {
					switch {
					case before(a.w, s.w) && a.sure:
					case a.sure && before(s.w, a.w):
						lo, hi = lo+a.delta, hi+a.delta
					default: // order or effect unknown
						lo, hi = lo+min(0, a.delta), hi+max(0, a.delta)
					}
				}
				for _, sh := range ships[key] {
					switch {
					case before(sh.w, s.w):
					case before(s.w, sh.w):
						lo, hi = lo-sh.qty, hi-sh.qty
					default:
						lo -= sh.qty
					}
				}
				if lv.OnHand >= lo && lv.OnHand <= hi {
					ok = true
				}
				ranges = append(ranges, fmt.Sprintf("[%d, %d] from snapshot %d", lo, hi, s.value))
			}
			if len(ss) == 0 {
				ck.fail("%s: no snapshot recorded", key)
			} else if !ok {
				ck.fail("%s: on_hand %d, the history allows %s", key, lv.OnHand, strings.Join(ranges, " or "))
			}
		}
	}
	ck.Pass = ck.Violations == 0 && ck.Checked > 0
	return ck
}

// stateRank orders order states; a state never goes to a lower rank.
func stateRank(s string) int {
	switch s {
	case contract.StatePending:
		return 0
	case contract.StatusReserved:
		return 1
	case contract.StatusConfirmed:
		return 2
	}
	return 3 // rejected, released, expired, shipped
}

// effectiveOnce: the final state of each order is the one its answers
// lead to, and every answer to the same command is the same decision.
func (c *checker) effectiveOnce() Check {
	ck := Check{Name: "each command effective once"}
	unread := 0
	for id, o := range c.orders {
		v := c.fin.Orders[id]
		ck.Checked++
		if v == nil {
			unread++
		}
		decided := map[string]*contract.OrderResult{} // op+body → first decision
		for _, a := range o.attempts {
			r := a.Result
			if r == nil || rejectedAs(r, contract.ErrPending) {
				continue
			}
			key := a.Op + " " + lineKey(a.Body.Lines, true)
			if d, ok := decided[key]; ok {
				if d.Status != r.Status || lineKey(d.Lines, true) != lineKey(r.Lines, true) {
					ck.failKind("one command answered two ways", "%s: %s answered %s %s, then %s %s (via %s at %s)", id, a.Op, d.Status, lineKey(d.Lines, true), r.Status, lineKey(r.Lines, true), a.Via, clock(a.Answered))
				}
			} else {
				decided[key] = r
			}
			if v == nil {
				continue
			}
			want := map[string][]string{
				contract.StatusShipped:   {contract.StatusShipped},
				contract.StatusReleased:  {contract.StatusReleased},
				contract.StatusConfirmed: {contract.StatusConfirmed, contract.StatusShipped, contract.StatusReleased},
			}[r.Status]
			if want != nil && !slices.Contains(want, v.State) {
				ck.failKind("an answered transition lost", "%s: answered %s to %s, but the order ends %s", id, r.Status, a.Op, v.State)
			}
		}
	}
	if unread > 0 {
		ck.Notes = append(ck.Notes, fmt.Sprintf("%d orders could not be read at the end: judged on their answers only", unread))
	}
	ck.Pass = ck.Violations == 0 && ck.Checked > 0
	return ck
}

// ownAnswers: every answer is the decision on the command it answers: a
// reserved answer holds the lines sent; of two reserves with one order id
// and different bodies, the one that became the reservation was not
// refused, and the other was not answered reserved; no request id answers
// two requests.
func (c *checker) ownAnswers() Check {
	ck := Check{Name: "each answer the decision on its own command"}
	ids := map[string]*Attempt{}
	for id, o := range c.orders {
		v := c.fin.Orders[id]
		bodies := map[string]bool{}
		for _, a := range o.attempts {
			if a.Op == contract.Reserve {
				bodies[lineKey(a.Body.Lines, false)] = true
			}
		}
		kept := "" // the body the order was accepted with
		if v != nil && v.State != contract.StatusRejected && v.State != contract.StatePending {
			kept = lineKey(v.Lines, false)
			if !bodies[kept] {
				ck.failKind("the order holds lines no reserve sent", "%s: the order holds %s, which no reserve sent", id, kept)
			}
		}
		byBody := map[string][]*Attempt{}
		for _, a := range o.attempts {
			if a.Result == nil {
				continue
			}
			ck.Checked++
			if a.RequestID != "" {
				if b := ids[a.RequestID]; b != nil && (b.OrderID != a.OrderID || b.Op != a.Op || lineKey(b.Body.Lines, true) != lineKey(a.Body.Lines, true)) {
					ck.failKind("one request id answering two requests", "request id %s answers %s %s and %s %s", a.RequestID, b.Op, b.OrderID, a.Op, a.OrderID)
				}
				ids[a.RequestID] = a
			}
			if a.Op != contract.Reserve {
				continue
			}
			sent := lineKey(a.Body.Lines, false)
			byBody[sent] = append(byBody[sent], a)
			if a.Result.Status == contract.StatusReserved {
				if got := lineKey(a.Result.Lines, false); got != sent {
					ck.failKind("reserved with another body's lines", "%s: reserve of %s (via %s at %s) answered reserved with %s", id, sent, a.Via, clock(a.Sent), got)
				}
				for i, l := range a.Body.Lines {
					if l.Location != "" && i < len(a.Result.Lines) && a.Result.Lines[i].SKU == l.SKU && a.Result.Lines[i].Location != l.Location {
						ck.fail("%s: asked %s at %s, answered at %s", id, l.SKU, l.Location, a.Result.Lines[i].Location)
					}
				}
				if v != nil && kept != sent {
					ck.failKind("answered reserved, the order holds another body", "%s: reserve of %s (via %s) answered reserved, but the order holds %q (state %s)", id, sent, a.Via, kept, v.State)
				}
			}
		}
		if len(bodies) > 1 && kept != "" {
			if as := byBody[kept]; len(as) > 0 && !slices.ContainsFunc(as, func(a *Attempt) bool { return a.Result.Status == contract.StatusReserved }) {
				var got []string
				for _, a := range as {
					got = append(got, a.Result.Status+"/"+errType(a.Result)+" via "+a.Via)
				}
				ck.failKind("the accepted reserve answered as refused", "%s: the reserve of %s became the reservation (%s), yet its caller was answered %s", id, kept, v.State, strings.Join(got, ", "))
			}
		}
	}
	ck.Pass = ck.Violations == 0 && ck.Checked > 0
	return ck
}

func errType(r *contract.OrderResult) string {
	if r.Error == nil {
		return ""
	}
	return r.Error.Type
}

// reservationsEnd: a reservation left alone shows ended on every instance
// by its expiry + 1 s; none is left reserved at the end.
func (c *checker) reservationsEnd() Check {
	ck := Check{Name: "every reservation ended (expired within TTL + 1 s)"}
	var late []time.Duration
	duringFault := 0
	for id, o := range c.orders {
		var exp time.Time
		for _, a := range o.attempts {
			if a.Op == contract.Reserve && a.Result != nil && a.Result.Status == contract.StatusReserved && a.Body.TTLS <= shortTTL {
				exp, _ = time.Parse(time.RFC3339Nano, a.Result.ExpiresAt)
			}
		}
		if v := c.fin.Orders[id]; v != nil && stateRank(v.State) < 2 && v.State != contract.StatusRejected {
			ck.failKind("an order still reserved at the end", "%s: still %s at the end", id, v.State)
		}
		if exp.IsZero() {
			continue
		}
		ck.Checked++
		var worst time.Duration
		for _, r := range c.h.OrderReads[id] {
			if r.View.State == contract.StatusReserved && r.At.After(exp.Add(expiryGrace)) {
				worst = max(worst, r.At.Sub(exp))
			}
		}
		if worst > 0 {
			late = append(late, worst)
			// The expiry is due within expiryGrace of exp: a fault that
			// began in that window is the one that delayed it.
			if during := c.faultWithin(exp, exp.Add(expiryGrace)); during != "" {
				duringFault++
				if len(ck.Notes) < 12 {
					ck.Notes = append(ck.Notes, fmt.Sprintf("%s: still reserved %s after its expiry %s%s", id, worst.Round(time.Millisecond), clock(exp), during))
				}
			} else {
				ck.fail("%s: still reserved %s after its expiry %s, with no fault in progress", id, worst.Round(time.Millisecond), clock(exp))
			}
		}
	}
	if duringFault > 0 {
		ck.Notes = append(ck.Notes, fmt.Sprintf("%d reservations expired late while a fault was in progress or within %s after it lifted "+
			"(an expiry is a decision of the partition's owner through Kafka: none is possible while the broker is down or the owner gone)", duringFault, faultSettle))
	}
	if len(late) > 0 {
		slices.Sort(late)
		ck.Notes = append(ck.Notes, fmt.Sprintf("late reservations: %d, worst seen %s past expiry", len(late), late[len(late)-1].Round(time.Millisecond)))
	}
	ck.Pass = ck.Violations == 0 && ck.Checked > 0
	return ck
}

// faultSettle is how long after a fault lifted its effects are still
// counted as its own: a consumer group's rebalance and goka's 5 s wait.
const faultSettle = 15 * time.Second

// faultAt names the fault in progress at t (or lifted less than
// faultSettle before), if any.
func (c *checker) faultAt(t time.Time) string {
	for _, f := range c.faults {
		if f.Skipped == "" && !t.Before(f.Start) && !t.After(f.End.Add(faultSettle)) {
			return fmt.Sprintf(" (during %s of %s)", f.Kind, f.Target)
		}
	}
	return ""
}

// faultWithin names a fault in progress (or lifted less than faultSettle
// before) at some time in [from, to], if any.
func (c *checker) faultWithin(from, to time.Time) string {
	for _, f := range c.faults {
		if f.Skipped == "" && !to.Before(f.Start) && !from.After(f.End.Add(faultSettle)) {
			return fmt.Sprintf(" (during %s of %s)", f.Kind, f.Target)
		}
	}
	return ""
}

// neverBackwards: on each instance the clock SKU's on_hand never drops,
// and no order's state goes back (reserved after expired, …).
func (c *checker) neverBackwards() Check {
	ck := Check{Name: "no state going backwards on any instance"}
	last := map[int]*Read{}
	for _, r := range c.h.Reads {
		if r.Stock == nil || r.Stock.SKU != clockSKU {
			continue
		}
		ck.Checked++
		if p := last[r.Instance]; p != nil && r.Stock.OnHand < p.Stock.OnHand {
			ck.fail("instance %d: clock on_hand %d at %s after %d at %s%s", r.Instance, r.Stock.OnHand, clock(r.At), p.Stock.OnHand, clock(p.At), c.faultAt(r.At))
		}
		last[r.Instance] = r
	}
	for id, reads := range c.h.OrderReads {
		seen := map[int]OrderRead{}
		for _, r := range reads {
			ck.Checked++
			if p, ok := seen[r.Instance]; ok && stateRank(r.View.State) < stateRank(p.View.State) {
				ck.fail("instance %d: order %s %s at %s after %s at %s%s", r.Instance, id, r.View.State, clock(r.At), p.View.State, clock(p.At), c.faultAt(r.At))
			}
			seen[r.Instance] = r
		}
	}
	ck.Pass = ck.Violations == 0 && ck.Checked > 0
	return ck
}

// channelsConverge: after the load, every channel's acknowledged value is
// its projection, and the projection is the channel rule over the final
// stock: max(0, floor(share × Σ available) − safety_stock).
func (c *checker) channelsConverge() Check {
	ck := Check{Name: "channels converge to the projection"}
	for _, ch := range c.chans {
		for _, sku := range skus {
			ck.Checked++
			cv := c.fin.Channels[ch.Name][sku]
			v := c.finalView(sku)
			if cv == nil || v == nil {
				ck.fail("%s/%s: no final channel or stock read", ch.Name, sku)
				continue
			}
			var sum int64
			for _, loc := range ch.Locations {
				if lv, ok := locOf(v, loc); ok {
					sum += lv.Available
				}
			}
			share := ch.Share
			if share == 0 {
				share = 1
			}
			want := max(0, int64(math.Floor(share*float64(sum)+1e-9))-ch.SafetyStock)
			if cv.Projected != want {
				ck.fail("%s/%s: projected %d, the rule over the final stock gives %d", ch.Name, sku, cv.Projected, want)
			}
			if cv.Acknowledged != cv.Projected {
				ck.fail("%s/%s: acknowledged %d, projected %d (parked %q)", ch.Name, sku, cv.Acknowledged, cv.Projected, cv.Parked)
			}
		}
	}
	ck.Pass = ck.Violations == 0 && ck.Checked > 0
	return ck
}

// instancesAgree: every instance shows the same final stock.
func (c *checker) instancesAgree() Check {
	ck := Check{Name: "instances agreeing"}
	for _, sku := range append([]string{clockSKU}, skus...) {
		ck.Checked++
		var ref string
		for i := 0; i < len(c.fin.Stock); i++ {
			v := c.fin.Stock[i][sku]
			s := "unreadable"
			if v != nil {
				s = fmt.Sprintf("%d/%d/%d %v %v", v.OnHand, v.Reserved, v.Committed, v.Locations, v.Channels)
			}
			if i == 0 {
				ref = s
			} else if s != ref {
				ck.fail("%s: instance 0 shows %s, instance %d shows %s", sku, ref, i, s)
			}
		}
	}
	ck.Pass = ck.Violations == 0 && ck.Checked > 0
	return ck
}

func clock(t time.Time) string { return t.UTC().Format("15:04:05.000") }
