package wms

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
)

// Mapping turns a WMS movement, in the WMS's own JSON, into a stock.feed
// adjust whose id is the movement id: the engine applies an adjust id once,
// so a movement delivered twice moves stock once.
type Mapping struct {
	sku, location, delta, id, at []string // paths, split
	reason                       string
	locations                    map[string]string // WMS code → location
	known                        map[string]bool   // configured locations
}

// NewMapping compiles a validated config.WMS; known are the configured
// locations (a movement elsewhere cannot be mapped).
func NewMapping(w config.WMS, known []string) *Mapping {
	split := func(p string) []string {
		if p == "" {
			return nil
		}
		return strings.Split(p, ".")
	}
	m := &Mapping{sku: split(w.Fields.SKU), location: split(w.Fields.Location), delta: split(w.Fields.Delta),
		id: split(w.Fields.ID), at: split(w.Fields.Time), reason: w.Reason, locations: w.Locations, known: map[string]bool{}}
	for _, l := range known {
		m.known[l] = true
	}
	return m
}

// Map returns the adjust of one movement and its time (zero when the
// mapping has no time field), or an error saying why it cannot be mapped.
func (m *Mapping) Map(value []byte) (contract.FeedMessage, time.Time, error) {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return contract.FeedMessage{}, time.Time{}, fmt.Errorf("not JSON: %v", err)
	}
	sku, err := m.text(doc, m.sku)
	if err != nil {
		return contract.FeedMessage{}, time.Time{}, err
	}
	loc, err := m.text(doc, m.location)
	if err != nil {
		return contract.FeedMessage{}, time.Time{}, err
	}
	if renamed, ok := m.locations[loc]; ok {
		loc = renamed
	}
	if !m.known[loc] {
		return contract.FeedMessage{}, time.Time{}, fmt.Errorf("location %q is not configured (map the WMS's codes under wms[].locations)", loc)
	}
	id, err := m.text(doc, m.id)
	if err != nil {
		return contract.FeedMessage{}, time.Time{}, err
	}
	delta, err := m.integer(doc, m.delta)
	if err != nil {
		return contract.FeedMessage{}, time.Time{}, err
	}
	msg := contract.FeedMessage{Type: contract.Adjust, SKU: sku, Location: loc, Delta: delta, Reason: m.reason, ID: id}
	if err := msg.Validate(); err != nil {
		return msg, time.Time{}, fmt.Errorf("the mapped adjust is invalid: %s", strings.TrimPrefix(err.Error(), "contract: "))
	}
	var at time.Time
	if m.at != nil {
		if at, err = m.time(doc, m.at); err != nil {
			return msg, time.Time{}, err
		}
	}
	return msg, at, nil
}

// lookup follows path through objects (and arrays, by index).
func lookup(doc any, path []string) (any, error) {
	v := doc
	for i, seg := range path {
		switch node := v.(type) {
		case map[string]any:
			next, ok := node[seg]
			if !ok {
				return nil, fmt.Errorf("no field %s", strings.Join(path[:i+1], "."))
			}
			v = next
		case []any:
			n, err := strconv.Atoi(seg)
			if err != nil || n < 0 || n >= len(node) {
				return nil, fmt.Errorf("%s is an array of %d, %q is not an index in it", strings.Join(path[:i], "."), len(node), seg)
			}
			v = node[n]
		default:
			return nil, fmt.Errorf("%s is not an object", strings.Join(path[:i], "."))
		}
	}
	if v == nil {
		return nil, fmt.Errorf("field %s is null", strings.Join(path, "."))
	}
	return v, nil
}

// text reads a string, or a number as written (ids are often numeric).
func (m *Mapping) text(doc any, path []string) (string, error) {
	v, err := lookup(doc, path)
	if err != nil {
		return "", err
	}
	switch t := v.(type) {
	case string:
		return t, nil
	case json.Number:
		return t.String(), nil
	}
	return "", fmt.Errorf("field %s is %s, want a string or a number", strings.Join(path, "."), kind(v))
}

// integer reads a whole number, or a string holding one.
func (m *Mapping) integer(doc any, path []string) (int64, error) {
	v, err := lookup(doc, path)
	if err != nil {
		return 0, err
	}
	var s string
	switch t := v.(type) {
	case json.Number:
		s = t.String()
	case string:
		s = strings.TrimSpace(t)
	default:
		return 0, fmt.Errorf("field %s is %s, want a whole number", strings.Join(path, "."), kind(v))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("field %s is %q, not a whole number", strings.Join(path, "."), s)
	}
	return n, nil
}

// time reads RFC 3339, or unix seconds (below 1e11) or milliseconds.
func (m *Mapping) time(doc any, path []string) (time.Time, error) {
	v, err := lookup(doc, path)
	if err != nil {
		return time.Time{}, err
	}
	switch t := v.(type) {
	case string:
		at, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			return time.Time{}, fmt.Errorf("field %s is %q, not an RFC 3339 time", strings.Join(path, "."), t)
		}
		return at, nil
	case json.Number:
		n, err := t.Int64()
		if err != nil || n <= 0 {
			return time.Time{}, fmt.Errorf("field %s is %s, not a positive unix time", strings.Join(path, "."), t)
		}
		if n < 1e11 {
			return time.Unix(n, 0), nil
		}
		return time.UnixMilli(n), nil
	}
	return time.Time{}, fmt.Errorf("field %s is %s, want a time", strings.Join(path, "."), kind(v))
}

func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}
