package bench

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/topology"
)

// Workload kinds.
const (
	FlashSale = "flash" // reserves only, skewed to a few hundred hot SKUs that sell out
	SteadyDay = "steady"
	// MultiLine is the flash sale's catalogue and skew with two lines in
	// every order, SpanShare of them on two partitions and the rest on
	// one: the engine decides an order whose lines live on partitions of
	// other instances with messages between them (docs/design.md).
	MultiLine = "multi"
)

// WorkloadConfig says what the load generator sends. Zero fields take the
// defaults stated on them for the kind.
type WorkloadConfig struct {
	// Kind is FlashSale, SteadyDay or MultiLine. Required.
	Kind string
	// SKUs is the catalogue size. Default 100,000 (flash) or 1,000,000
	// (steady).
	SKUs int
	// Locations hold the stock. Default [msk-wh-1] (flash) or the three of
	// examples/stocksync.yaml (steady).
	Locations []string
	// Channel names the sales channel of every reserve. Default "web" (it
	// covers all locations in examples/stocksync.yaml).
	Channel string
	// ZipfS is the skew of SKU popularity (s of a Zipf law over SKU rank,
	// > 1). Default 1.1: the top 300 of 100,000 SKUs get about two thirds
	// of the lines.
	ZipfS float64
	// HotSKUs are the most popular SKUs, stocked with HotStock units each
	// so that many sell out during the run (flash). Default 300.
	HotSKUs int
	// HotStock is the on-hand of each hot SKU (flash). Default 50.
	HotStock int64
	// Stock is the on-hand of every other SKU and location. Default 1000
	// (flash) or 20..99 by SKU (steady).
	Stock int64
	// TTL of every reservation; longer than the run, so nothing expires and
	// the oversell check stays exact. Default 15m.
	TTL time.Duration
	// Seed makes the command stream repeatable. Default 1.
	Seed uint64
	// Partitions of the engine's topics (MultiLine): which lines share a
	// partition. Default 12, the engine's.
	Partitions int32
	// SpanShare is the share of MultiLine orders whose two lines live on
	// different partitions. Default 0.3.
	SpanShare float64
}

