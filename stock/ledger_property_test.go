package stock

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stocksync/stocksync/contract"
)

// TestLedgerProperties applies a few thousand random operations to a few SKUs,
// delivering about half of them twice (at once, or a few steps later as a
// replay would), and checks after every delivery, against a model kept
// alongside:
//   - the effect is the model's: a redelivery changes nothing (invariant 3);
//   - a command never leaves a location holding more reserved+committed than
//     on_hand; only a snapshot or an adjust can cause a shortage (invariant 1);
//   - Location.Reserved and Committed are the sums of the Held and Committed
//     reservations there, and the reservations are the model's;
//   - on_hand = last snapshot + Σ adjusts − Σ shipped since it (invariant 2);
//   - the binary encoding round-trips.
func TestLedgerProperties(t *testing.T) {
	const steps = 4000
	rng := rand.New(rand.NewPCG(20240601, 7))
	g := &generator{rng: rng, versions: map[string]int64{}, orders: map[string][]string{}}
	ledgers := map[string]*SKU{}
	models := map[string]*model{}
	type redelivery struct {
		at int
		op op
	}
	var later []redelivery
	deliveries, redeliveries, shortages := 0, 0, 0
	var deliver func(step int, o op, again bool)
	deliver = func(step int, o op, again bool) {
		deliveries++
		s, m := ledgers[o.sku], models[o.sku]
		if s == nil {
			s, m = new(SKU), newModel()
			ledgers[o.sku], models[o.sku] = s, m
		}
		before := s.AppendBinary(nil)
		short := shorts(s)
		seq := s.Seq
		reply, eff := o.apply(s)
		if again {
			redeliveries++
		}
		if eff.Shortage != nil {
			shortages++
		}
		want := m.apply(o)
		where := fmt.Sprintf("step %d, %s%s", step, o, map[bool]string{true: " (redelivered)"}[again])

		if eff.Changed != want.changed {
			t.Fatalf("%s: changed = %v, the model says %v (effect %+v)", where, eff.Changed, want.changed, eff)
		}
		if again && string(s.AppendBinary(nil)) != string(before) {
			t.Fatalf("%s: a redelivery changed the ledger", where)
		}
		if s.Seq != seq+map[bool]int64{true: 1}[eff.Changed] {
			t.Fatalf("%s: seq %d → %d with Changed=%v", where, seq, s.Seq, eff.Changed)
		}
		if o.kind == CmdReserve {
			checkReply(t, where, reply, want)
			if want.changed { // the model lets the ledger choose among equals
				m.active[o.cmd.OrderID] = modelRes{loc: reply.Location, qty: o.cmd.Qty}
				m.accepted++
			}
		}
		if o.kind != contract.Snapshot && o.kind != contract.Adjust {
			for name, n := range shorts(s) {
				if n > short[name] {
					t.Fatalf("%s: a command left %s short by %d (was %d): oversell", where, name, n, short[name])
				}
			}
		}
		checkLedger(t, where, s, m)
		if again {
			return
		}
		switch rng.IntN(4) {
		case 0:
			// A reserve refused for lack of stock is redelivered only at
			// once: a later copy may find stock and hold it, a case the
			// ledger leaves to the orders saga (see the processors tests).
			if o.kind != CmdReserve || reply.OK || reply.Error != contract.ErrInsufficientStock {
				later = append(later, redelivery{at: step + 1 + rng.IntN(8), op: o})
				return
			}
			fallthrough
		case 1:
			deliver(step, o, true)
		}
	}
	for step := range steps {
		deliver(step, g.next(models), false)
		for i := 0; i < len(later); {
			if later[i].at == step {
				deliver(step, later[i].op, true)
				later = slices.Delete(later, i, i+1)
				continue
			}
			i++
		}
	}
	var reserved, shipped int
	for _, m := range models {
		reserved += m.accepted
		shipped += m.shipments
	}
	t.Logf("%d deliveries (%d redelivered) over %d SKUs: %d reserves accepted, %d shipments, %d shortages",
		deliveries, redeliveries, len(ledgers), reserved, shipped, shortages)
	if reserved < steps/20 || shipped < steps/100 || shortages == 0 || redeliveries < steps/4 {
		t.Errorf("the random walk exercised too little")
	}
}

