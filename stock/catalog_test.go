package stock

import "testing"

func TestChannelAvailable(t *testing.T) {
	cat := NewCatalog([]string{"a", "b", "c"}, []ChannelRule{
		{Name: "all", Locations: []string{"a", "b"}, Share: 1},
		{Name: "half", Locations: []string{"a", "b"}, Share: 0.5},
		{Name: "safe", Locations: []string{"a", "b"}, Share: 1, SafetyStock: 3},
		{Name: "odd", Locations: []string{"a"}, Share: 0.29},
		{Name: "ozon", Locations: []string{"a", "b"}, Share: 0.5, SafetyStock: 2},
	})
	type loc struct {
		name                        string
		onHand, reserved, committed int64
	}
	sku := func(ls ...loc) *SKU {
		s := new(SKU)
		for _, l := range ls {
			s.Locations = append(s.Locations, Location{Name: l.name, OnHand: l.onHand, Reserved: l.reserved, Committed: l.committed})
		}
		return s
	}
	tests := []struct {
		name    string
		channel string
		sku     *SKU
		want    int64
	}{
		{"share 1 sums the channel's locations", "all", sku(loc{"a", 10, 0, 0}, loc{"b", 5, 0, 0}), 15},
		{"reserved and committed units are not for sale", "all", sku(loc{"a", 10, 3, 2}, loc{"b", 5, 1, 0}), 9},
		{"a location outside the channel does not count", "all", sku(loc{"a", 10, 0, 0}, loc{"c", 100, 0, 0}), 10},
		{"share rounds down", "half", sku(loc{"a", 4, 0, 0}, loc{"b", 3, 0, 0}), 3},
		{"share without float noise: 0.29 × 100 is 29", "odd", sku(loc{"a", 100, 0, 0}), 29},
		{"safety stock is held back", "safe", sku(loc{"a", 10, 0, 0}), 7},
		{"floor at 0 when safety stock exceeds the stock", "safe", sku(loc{"a", 2, 0, 0}), 0},
		{"share then safety stock", "ozon", sku(loc{"a", 9, 0, 0}, loc{"b", 2, 0, 0}), 3},
		{"a location in shortage counts 0, not a debt", "all", sku(loc{"a", 5, 8, 0}, loc{"b", 4, 0, 0}), 4},
		{"no stock at all", "all", sku(), 0},
		{"unknown channel", "nope", sku(loc{"a", 10, 0, 0}), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := cat.ChannelAvailable(tc.channel, tc.sku); got != tc.want {
				t.Errorf("ChannelAvailable(%q) = %d, want %d", tc.channel, got, tc.want)
			}
			// ChannelValues, what the engine uses, gives each channel the
			// same, in the order of Channels.
			values := cat.ChannelValues(tc.sku)
			for i, ch := range cat.Channels() {
				if want := cat.ChannelAvailable(ch, tc.sku); values[i] != want {
					t.Errorf("ChannelValues[%d] (%s) = %d, want %d", i, ch, values[i], want)
				}
			}
		})
	}
}
