package fraud

import (
	"slices"
	"time"

	"github.com/stocksync/stocksync/config"
)

// Entity types of an alert.
const (
	EntityCustomer = "customer" // entity_id: the customer id
	EntityCashier  = "cashier"  // entity_id: "<store>/<cashier>"
)

// Bounds on one entity's state: a customer sending more events than this
// within a window keeps the newest, and its counts saturate, not its memory.
const (
	maxRecords  = 2000 // per list (returns, loyalty, sales, refunds)
	maxEventIDs = 50   // event ids carried by one alert
	// maxSeen bounds the ids kept for dedupe per row: past it the oldest
	// tenth is forgotten (a flood of ids cannot grow a row without limit;
	// a duplicate that old has left every window but the sales one).
	maxSeen = 20000
)

// customerState is a customer's row in the customers table (codec.go).
type customerState struct {
	// Seen are the ids applied (event id → event time, unix ms), kept as
	// long as the longest window: a duplicate is dropped, not counted.
	Seen    map[string]int64
	Returns []returnRec
	Loyalty []loyaltyRec
	Sales   []saleRec
	// Own is the EWMA baseline per feature.
	Own map[string]*EWMA
	// Alerted is the event time (unix ms) each rule last alerted.
	Alerted map[string]int64
	// Newest is the newest event time seen (unix ms): windows end there.
	Newest int64
}

// init makes the maps a decoded row may lack (empty ones are omitted).
func (s *customerState) init() {
	if s.Seen == nil {
		s.Seen = map[string]int64{}
	}
	if s.Own == nil {
		s.Own = map[string]*EWMA{}
	}
	if s.Alerted == nil {
		s.Alerted = map[string]int64{}
	}
}

type returnRec struct {
	ID        string
	TS        int64
	Amount    float64
	Unmatched bool
}

type loyaltyRec struct {
	ID         string
	TS         int64
	Redemption bool
	Points     int64
}

// saleRec is a sold line a return can match; Qty is what is left to
// return.
type saleRec struct {
	Receipt string
	SKU     string
	Qty     int64
	TS      int64
}

// windows are the spans of the features, from config.Fraud.
type windows struct {
	returns, loyalty, velocity, redeemAfter, sales, dedupe time.Duration
}

func newWindows(f config.Fraud) windows {
	w := windows{returns: f.ReturnWindow.Duration, loyalty: f.LoyaltyWindow.Duration,
		velocity: f.VelocityWindow.Duration, redeemAfter: f.RedeemAfterAccrual.Duration,
		sales: f.SaleWindow.Duration}
	w.dedupe = max(w.returns, w.loyalty, w.velocity, w.redeemAfter, w.sales, f.Cooldown.Duration)
	return w
}

// outcome of admitting an event.
type outcome string

const (
	applied   outcome = "applied"
	duplicate outcome = "duplicate" // its id was applied before
	stale     outcome = "stale"     // older than every window: it could change nothing
	invalid   outcome = "invalid"   // sent to the DLQ
	rerouted  outcome = "rerouted"  // arrived on a partition its key does not hash to
)

// admitID records an event's id and says whether it is new and recent
// enough to apply.
func admitID(seen map[string]int64, newest *int64, id string, ts int64, keep time.Duration) outcome {
	if _, ok := seen[id]; ok {
		return duplicate
	}
	if ts < *newest-keep.Milliseconds() {
		return stale
	}
	seen[id] = ts
	if len(seen) > maxSeen {
		forgetOldest(seen, maxSeen/10)
	}
	if ts > *newest {
		*newest = ts
		cut := ts - keep.Milliseconds()
		for k, t := range seen {
			if t < cut {
				delete(seen, k)
			}
		}
	}
	return applied
}