// op is one command or feed message for one SKU.
type op struct {
	sku  string
	kind string
	cmd  Command
	feed contract.FeedMessage
}

func (o op) String() string {
	switch o.kind {
	case contract.Snapshot:
		return fmt.Sprintf("%s snapshot %s=%d (%s v%d)", o.sku, o.feed.Location, *o.feed.OnHand, o.feed.Source, o.feed.Version)
	case contract.Adjust:
		return fmt.Sprintf("%s adjust %s%+d (%s)", o.sku, o.feed.Location, o.feed.Delta, o.feed.ID)
	}
	return fmt.Sprintf("%s %s %s qty=%d location=%q channel=%q", o.sku, o.kind, o.cmd.OrderID, o.cmd.Qty, o.cmd.Location, o.cmd.Channel)
}

func (o op) apply(s *SKU) (Reply, Effect) {
	switch o.kind {
	case contract.Snapshot:
		return Reply{}, s.Snapshot(o.feed)
	case contract.Adjust:
		return Reply{}, s.Adjust(o.feed)
	case CmdReserve:
		return s.Reserve(o.cmd, testCatalog)
	case CmdConfirm:
		return Reply{}, s.Confirm(o.cmd)
	case CmdRelease:
		return Reply{}, s.Release(o.cmd)
	case CmdExpire:
		return Reply{}, s.Expire(o.cmd)
	default:
		return Reply{}, s.Ship(o.cmd)
	}
}

type generator struct {
	rng      *rand.Rand
	n        int
	versions map[string]int64    // sku/location/source → highest version generated
	orders   map[string][]string // sku → order ids reserved on it
}

// next draws an operation; it peeks at the models only to aim commands at
// active reservations most of the time.
func (g *generator) next(models map[string]*model) op {
	g.n++
	sku := []string{"A", "B", "C"}[g.rng.IntN(3)]
	loc := []string{"msk-1", "spb-1", "dark-1"}[g.rng.IntN(3)]
	switch p := g.rng.IntN(100); {
	case p < 10:
		source := []string{"erp", "wms"}[g.rng.IntN(2)]
		key := sku + "/" + loc + "/" + source
		v := g.versions[key] + 1
		if g.rng.IntN(5) == 0 && v > 1 {
			v -= 1 + int64(g.rng.IntN(int(v-1))) // an old or repeated version
		}
		g.versions[key] = max(g.versions[key], v)
		onHand := int64(g.rng.IntN(40))
		return op{sku: sku, kind: contract.Snapshot, feed: contract.FeedMessage{Type: contract.Snapshot, SKU: sku, Location: loc, OnHand: &onHand, Source: source, Version: v}}
	case p < 20:
		delta := int64(g.rng.IntN(12)) - 4
		if delta == 0 {
			delta = 1
		}
		return op{sku: sku, kind: contract.Adjust, feed: contract.FeedMessage{Type: contract.Adjust, SKU: sku, Location: loc, Delta: delta, ID: fmt.Sprintf("adj-%d", g.n)}}
	case p < 55:
		c := Command{Type: CmdReserve, OrderID: fmt.Sprintf("o-%d", g.n), SKU: sku, Qty: 1 + int64(g.rng.IntN(6)), ExpiresAt: int64(g.n)}
		switch q := g.rng.IntN(10); {
		case q == 0:
			c.Location = "nowhere"
		case q < 4:
			c.Location = loc
		default:
			c.Channel = []string{"web", "ozon", ""}[g.rng.IntN(3)]
		}
		g.orders[sku] = append(g.orders[sku], c.OrderID)
		return op{sku: sku, kind: CmdReserve, cmd: c}
	}
	kind := []string{CmdConfirm, CmdConfirm, CmdRelease, CmdExpire, CmdShip, CmdShip}[g.rng.IntN(6)]
	id := fmt.Sprintf("ghost-%d", g.n)
	var active []string
	if m := models[sku]; m != nil {
		for id := range m.active {
			active = append(active, id)
		}
		slices.Sort(active) // map order is random; the walk must not be
	}
	switch q := g.rng.IntN(10); {
	case q < 7 && len(active) > 0:
		id = active[g.rng.IntN(len(active))]
	case q < 9 && len(g.orders[sku]) > 0:
		ids := g.orders[sku]
		id = ids[len(ids)-1-g.rng.IntN(min(len(ids), 12))] // a recent order, maybe ended or refused
	}
	return op{sku: sku, kind: kind, cmd: Command{Type: kind, OrderID: id, SKU: sku}}
}

