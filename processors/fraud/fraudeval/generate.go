// Package fraudeval is make fraud-eval: it generates a labelled synthetic
// stream of sales, returns and loyalty events (normal customers, plus
// injected serial returners, cashier refund fraud, points farming and
// account-takeover redemptions), runs it through the real anti-fraud
// processors on kfake or a real broker, and reports precision and recall
// per pattern, the alert latency from event to alert, and a plot.
package fraudeval

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/stocksync/stocksync/processors/fraud"
)

// Pattern is a kind of injected fraud, the label of an entity.
type Pattern string

// The patterns; an entity without one is normal.
const (
	SerialReturner  Pattern = "serial_returner"  // customer: many returns, most without a matching sale
	CashierRefunds  Pattern = "cashier_refunds"  // cashier: refunds without sales to walk-in ids
	PointsFarming   Pattern = "points_farming"   // customer: accruals on other people's receipts, redeemed at once
	AccountTakeover Pattern = "account_takeover" // customer: a burst of redemptions at a strange store
)

// Patterns lists the patterns in report order.
var Patterns = []Pattern{SerialReturner, CashierRefunds, PointsFarming, AccountTakeover}

// StreamConfig sizes the synthetic stream.
type StreamConfig struct {
	Customers int    // normal customers (5% of them heavy shoppers who return a lot, legitimately)
	Stores    int    // stores, each with Cashiers cashiers
	Cashiers  int    // per store
	Days      int    // of event time
	Fraud     int    // injected entities per pattern
	Seed      uint64 // the same seed gives the same stream
}

// Small is the CI stream; Full the one the thresholds are chosen on.
var (
	Small = StreamConfig{Customers: 800, Stores: 8, Cashiers: 5, Days: 21, Fraud: 10, Seed: 1}
	Full  = StreamConfig{Customers: 5000, Stores: 20, Cashiers: 5, Days: 30, Fraud: 40, Seed: 1}
)

// Stream is a generated stream: events in event-time order, with the kind
// (topic) of each, and the truth: each fraudulent entity's pattern, keyed
// like alerts ("customer/<id>", "cashier/<store>/<cashier>").
type Stream struct {
	Events []Item
	Truth  map[string]Pattern
}

// Item is one event and its topic.
type Item struct {
	Kind  fraud.Kind
	Event fraud.Event
}

// EntityKey is the truth key of an alert's entity.
func EntityKey(entityType, entityID string) string { return entityType + "/" + entityID }

type gen struct {
	cfg   StreamConfig
	rng   *rand.Rand
	t0    time.Time
	items []Item
	seq   int
}

func (g *gen) id(prefix string) string {
	g.seq++
	return fmt.Sprintf("%s-%d", prefix, g.seq)
}

func (g *gen) at(day int, hour float64) time.Time {
	return g.t0.Add(time.Duration(day)*24*time.Hour + time.Duration(hour*float64(time.Hour)))
}

func (g *gen) store(i int) string          { return fmt.Sprintf("s%02d", i) }
func (g *gen) cashier(store, i int) string { return fmt.Sprintf("k%d", i) }
func (g *gen) anyCashier() string          { return g.cashier(0, g.rng.IntN(g.cfg.Cashiers)) }

func (g *gen) add(kind fraud.Kind, e fraud.Event) {
	g.items = append(g.items, Item{Kind: kind, Event: e})
}

// customer is one generated customer's profile.
type customer struct {
	id      string
	home    int
	visitP  float64 // chance of a visit per day
	returnP float64 // chance a bought line comes back
	balance int64
}

