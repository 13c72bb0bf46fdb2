package fraud

import (
	"github.com/stocksync/stocksync/config"
)

// storeState is a store's row in the stores table (codec.go): its recent refunds, by
// which cashier, and each cashier's own baselines.
type storeState struct {
	Seen    map[string]int64
	Refunds []refundRec
	// Own is the EWMA baseline per cashier and feature.
	Own map[string]map[string]*EWMA
	// Alerted is the event time (unix ms) each cashier/rule last alerted,
	// keyed "<cashier>\x00<rule>".
	Alerted map[string]int64
	Newest  int64
}

// init makes the maps a decoded row may lack (empty ones are omitted).
func (s *storeState) init() {
	if s.Seen == nil {
		s.Seen = map[string]int64{}
	}
	if s.Own == nil {
		s.Own = map[string]map[string]*EWMA{}
	}
	if s.Alerted == nil {
		s.Alerted = map[string]int64{}
	}
}

type refundRec struct {
	ID      string
	TS      int64
	Cashier string
}

// apply adds the refund (a return re-keyed by store) and returns its
// cashier's features and the ids of that cashier's refunds in the window.
func (s *storeState) apply(e *Event, w windows, minStoreRefunds int) (map[string]float64, []string) {
	ts := e.TS.UnixMilli()
	s.Refunds = appendBounded(s.Refunds, refundRec{ID: e.ReturnID, TS: ts, Cashier: e.Cashier})
	s.Refunds = pruneBefore(s.Refunds, s.Newest-w.returns.Milliseconds(), func(r refundRec) int64 { return r.TS })
	var mine, velocity float64
	var ids []string
	for _, r := range s.Refunds {
		if r.Cashier != e.Cashier {
			continue
		}
		mine++
		ids = append(ids, r.ID)
		if r.TS >= ts-w.velocity.Milliseconds() && r.TS <= ts {
			velocity++
		}
	}
	feats := map[string]float64{config.FeatureCashierVelocity: velocity}
	// Below minStoreRefunds a share is chance, not a measurement: it is
	// left out rather than 0, which would drag the population's median.
	if total := len(s.Refunds); total >= minStoreRefunds {
		feats[config.FeatureCashierShare] = mine / float64(total)
	}
	return feats, lastIDs(ids, e.ReturnID)
}
