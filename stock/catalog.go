package stock

import (
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sort"
)

// ChannelRule turns location availability into a channel's available-to-sell.
type ChannelRule struct {
	Name        string
	Locations   []string
	Share       float64 // (0, 1]
	SafetyStock int64   // ≥ 0
}

// Catalog is what the ledger must know of the configuration: the locations
// that exist and the rule of each channel.
type Catalog struct {
	locations []string // sorted
	channels  map[string]ChannelRule
	names     []string      // channel names, sorted
	rules     []ChannelRule // in the order of names
}

// NewCatalog builds a catalog; without channels every reserve picks among
// all locations.
func NewCatalog(locations []string, channels []ChannelRule) *Catalog {
	c := &Catalog{locations: sortedNames(locations), channels: make(map[string]ChannelRule, len(channels))}
	for _, r := range channels {
		r.Locations = sortedNames(r.Locations)
		c.channels[r.Name] = r
		c.names = append(c.names, r.Name)
	}
	sort.Strings(c.names)
	for _, name := range c.names {
		c.rules = append(c.rules, c.channels[name])
	}
	return c
}

// Known reports whether the location exists.
func (c *Catalog) Known(location string) bool {
	_, ok := slices.BinarySearch(c.locations, location)
	return ok
}

// HasChannel reports whether the channel is configured.
func (c *Catalog) HasChannel(name string) bool {
	_, ok := c.channels[name]
	return ok
}

// Candidates are the locations a reserve for channel may take stock from:
// the channel's own, or all of them for an unnamed channel.
func (c *Catalog) Candidates(channel string) []string {
	if r, ok := c.channels[channel]; ok {
		return r.Locations
	}
	return c.locations
}

// Locations lists every location, sorted.
func (c *Catalog) Locations() []string { return c.locations }

// Channels lists the channel names, sorted.
func (c *Catalog) Channels() []string { return c.names }

// ChannelAvailable is the channel's available-to-sell of a SKU (DESIGN.md
// "Quantities"): max(0, floor(share × Σ available over its locations) −
// safety_stock). A location in shortage counts as 0, not as a debt.
func (c *Catalog) ChannelAvailable(channel string, s *SKU) int64 {
	return c.ChannelAvailableOf(channel, s.availableAt)
}

// ChannelValues is ChannelAvailable of every channel, in the order of
// Channels: what the engine computes for each SKU a cycle reads and each
// it changes.
func (c *Catalog) ChannelValues(s *SKU) []int64 {
	out := make([]int64, len(c.rules))
	for i := range c.rules {
		out[i] = c.rules[i].available(s.availableAt)
	}
	return out
}

// ChannelAvailableOf is ChannelAvailable over any source of location
// availability (a ledger, or the quantities of a stock.changes message).
func (c *Catalog) ChannelAvailableOf(channel string, available func(location string) int64) int64 {
	r, ok := c.channels[channel]
	if !ok {
		return 0
	}
	return r.available(available)
}

func (r *ChannelRule) available(available func(location string) int64) int64 {
	var sum int64
	for _, name := range r.Locations {
		sum += max(available(name), 0)
	}
	ats := int64(math.Floor(r.Share*float64(sum)+1e-9)) - r.SafetyStock
	return max(ats, 0)
}

// RulesDigest identifies the channel rules, so state computed under other
// rules can be told apart and recomputed.
func (c *Catalog) RulesDigest() uint64 {
	h := fnv.New64a()
	for _, name := range c.names {
		r := c.channels[name]
		fmt.Fprintf(h, "%s|%v|%g|%d;", r.Name, r.Locations, r.Share, r.SafetyStock)
	}
	return h.Sum64()
}