func (c *WorkloadConfig) fill() error {
	switch c.Kind {
	case FlashSale, MultiLine:
		c.SKUs = or(c.SKUs, 100_000)
		if len(c.Locations) == 0 {
			c.Locations = []string{"msk-wh-1"}
		}
		c.Stock = or(c.Stock, 1000)
	case SteadyDay:
		c.SKUs = or(c.SKUs, 1_000_000)
		if len(c.Locations) == 0 {
			c.Locations = []string{"msk-wh-1", "msk-dark-1", "spb-store-1"}
		}
	default:
		return fmt.Errorf("bench: workload kind %q is not %s, %s or %s", c.Kind, FlashSale, SteadyDay, MultiLine)
	}
	c.Partitions = or(c.Partitions, 12)
	c.SpanShare = or(c.SpanShare, 0.3)
	c.Channel = or(c.Channel, "web")
	c.ZipfS = or(c.ZipfS, 1.1)
	c.HotSKUs = min(or(c.HotSKUs, 300), c.SKUs)
	c.HotStock = or(c.HotStock, 50)
	c.TTL = or(c.TTL, 15*time.Minute)
	c.Seed = or(c.Seed, 1)
	var errs []error
	if c.SKUs < 10 {
		errs = append(errs, fmt.Errorf("bench: SKUs %d: want at least 10", c.SKUs))
	}
	if c.SpanShare < 0 || c.SpanShare > 1 || (c.Kind == MultiLine && c.Partitions < 2 && c.SpanShare > 0) {
		errs = append(errs, fmt.Errorf("bench: SpanShare %g over %d partitions: want a share in [0, 1] and 2 partitions or more to span", c.SpanShare, c.Partitions))
	}
	if c.ZipfS <= 1 {
		errs = append(errs, fmt.Errorf("bench: ZipfS %g: want > 1", c.ZipfS))
	}
	return errors.Join(errs...)
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// SKUName is the name of the SKU of rank i (0 is the most popular).
func SKUName(i int) string { return "B" + strconv.Itoa(1_000_000 + i)[1:] }

// Key is a stock row: one SKU at one location.
type Key struct{ SKU, Location string }

// Catalogue is the stock every system starts with.
type Catalogue struct {
	SKUs      int
	Locations []string
	onHand    func(sku, loc int) int64
}

// OnHand is the starting stock of the SKU of rank sku at Locations[loc].
func (c *Catalogue) OnHand(sku, loc int) int64 { return c.onHand(sku, loc) }

// Rows is the number of stock rows.
func (c *Catalogue) Rows() int { return c.SKUs * len(c.Locations) }

// Each calls f for every stock row, SKU by SKU.
func (c *Catalogue) Each(f func(k Key, onHand int64) error) error {
	for i := 0; i < c.SKUs; i++ {
		name := SKUName(i)
		for j, l := range c.Locations {
			if err := f(Key{name, l}, c.onHand(i, j)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Catalogue is the workload's starting stock.
func (c WorkloadConfig) Catalogue() (*Catalogue, error) {
	if err := c.fill(); err != nil {
		return nil, err
	}
	cat := &Catalogue{SKUs: c.SKUs, Locations: c.Locations}
	switch c.Kind {
	case FlashSale, MultiLine:
		cat.onHand = func(sku, _ int) int64 {
			if sku < c.HotSKUs {
				return c.HotStock
			}
			return c.Stock
		}
	default:
		fixed := c.Stock
		cat.onHand = func(sku, loc int) int64 {
			if fixed > 0 {
				return fixed
			}
			return int64(20 + (sku*31+loc*17)%80)
		}
	}
	return cat, nil
}

// Op kinds.
const (
	OpReserve  = contract.Reserve
	OpConfirm  = contract.Confirm
	OpRelease  = contract.Release
	OpShip     = contract.Ship
	OpSnapshot = contract.Snapshot
	OpAdjust   = contract.Adjust
)

// Op is one command of the load.
type Op struct {
	Kind    string
	OrderID string
	Lines   []contract.Line // reserve
	// Feed fields (snapshot, adjust).
	Key     Key
	OnHand  int64 // snapshot: the absolute on-hand
	Version int64 // snapshot: newer than every earlier one of its row
	Delta   int64 // adjust
	ID      string
	Restock int64 // snapshot: units it adds over the generator's view (for Check)
}

// generator produces the command stream of a workload. It is safe for
// concurrent use: Next from the dispatcher, Done from the answering clients.
type generator struct {
	cfg    WorkloadConfig
	run    string // prefix of this run's order ids
	mu     sync.Mutex
	rng    *rand.Rand
	zipf   *rand.Zipf
	seq    int64
	held   []string // steady: reserved orders, not yet confirmed or released
	ready  []string // steady: confirmed orders, not yet shipped or released
	lines  map[string][]contract.Line
	erp    map[Key]*erpRow // steady: the ERP's view of the rows it touched
	shipIn map[string]bool // orders whose ship is in flight
	cat    *Catalogue
}

// erpRow is what the ERP believes a row holds: never more than the shelf
// (see Check), so its snapshots cannot create units out of thin air.
type erpRow struct {
	onHand  int64 // start + restocks + adjusts − ships answered or in flight
	version int64
}

func newGenerator(cfg WorkloadConfig, run string) (*generator, error) {
	cat, err := cfg.Catalogue()
	if err != nil {
		return nil, err
	}
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	return &generator{cfg: cfg, run: run, rng: rng, cat: cat,
		zipf:  rand.NewZipf(rng, cfg.ZipfS, 1, uint64(cfg.SKUs-1)),
		lines: map[string][]contract.Line{}, erp: map[Key]*erpRow{}, shipIn: map[string]bool{}}, nil
}

// pickSKU draws a SKU rank: Zipf over the whole catalogue (flash), or a
// fifth Zipf and the rest uniform (steady: the long tail sells too).
func (g *generator) pickSKU() int {
	if g.cfg.Kind == SteadyDay && g.rng.IntN(5) != 0 {
		return g.rng.IntN(g.cfg.SKUs)
	}
	return int(g.zipf.Uint64())
}

func (g *generator) reserve() Op {
	g.seq++
	id := g.run + "-" + strconv.FormatInt(g.seq, 36)
	n := 1
	switch r := g.rng.IntN(10); {
	case r >= 9:
		n = 3
	case r >= 7:
		n = 2
	}
	lines := make([]contract.Line, 0, n)
	used := map[int]bool{}
	for len(lines) < n {
		s := g.pickSKU()
		if used[s] {
			continue
		}
		used[s] = true
		loc := g.cfg.Locations[g.rng.IntN(len(g.cfg.Locations))]
		lines = append(lines, contract.Line{SKU: SKUName(s), Qty: int64(1 + g.rng.IntN(3)), Location: loc})
	}
	return Op{Kind: OpReserve, OrderID: id, Lines: lines}
}

// twoLines is a MultiLine reserve: a first SKU drawn as the flash sale
// draws it, and a second one drawn until it lands on another partition
// (SpanShare of the orders) or on the same one.
func (g *generator) twoLines() Op {
	g.seq++
	id := g.run + "-" + strconv.FormatInt(g.seq, 36)
	span := g.rng.Float64() < g.cfg.SpanShare
	first := g.pickSKU()
	home := topology.PartitionOf(SKUName(first), g.cfg.Partitions)
	fits := func(s int) bool {
		return s != first && (topology.PartitionOf(SKUName(s), g.cfg.Partitions) != home) == span
	}
	second := g.pickSKU()
	for tries := 0; !fits(second) && tries < 10_000; tries++ {
		second = g.pickSKU()
	}
	for s := 0; !fits(second) && s < g.cfg.SKUs; s++ { // a small catalogue: any SKU that fits
		second = s
	}
	if second == first { // one SKU alone on its partition: the order spans
		second = (first + 1) % g.cfg.SKUs
	}
	lines := make([]contract.Line, 0, 2)
	for _, s := range []int{first, second} {
		loc := g.cfg.Locations[g.rng.IntN(len(g.cfg.Locations))]
		lines = append(lines, contract.Line{SKU: SKUName(s), Qty: int64(1 + g.rng.IntN(3)), Location: loc})
	}
	return Op{Kind: OpReserve, OrderID: id, Lines: lines}
}

// Next is the next command to send.
func (g *generator) Next() Op {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch g.cfg.Kind {
	case FlashSale:
		return g.reserve()
	case MultiLine:
		return g.twoLines()
	}
	// steady: reserve 40, confirm 20, release 10, ship 15, snapshot 10, adjust 5.
	switch r := g.rng.IntN(100); {
	case r < 40:
	case r < 60 && len(g.held) > 0:
		return Op{Kind: OpConfirm, OrderID: g.take(&g.held)}
	case r < 70 && len(g.held)+len(g.ready) > 0:
		if len(g.ready) > 0 && g.rng.IntN(2) == 0 {
			return Op{Kind: OpRelease, OrderID: g.take(&g.ready)}
		}
		if len(g.held) > 0 {
			return Op{Kind: OpRelease, OrderID: g.take(&g.held)}
		}
	case r < 85 && len(g.ready) > 0:
		id := g.take(&g.ready)
		g.shipIn[id] = true
		for _, l := range g.lines[id] {
			g.row(Key{l.SKU, l.Location}).onHand -= l.Qty
		}
		return Op{Kind: OpShip, OrderID: id}
	case r >= 85 && r < 95:
		k, i, j := g.pickRow()
		row := g.rowAt(k, i, j)
		restock := int64(g.rng.IntN(21))
		row.onHand += restock
		row.version++
		return Op{Kind: OpSnapshot, Key: k, OnHand: max(row.onHand, 0), Version: row.version, Restock: restock}
	case r >= 95:
		k, i, j := g.pickRow()
		delta := int64(g.rng.IntN(8)) - 2
		if delta >= 0 {
			delta++
		}
		g.rowAt(k, i, j).onHand += delta
		g.seq++
		return Op{Kind: OpAdjust, Key: k, Delta: delta, ID: g.run + "-adj-" + strconv.FormatInt(g.seq, 36)}
	}
	return g.reserve()
}

func (g *generator) pickRow() (Key, int, int) {
	i, j := g.pickSKU(), g.rng.IntN(len(g.cfg.Locations))
	return Key{SKUName(i), g.cfg.Locations[j]}, i, j
}

func (g *generator) rowAt(k Key, i, j int) *erpRow {
	r := g.erp[k]
	if r == nil {
		r = &erpRow{onHand: g.cat.OnHand(i, j), version: 1}
		g.erp[k] = r
	}
	return r
}

// row is the ERP row of k, by name.
func (g *generator) row(k Key) *erpRow {
	if r := g.erp[k]; r != nil {
		return r
	}
	i, _ := strconv.Atoi(k.SKU[1:])
	for j, l := range g.cfg.Locations {
		if l == k.Location {
			return g.rowAt(k, i, j)
		}
	}
	return &erpRow{}
}

// take removes a random order id from a pool.
func (g *generator) take(pool *[]string) string {
	p := *pool
	i := g.rng.IntN(len(p))
	id := p[i]
	p[i] = p[len(p)-1]
	*pool = p[:len(p)-1]
	return id
}

// Done tells the generator an order command's outcome, so the steady day
// confirms, releases and ships orders that exist.
func (g *generator) Done(op Op, res contract.OrderResult, err error) {
	if g.cfg.Kind != SteadyDay {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	ok := err == nil && res.Status != contract.StatusRejected
	switch op.Kind {
	case OpReserve:
		if ok {
			g.held = append(g.held, op.OrderID)
			g.lines[op.OrderID] = res.Lines
		}
	case OpConfirm:
		if ok {
			g.ready = append(g.ready, op.OrderID)
		}
	case OpShip:
		delete(g.shipIn, op.OrderID)
		if err == nil && !ok { // refused: not shipped, the ERP gets the units back
			for _, l := range g.lines[op.OrderID] {
				g.row(Key{l.SKU, l.Location}).onHand += l.Qty
			}
		}
		delete(g.lines, op.OrderID)
	case OpRelease:
		delete(g.lines, op.OrderID)
	}
}
