package fraud

import (
	"github.com/stocksync/stocksync/config"
)

// storeState is a store's row in the stores table: its recent refunds, by
// which cashier, and each cashier's own baselines.
type storeState struct {
	Seen    map[string]int64 `json:"seen"`
	Refunds []refundRec      `json:"refunds,omitempty"`
	// Own is the EWMA baseline per cashier and feature.
	Own map[string]map[string]*EWMA `json:"own,omitempty"`
	// Alerted is the event time (unix ms) each cashier/rule last alerted,
	// keyed "<cashier>\x00<rule>".
	Alerted map[string]int64 `json:"alerted,omitempty"`
	Newest  int64            `json:"newest"`
}

type refundRec struct {
	ID      string `json:"id"`
	TS      int64  `json:"ts"`
	Cashier string `json:"cashier"`
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
	share := 0.0
	if total := len(s.Refunds); total >= minStoreRefunds {
		share = mine / float64(total)
	}
	return map[string]float64{config.FeatureCashierShare: share, config.FeatureCashierVelocity: velocity},
		lastIDs(ids, e.ReturnID)
}