// model is what one SKU's ledger should hold, kept the simple way.
type model struct {
	snapshot  map[string]int64 // location → on_hand of its last applied snapshot
	adjusted  map[string]int64 // location → Σ adjusts since that snapshot
	shipped   map[string]int64 // location → Σ shipped since that snapshot
	versions  map[string]int64 // location/source → last applied version
	adjustIDs map[string]bool
	exists    map[string]bool // locations the ledger has heard of
	active    map[string]modelRes
	ended     map[string]bool
	accepted  int
	shipments int
}

type modelRes struct {
	loc       string
	qty       int64
	committed bool
}

func newModel() *model {
	return &model{snapshot: map[string]int64{}, adjusted: map[string]int64{}, shipped: map[string]int64{},
		versions: map[string]int64{}, adjustIDs: map[string]bool{}, exists: map[string]bool{},
		active: map[string]modelRes{}, ended: map[string]bool{}}
}

func (m *model) onHand(loc string) int64 { return m.snapshot[loc] + m.adjusted[loc] - m.shipped[loc] }

func (m *model) available(loc string) int64 {
	n := m.onHand(loc)
	for _, r := range m.active {
		if r.loc == loc {
			n -= r.qty
		}
	}
	return n
}

// expected is what the model says an operation does.
type expected struct {
	changed bool
	ok      bool
	err     string
	locs    []string // acceptable locations of an accepted reserve
	avail   int64    // on a refusal for lack of stock
}

func (m *model) apply(o op) expected {
	f, c := o.feed, o.cmd
	r, active := m.active[c.OrderID]
	switch o.kind {
	case contract.Snapshot:
		key := f.Location + "/" + f.Source
		if v, ok := m.versions[key]; ok && f.Version <= v {
			return expected{}
		}
		m.versions[key], m.exists[f.Location] = f.Version, true
		m.snapshot[f.Location], m.adjusted[f.Location], m.shipped[f.Location] = *f.OnHand, 0, 0
		return expected{changed: true}
	case contract.Adjust:
		if m.adjustIDs[f.ID] {
			return expected{}
		}
		m.adjustIDs[f.ID], m.exists[f.Location] = true, true
		m.adjusted[f.Location] += f.Delta
		return expected{changed: true}
	case CmdReserve:
		return m.reserve(c)
	case CmdConfirm:
		if !active || r.committed {
			return expected{}
		}
		r.committed = true
		m.active[c.OrderID] = r
	case CmdRelease:
		if !active {
			return expected{}
		}
		m.end(c.OrderID)
	case CmdExpire:
		if !active || r.committed {
			return expected{}
		}
		m.end(c.OrderID)
	case CmdShip:
		if !active || !r.committed {
			return expected{}
		}
		m.shipped[r.loc] += r.qty
		m.shipments++
		m.end(c.OrderID)
	}
	return expected{changed: true}
}

func (m *model) end(id string) {
	delete(m.active, id)
	m.ended[id] = true
}

