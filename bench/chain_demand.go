package bench

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// The chain's locations: a warehouse the marketplaces sell from, a dark
// store the app sells from, and shops that sell at the shelf.
const (
	chainWarehouse = "wh"
	chainDarkStore = "dark-1"
	chainShops     = 4
	chainZipfS     = 1.1 // the top 1% of SKUs take about a third of the demand
)

func chainLocations() []string {
	locs := []string{chainWarehouse, chainDarkStore}
	for i := range chainShops {
		locs = append(locs, fmt.Sprintf("shop-%d", i+1))
	}
	return locs
}

type eventKind uint8

const (
	evOrder   eventKind = iota // a customer order in a marketplace or the app
	evShelf                    // a sale at a shop's shelf
	evRestock                  // the ERP's delivery: every row topped up to its par
	evListing                  // the promotion's new SKUs enter the catalogue
)

// chainEvent is one thing that happens at a simulated time, the same in
// every mode.
type chainEvent struct {
	at      time.Duration
	kind    eventKind
	id      int
	channel string // evOrder
	loc     int    // evOrder, evShelf: index in chainLocations
	sku     int
	qty     int64
}

// demand is the day: the catalogue, each row's par (what the ERP stocks it
// to) and the events in time order. The first listed SKUs are there from
// the start and sold; the rest are listed with the promotion.
type demand struct {
	listed int
	skus   []string
	locs   []string
	par    [][]int64 // [sku][loc]
	events []chainEvent
}

// chainChannelLocation is the location each channel sells from.
func chainChannelLocation(ch string) int {
	if ch == "app" {
		return 1
	}
	return 0
}

// newDemand draws the day from cfg.Seed: Poisson arrivals, rates ×
// SpikeFactor during the promotion; SKUs by Zipf over rank; 1 unit (80 %)
// or 2. Pars cover 1.2× the demand expected between two deliveries outside
// the promotion, at least 2: fast SKUs sell out now and then, and many
// during the promotion.
func newDemand(cfg ChainConfig) *demand {
	d := &demand{locs: chainLocations(), listed: cfg.SKUs}
	for i := range cfg.SKUs + cfg.NewSKUs {
		d.skus = append(d.skus, fmt.Sprintf("C%06d", i))
	}
	// Zipf probabilities by rank, as rand.Zipf draws them: ∝ (1+k)^-s.
	p := make([]float64, cfg.SKUs)
	var sum float64
	for k := range p {
		p[k] = math.Pow(1+float64(k), -chainZipfS)
		sum += p[k]
	}
	const meanQty = 1.2
	perDelivery := cfg.Restock.Minutes() * meanQty
	rates := []float64{cfg.MarketplaceOrders, cfg.AppOrders, cfg.ShelfSales / chainShops, cfg.ShelfSales / chainShops,
		cfg.ShelfSales / chainShops, cfg.ShelfSales / chainShops}
	d.par = make([][]int64, len(d.skus))
	for k := range d.par {
		d.par[k] = make([]int64, len(d.locs))
		for j := range d.locs {
			if k < cfg.SKUs {
				d.par[k][j] = max(2, int64(math.Ceil(1.2*rates[j]*perDelivery*p[k]/sum)))
			} else if j == 0 {
				d.par[k][j] = 5 // a new SKU, at the warehouse: the marketplaces' first value is 5
			}
		}
	}

	rng := rand.New(rand.NewPCG(cfg.Seed, 0x636861696e)) // "chain"
	zipf := rand.NewZipf(rng, chainZipfS, 1, uint64(cfg.SKUs-1))
	qty := func() int64 {
		if rng.Float64() < 0.8 {
			return 1
		}
		return 2
	}
	rate := func(base float64, at time.Duration) float64 { // per simulated second
		if at >= cfg.SpikeAt && at < cfg.SpikeAt+cfg.SpikeFor {
			base *= cfg.SpikeFactor
		}
		return base / 60
	}
	arrivals := func(base float64, emit func(at time.Duration)) {
		for at := time.Duration(0); ; {
			at += time.Duration(rng.ExpFloat64() / rate(base, at) * float64(time.Second))
			if at >= cfg.Day {
				return
			}
			emit(at)
		}
	}
	arrivals(cfg.MarketplaceOrders, func(at time.Duration) {
		ch := marketplaceChannels[rng.IntN(len(marketplaceChannels))]
		d.events = append(d.events, chainEvent{at: at, kind: evOrder, channel: ch, loc: chainChannelLocation(ch), sku: int(zipf.Uint64()), qty: qty()})
	})
	arrivals(cfg.AppOrders, func(at time.Duration) {
		d.events = append(d.events, chainEvent{at: at, kind: evOrder, channel: "app", loc: chainChannelLocation("app"), sku: int(zipf.Uint64()), qty: qty()})
	})
	arrivals(cfg.ShelfSales, func(at time.Duration) {
		d.events = append(d.events, chainEvent{at: at, kind: evShelf, loc: 2 + rng.IntN(chainShops), sku: int(zipf.Uint64()), qty: 1})
	})
	if cfg.NewSKUs > 0 {
		d.events = append(d.events, chainEvent{at: cfg.SpikeAt, kind: evListing})
	}
	for at := cfg.Restock; at < cfg.Day; at += cfg.Restock {
		d.events = append(d.events, chainEvent{at: at, kind: evRestock})
	}
	slices.SortStableFunc(d.events, func(a, b chainEvent) int { return cmp.Compare(a.at, b.at) })
	for i := range d.events {
		d.events[i].id = i
	}
	return d
}
