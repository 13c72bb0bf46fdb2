package bench

import (
	"sort"
	"strconv"

	"github.com/stocksync/stocksync/contract"
)

// Record is one command the load generator sent and what came back.
type Record struct {
	Op      Op
	Sent    int64 // ns since the run started: when it was due (open loop) or sent
	Latency int64 // ns from Sent to the answer
	Result  contract.OrderResult
	Err     bool // no answer (timeout, transport): the outcome is unknown
}

// Verdict is what Check found.
type Verdict struct {
	// OversoldUnits is Σ over rows of max(0, held − supply): held is the
	// units of accepted reserves not released, supply the starting stock
	// plus restocks and positive adjustments. Must be 0.
	OversoldUnits int64
	OversoldRows  int
	// SoldOut is the rows whose supply was entirely held at the end.
	SoldOut int
	// HeldUnits is Σ held over all rows.
	HeldUnits int64
	// Unknown is the commands without an answer: their effect cannot be
	// known, so the check is exact only when it is 0.
	Unknown int
	// Violations describe the first few oversold rows.
	Violations []string
	// Malformed counts accepted reserves whose answer did not place every
	// line at a location.
	Malformed int
}

// Check computes oversold units from the generator's record of commands and
// answers alone, trusting nothing the system says about its own stock.
//
// The bound is sound for both workloads: a reserve is only accepted when
// the row's available covers it (DESIGN.md invariant 1), and a row can
// never have held more than its start, the units the ERP restocked and the
// units the WMS added. Snapshots never overstate the shelf (the generator's
// ERP view subtracts ships as soon as they are sent), negative adjustments
// are left out of the bound (a shortage they cause is not an oversell),
// and reservations outlive the run, so none expires unseen.
func Check(cat *Catalogue, records []Record) Verdict {
	var v Verdict
	supply := map[Key]int64{}
	held := map[Key]int64{}
	placed := map[string][]contract.Line{}
	released := map[string]bool{}
	for i := range records {
		r := &records[i]
		if r.Err {
			v.Unknown++
			continue
		}
		switch r.Op.Kind {
		case OpReserve:
			if r.Result.Status != contract.StatusReserved {
				continue
			}
			if len(r.Result.Lines) != len(r.Op.Lines) {
				v.Malformed++
			}
			placed[r.Op.OrderID] = r.Result.Lines
		case OpRelease:
			if r.Result.Status == contract.StatusReleased {
				released[r.Op.OrderID] = true
			}
		case OpSnapshot:
			supply[r.Op.Key] += r.Op.Restock
		case OpAdjust:
			if r.Op.Delta > 0 {
				supply[r.Op.Key] += r.Op.Delta
			}
		}
	}
	for id, lines := range placed {
		if released[id] {
			continue
		}
		for _, l := range lines {
			if l.Location == "" {
				v.Malformed++
			}
			held[Key{l.SKU, l.Location}] += l.Qty
			v.HeldUnits += l.Qty
		}
	}
	locIndex := map[string]int{}
	for j, l := range cat.Locations {
		locIndex[l] = j
	}
	keys := make([]Key, 0, len(held))
	for k := range held {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].SKU < keys[j].SKU || keys[i].SKU == keys[j].SKU && keys[i].Location < keys[j].Location
	})
	for _, k := range keys {
		h := held[k]
		s := supply[k] + startOf(cat, k, locIndex)
		switch {
		case h > s:
			v.OversoldUnits += h - s
			v.OversoldRows++
			if len(v.Violations) < 5 {
				v.Violations = append(v.Violations, k.SKU+"@"+k.Location+": held "+itoa(h)+" of "+itoa(s))
			}
		case h == s:
			v.SoldOut++
		}
	}
	return v
}

func startOf(cat *Catalogue, k Key, locs map[string]int) int64 {
	j, ok := locs[k.Location]
	if !ok || len(k.SKU) < 2 {
		return 0
	}
	i := 0
	for _, c := range k.SKU[1:] {
		if c < '0' || c > '9' {
			return 0
		}
		i = i*10 + int(c-'0')
	}
	if i >= cat.SKUs {
		return 0
	}
	return cat.OnHand(i, j)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