func (m *model) reserve(c Command) expected {
	if r, ok := m.active[c.OrderID]; ok {
		return expected{ok: true, locs: []string{r.loc}}
	}
	if m.ended[c.OrderID] {
		return expected{err: contract.ErrInvalidTransition}
	}
	var best []string
	bestAvail := int64(math.MinInt64)
	candidates := testCatalog.Candidates(c.Channel)
	if c.Location != "" {
		if !testCatalog.Known(c.Location) {
			return expected{err: contract.ErrUnknownLocation}
		}
		candidates = []string{c.Location}
		bestAvail = 0 // a location the ledger never heard of has nothing
	}
	for _, name := range candidates {
		if !m.exists[name] {
			continue
		}
		switch a := m.available(name); {
		case a > bestAvail || c.Location != "":
			best, bestAvail = []string{name}, a
		case a == bestAvail:
			best = append(best, name)
		}
	}
	if best == nil || bestAvail < c.Qty {
		return expected{err: contract.ErrInsufficientStock, avail: max(bestAvail, 0)}
	}
	return expected{changed: true, ok: true, locs: best}
}

func checkReply(t *testing.T, where string, r Reply, want expected) {
	t.Helper()
	switch {
	case r.OK != want.ok || r.Error != want.err:
		t.Fatalf("%s: reply %+v, the model says ok=%v error=%q", where, r, want.ok, want.err)
	case r.OK && !slices.Contains(want.locs, r.Location):
		t.Fatalf("%s: reserved at %s, the model says one of %v (the most available)", where, r.Location, want.locs)
	case r.Error == contract.ErrInsufficientStock && r.Available != want.avail:
		t.Fatalf("%s: refused with available %d, the model says %d", where, r.Available, want.avail)
	}
}

// checkLedger holds the ledger to its own sums, to the model, and to its encoding.
func checkLedger(t *testing.T, where string, s *SKU, m *model) {
	t.Helper()
	if !slices.IsSortedFunc(s.Locations, func(a, b Location) int { return cmpStr(a.Name, b.Name) }) ||
		!slices.IsSortedFunc(s.Reservations, func(a, b Reservation) int { return cmpStr(a.OrderID, b.OrderID) }) {
		t.Fatalf("%s: locations or reservations out of order", where)
	}
	held, committed := map[string]int64{}, map[string]int64{}
	for _, r := range s.Reservations {
		if r.State == Held {
			held[r.Location] += r.Qty
		} else {
			committed[r.Location] += r.Qty
		}
		want, ok := m.active[r.OrderID]
		if !ok || want.loc != r.Location || want.qty != r.Qty || want.committed != (r.State == Committed) {
			t.Fatalf("%s: reservation %+v, the model has %+v (active %v)", where, r, want, ok)
		}
	}
	if len(s.Reservations) != len(m.active) {
		t.Fatalf("%s: %d reservations, the model has %d", where, len(s.Reservations), len(m.active))
	}
	for _, l := range s.Locations {
		if l.Reserved != held[l.Name] || l.Committed != committed[l.Name] {
			t.Fatalf("%s: %s reserved/committed %d/%d, its reservations sum to %d/%d", where, l.Name, l.Reserved, l.Committed, held[l.Name], committed[l.Name])
		}
		if l.OnHand != m.onHand(l.Name) {
			t.Fatalf("%s: %s on_hand %d, last snapshot %d + adjusts %d − shipped %d = %d (conservation)",
				where, l.Name, l.OnHand, m.snapshot[l.Name], m.adjusted[l.Name], m.shipped[l.Name], m.onHand(l.Name))
		}
	}
	enc := s.AppendBinary(nil)
	got, err := UnmarshalSKU(enc)
	if err != nil {
		t.Fatalf("%s: decoding the ledger: %v", where, err)
	}
	if !equalSKU(got, *s) || string(got.AppendBinary(nil)) != string(enc) {
		t.Fatalf("%s: the encoding does not round-trip:\n got  %+v\n want %+v", where, got, *s)
	}
}

func shorts(s *SKU) map[string]int64 {
	out := make(map[string]int64, len(s.Locations))
	for i := range s.Locations {
		out[s.Locations[i].Name] = s.Locations[i].Short()
	}
	return out
}