// visit makes a purchase of 1-3 lines at store, its returns in the next
// days, the accrual, and sometimes a redemption just before paying.
func (g *gen) visit(c *customer, day int, store int) {
	hour := 9 + g.rng.Float64()*11
	ts := g.at(day, hour)
	receipt := g.id("rc")
	cashier := g.anyCashier()
	var total float64
	for l := 0; l < 1+g.rng.IntN(3); l++ {
		sku := fmt.Sprintf("sku-%d", g.rng.IntN(500))
		qty := int64(1 + g.rng.IntN(2))
		amount := float64(qty) * (5 + g.rng.Float64()*95)
		total += amount
		g.add(fraud.KindSales, fraud.Event{Type: fraud.TypeSale, SaleID: g.id("sl"), Store: g.store(store), Cashier: cashier,
			CustomerID: c.id, SKU: sku, Qty: qty, Amount: round2(amount), ReceiptID: receipt, TS: ts})
		if g.rng.Float64() < c.returnP {
			back := ts.Add(time.Duration(1+g.rng.IntN(10)) * 24 * time.Hour)
			if back.Before(g.at(g.cfg.Days, 0)) {
				g.add(fraud.KindReturns, fraud.Event{Type: fraud.TypeReturn, ReturnID: g.id("rt"), Store: g.store(c.home),
					Cashier: g.anyCashier(), CustomerID: c.id, SKU: sku, Qty: qty, Amount: round2(amount), Reason: "changed mind",
					ReceiptID: receipt, TS: back})
			}
		}
	}
	if c.balance >= 300 && g.rng.Float64() < 0.3 {
		pts := 100 + g.rng.Int64N(c.balance-99)
		c.balance -= pts
		g.add(fraud.KindLoyalty, fraud.Event{Type: fraud.TypeRedemption, EventID: g.id("ly"), Store: g.store(store),
			Cashier: cashier, CustomerID: c.id, Points: pts, ReceiptID: receipt, TS: ts.Add(-time.Minute)})
	}
	pts := int64(total)
	c.balance += pts
	g.add(fraud.KindLoyalty, fraud.Event{Type: fraud.TypeAccrual, EventID: g.id("ly"), Store: g.store(store),
		Cashier: cashier, CustomerID: c.id, Points: max(pts, 1), ReceiptID: receipt, TS: ts.Add(time.Minute)})
}

func round2(v float64) float64 { return float64(int64(v*100)) / 100 }

// Generate returns the stream of cfg.
func Generate(cfg StreamConfig) *Stream {
	g := &gen{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 14)), t0: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)}
	truth := map[string]Pattern{}
	all := make([]*customer, cfg.Customers)
	for i := range all {
		c := &customer{id: fmt.Sprintf("c%05d", i), home: g.rng.IntN(cfg.Stores), visitP: 0.1 + 0.3*g.rng.Float64(), returnP: 0.04}
		if g.rng.Float64() < 0.05 { // heavy shoppers who return a lot, and are not fraud
			c.visitP, c.returnP = 0.8, 0.15
		}
		all[i] = c
	}
	// Fraud starts after a week of normal traffic: populations and own
	// histories need one to mean something.
	fraudStart := func() int { return 7 + g.rng.IntN(max(1, cfg.Days-7-7)) }
	victims := map[string]int{} // account takeover: customer → day
	for _, c := range all[:cfg.Fraud] {
		victims[c.id] = fraudStart()
		truth[EntityKey(fraud.EntityCustomer, c.id)] = AccountTakeover
	}
	for day := 0; day < cfg.Days; day++ {
		for _, c := range all {
			if g.rng.Float64() < c.visitP {
				store := c.home
				if g.rng.Float64() < 0.1 {
					store = g.rng.IntN(cfg.Stores)
				}
				g.visit(c, day, store)
			}
			if victims[c.id] == day && day > 0 {
				g.takeover(c, day)
			}
		}
	}
	for i := 0; i < cfg.Fraud; i++ {
		id := fmt.Sprintf("sr%03d", i)
		truth[EntityKey(fraud.EntityCustomer, id)] = SerialReturner
		g.serialReturner(id, fraudStart())
		id = fmt.Sprintf("pf%03d", i)
		truth[EntityKey(fraud.EntityCustomer, id)] = PointsFarming
		g.farmer(id, fraudStart())
	}
	// Cashier fraud: at most one cashier per store, so a store's share
	// still has honest cashiers to compare with.
	for i := 0; i < min(cfg.Fraud, cfg.Stores); i++ {
		store, cashier := g.store(i), g.cashier(i, g.rng.IntN(cfg.Cashiers))
		truth[EntityKey(fraud.EntityCashier, store+"/"+cashier)] = CashierRefunds
		g.cashierFraud(store, cashier, fraudStart())
	}
	slices.SortStableFunc(g.items, func(a, b Item) int { return a.Event.TS.Compare(b.Event.TS) })
	return &Stream{Events: g.items, Truth: truth}
}

