package stock

import (
	"slices"

	"github.com/stocksync/stocksync/contract"
)

// View is the SKU as GET /v1/stock/{sku} shows it: per location, totals,
// and each channel's available-to-sell under the catalogue's rules.
func (c *Catalog) View(sku string, s *SKU) contract.StockView {
	v := contract.StockView{SKU: sku, Locations: make([]contract.LocationView, 0, len(s.Locations)), Channels: map[string]int64{}}
	for i := range s.Locations {
		l := &s.Locations[i]
		lv := contract.LocationView{Location: l.Name, OnHand: l.OnHand,
			Reserved: l.Reserved, Committed: l.Committed, Available: l.Available()}
		for _, sv := range l.Versions {
			if lv.Versions == nil {
				lv.Versions = make(map[string]int64, len(l.Versions))
			}
			lv.Versions[sv.Source] = sv.Version
		}
		v.Locations = append(v.Locations, lv)
		v.OnHand += l.OnHand
		v.Reserved += l.Reserved
		v.Committed += l.Committed
		v.Available += max(l.Available(), 0)
		v.Shortage = v.Shortage || l.Short() > 0
	}
	for _, name := range c.Channels() {
		v.Channels[name] = c.ChannelAvailable(name, s)
	}
	return v
}

// Applied reports whether the ledger already reflects a feed message: a
// snapshot of this version or newer from its source, or this adjust id.
func (s *SKU) Applied(msg contract.FeedMessage) bool {
	if s == nil {
		return false
	}
	if msg.Type == contract.Adjust {
		return slices.Contains(s.Adjusts, msg.ID)
	}
	l := s.Location(msg.Location)
	if l == nil {
		return false
	}
	for _, v := range l.Versions {
		if v.Source == msg.Source && v.Version >= msg.Version {
			return true
		}
	}
	return false
}