// apply adds e to the state and returns the features it changed, with the
// ids of the events each window holds (for the alert).
func (s *customerState) apply(e *Event, w windows) (map[string]float64, []string) {
	ts := e.TS.UnixMilli()
	f := map[string]float64{}
	var ids []string
	switch e.Type {
	case TypeSale:
		s.Sales = appendBounded(s.Sales, saleRec{Receipt: e.ReceiptID, SKU: e.SKU, Qty: e.Qty, TS: ts})
		s.Sales = pruneBefore(s.Sales, s.Newest-w.sales.Milliseconds(), func(r saleRec) int64 { return r.TS })
		return nil, nil
	case TypeReturn:
		s.Returns = appendBounded(s.Returns, returnRec{ID: e.ReturnID, TS: ts, Amount: e.Amount, Unmatched: !s.matchSale(e)})
		s.Returns = pruneBefore(s.Returns, s.Newest-w.returns.Milliseconds(), func(r returnRec) int64 { return r.TS })
		var count, amount, unmatched, velocity float64
		for _, r := range s.Returns {
			count++
			amount += r.Amount
			if r.Unmatched {
				unmatched++
			}
			if r.TS >= ts-w.velocity.Milliseconds() && r.TS <= ts {
				velocity++
			}
			ids = append(ids, r.ID)
		}
		f[config.FeatureReturnsCount] = count
		f[config.FeatureReturnsAmount] = amount
		f[config.FeatureReturnsUnmatched] = unmatched
		f[config.FeatureReturnVelocity] = velocity
	default:
		redemption := e.Type == TypeRedemption
		var lastAccrual int64 = -1
		for _, r := range s.Loyalty {
			if !r.Redemption && r.TS <= ts {
				lastAccrual = max(lastAccrual, r.TS)
			}
		}
		s.Loyalty = appendBounded(s.Loyalty, loyaltyRec{ID: e.EventID, TS: ts, Redemption: redemption, Points: e.Points})
		s.Loyalty = pruneBefore(s.Loyalty, s.Newest-w.loyalty.Milliseconds(), func(r loyaltyRec) int64 { return r.TS })
		var points, velocity float64
		for _, r := range s.Loyalty {
			if r.Redemption != redemption {
				continue
			}
			points += float64(r.Points)
			if redemption && r.TS >= ts-w.velocity.Milliseconds() && r.TS <= ts && !s.accruedBefore(r.TS, w.redeemAfter) {
				velocity++
			}
			ids = append(ids, r.ID)
		}
		if !redemption {
			f[config.FeatureAccrualPoints] = points
			break
		}
		f[config.FeatureRedemptionPoints] = points
		f[config.FeatureRedemptionVelocity] = velocity
		soon := 0.0
		if lastAccrual >= 0 && ts-lastAccrual <= w.redeemAfter.Milliseconds() {
			soon = float64(e.Points)
		}
		f[config.FeatureRedeemAfterAccrual] = soon
	}
	return f, lastIDs(ids, e.ID())
}

// accruedBefore reports whether an accrual happened within d before ts: a
// redemption right after one is a purchase's (or farming), not a cold one.
func (s *customerState) accruedBefore(ts int64, d time.Duration) bool {
	for _, r := range s.Loyalty {
		if !r.Redemption && r.TS <= ts && ts-r.TS <= d.Milliseconds() {
			return true
		}
	}
	return false
}

// matchSale takes the returned quantity off a sale line of the same receipt
// and SKU; false when no line has enough left ("returned more than was
// bought", or never bought here).
func (s *customerState) matchSale(e *Event) bool {
	if e.ReceiptID == "" {
		return false
	}
	for i := range s.Sales {
		l := &s.Sales[i]
		if l.Receipt == e.ReceiptID && l.SKU == e.SKU && l.Qty >= e.Qty {
			l.Qty -= e.Qty
			return true
		}
	}
	return false
}

func appendBounded[T any](s []T, v T) []T {
	s = append(s, v)
	if len(s) > maxRecords {
		s = s[len(s)-maxRecords:]
	}
	return s
}

// pruneBefore drops the records older than cut; records are appended in
// arrival order, which is near event order, so it filters rather than cuts.
func pruneBefore[T any](s []T, cut int64, ts func(T) int64) []T {
	out := s[:0]
	for _, r := range s {
		if ts(r) >= cut {
			out = append(out, r)
		}
	}
	return out
}

// lastIDs returns the newest maxEventIDs ids, with the triggering one last.
func lastIDs(ids []string, trigger string) []string {
	out := make([]string, 0, min(len(ids), maxEventIDs))
	for _, id := range ids {
		if id != trigger {
			out = append(out, id)
		}
	}
	if len(out) > maxEventIDs-1 {
		out = out[len(out)-(maxEventIDs-1):]
	}
	return append(out, trigger)
}

// forgetOldest deletes the n oldest ids of seen.
func forgetOldest(seen map[string]int64, n int) {
	ts := make([]int64, 0, len(seen))
	for _, t := range seen {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	cut := ts[min(n, len(ts)-1)]
	for id, t := range seen {
		if t < cut {
			delete(seen, id)
		}
	}
}