// takeover: someone else redeems the balance in 3-5 goes within half an
// hour, at a store the customer does not use.
func (g *gen) takeover(c *customer, day int) {
	store := (c.home + 1 + g.rng.IntN(g.cfg.Stores-1)) % g.cfg.Stores
	ts := g.at(day, 8+g.rng.Float64()*12)
	for k := 0; k < 3+g.rng.IntN(3); k++ {
		ts = ts.Add(time.Duration(2+g.rng.IntN(8)) * time.Minute)
		g.add(fraud.KindLoyalty, fraud.Event{Type: fraud.TypeRedemption, EventID: g.id("ly"), Store: g.store(store),
			CustomerID: c.id, Points: 150 + g.rng.Int64N(400), TS: ts})
	}
}

// serialReturner returns 1-3 items a day for a week, most without a sale,
// after buying a little like anyone.
func (g *gen) serialReturner(id string, start int) {
	c := &customer{id: id, home: g.rng.IntN(g.cfg.Stores), visitP: 0.3, returnP: 0.3}
	for day := 0; day < g.cfg.Days; day++ {
		if g.rng.Float64() < c.visitP {
			g.visit(c, day, c.home)
		}
		if day < start || day >= start+7 {
			continue
		}
		for k := 0; k < 1+g.rng.IntN(3); k++ {
			receipt := ""
			if g.rng.Float64() < 0.3 {
				receipt = g.id("rc") // a receipt that sold something else
			}
			g.add(fraud.KindReturns, fraud.Event{Type: fraud.TypeReturn, ReturnID: g.id("rt"), Store: g.store(g.rng.IntN(g.cfg.Stores)),
				Cashier: g.anyCashier(), CustomerID: id, SKU: fmt.Sprintf("sku-%d", g.rng.IntN(500)), Qty: 1,
				Amount: round2(30 + g.rng.Float64()*120), Reason: "defective", ReceiptID: receipt, TS: g.at(day, 9+g.rng.Float64()*11)})
		}
	}
}

// farmer accrues points on other people's receipts, 8-15 times a day for
// five days, redeeming right after some of them.
func (g *gen) farmer(id string, start int) {
	c := &customer{id: id, home: g.rng.IntN(g.cfg.Stores), visitP: 0.25, returnP: 0.04}
	for day := 0; day < g.cfg.Days; day++ {
		if g.rng.Float64() < c.visitP {
			g.visit(c, day, c.home)
		}
		if day < start || day >= start+5 {
			continue
		}
		ts := g.at(day, 9+g.rng.Float64()*4)
		for k := 0; k < 8+g.rng.IntN(8); k++ {
			ts = ts.Add(time.Duration(5+g.rng.IntN(30)) * time.Minute)
			store := g.store(g.rng.IntN(g.cfg.Stores))
			pts := 80 + g.rng.Int64N(150)
			g.add(fraud.KindLoyalty, fraud.Event{Type: fraud.TypeAccrual, EventID: g.id("ly"), Store: store,
				Cashier: g.anyCashier(), CustomerID: id, Points: pts, ReceiptID: g.id("rc"), TS: ts})
			if g.rng.Float64() < 0.3 {
				g.add(fraud.KindLoyalty, fraud.Event{Type: fraud.TypeRedemption, EventID: g.id("ly"), Store: store,
					CustomerID: id, Points: 300 + g.rng.Int64N(400), TS: ts.Add(time.Duration(1+g.rng.IntN(4)) * time.Minute)})
			}
		}
	}
}

// cashierFraud refunds 4-8 items a day for a week to walk-in customer ids,
// without sales.
func (g *gen) cashierFraud(store, cashier string, start int) {
	for day := start; day < min(start+7, g.cfg.Days); day++ {
		for k := 0; k < 4+g.rng.IntN(5); k++ {
			g.add(fraud.KindReturns, fraud.Event{Type: fraud.TypeReturn, ReturnID: g.id("rt"), Store: store, Cashier: cashier,
				CustomerID: g.id("walkin"), SKU: fmt.Sprintf("sku-%d", g.rng.IntN(500)), Qty: 1,
				Amount: round2(50 + g.rng.Float64()*150), Reason: "defective", TS: g.at(day, 9+g.rng.Float64()*11)})
		}
	}
}

// Count returns how many events of each kind the stream holds.
func (s *Stream) Count() map[fraud.Kind]int {
	n := map[fraud.Kind]int{}
	for _, it := range s.Events {
		n[it.Kind]++
	}
	return n
}
