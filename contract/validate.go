package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	gojson "github.com/goccy/go-json"
)

// Limits on input from outside. They bound the work and the state one message
// can cause; DESIGN.md invariant 6 sends what breaks them to the DLQ.
const (
	MaxKeyLen       = 128     // SKU, order id, location, channel, source, adjust id
	MaxLines        = 100     // lines per order
	MaxQty          = 1000000 // units per line
	MaxOnHand       = 1 << 40 // units in one snapshot
	MaxTTLS         = 7 * 24 * 3600
	DefaultTTLS     = 900
	MaxMessageBytes = 64 << 10 // 64 KiB: one command or feed message
)

// InvalidError is returned for input that breaks a rule; Field names where.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string {
	if e.Field == "" {
		return "contract: invalid input: " + e.Reason
	}
	return fmt.Sprintf("contract: invalid %s: %s", e.Field, e.Reason)
}

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// DecodeStrict decodes one JSON object into v, refusing unknown fields,
// trailing data and bodies over MaxMessageBytes.
func DecodeStrict(data []byte, v any) error {
	if len(data) > MaxMessageBytes {
		return invalid("", "message is %d bytes, the limit is %d", len(data), MaxMessageBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("", "bad JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("", "bad JSON: data after the object")
	}
	return nil
}

// relabel names field as where err, an *InvalidError, happened.
func relabel(err error, field string) error {
	if e, ok := err.(*InvalidError); ok {
		return &InvalidError{Field: field, Reason: e.Reason}
	}
	return err
}

// CheckKey checks an identifier: non-empty, valid UTF-8, at most MaxKeyLen
// bytes, no control characters.
func CheckKey(field, s string) error {
	switch {
	case s == "":
		return invalid(field, "must not be empty")
	case len(s) > MaxKeyLen:
		return invalid(field, "is %d bytes, the limit is %d", len(s), MaxKeyLen)
	case !utf8.ValidString(s):
		return invalid(field, "is not valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return invalid(field, "contains a control character")
		}
	}
	return nil
}

// DecodeOrderCommand decodes and validates a message of orders.commands.
func DecodeOrderCommand(data []byte) (OrderCommand, error) {
	if c, ok := decodeValidFast(data); ok {
		return c, nil
	}
	var c OrderCommand
	if err := DecodeStrict(data, &c); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// decodeValidFast decodes a command with goccy/go-json, four times faster
// than encoding/json here (the engine decodes every command: with
// encoding/json that was a sixth of its decision path, bench/README.md
// round 7), and reports whether it is a valid command. encoding/json stays
// the judge of everything else: a command this refuses, for whatever
// reason, is decoded again by DecodeStrict, whose verdict and error
// message stand. FuzzDecodeFastAgrees checks that what this accepts,
// encoding/json accepts as the same command.
func decodeValidFast(data []byte) (OrderCommand, bool) {
	var c OrderCommand
	// One JSON value and nothing after it, its numbers as JSON writes
	// them, its strings valid UTF-8: goccy is lenient on each (it reads
	// -00 as 0, and miscounts its offset in a string with invalid bytes).
	if len(data) > MaxMessageBytes || !utf8.Valid(data) || !json.Valid(data) {
		return c, false
	}
	// goccy refuses unknown fields only through a Decoder, which made a
	// stream and its buffer for every command (5 % of the engine's
	// decisions); plainFields refuses them here instead.
	if !plainFields(data) || gojson.Unmarshal(data, &c) != nil {
		return c, false
	}
	c.detach()
	return c, c.Validate() == nil
}

// detach copies the command's strings out of goccy's buffer into one of
// their own. goccy returns strings that point into its copy of the whole
// message, so an order id kept for a day (the retention queue, a
// reservation in a ledger, the console's history) kept the whole command
// alive with it: the engine's memory grew by about 780 bytes per order in
// the flash sale.
func (c *OrderCommand) detach() {
	var buf [16]*string
	fields := append(buf[:0], &c.Type, &c.OrderID, &c.Channel, &c.RequestID)
	for i := range c.Lines {
		fields = append(fields, &c.Lines[i].SKU, &c.Lines[i].Location)
	}
	var b strings.Builder
	n := 0
	for _, f := range fields {
		n += len(*f)
	}
	b.Grow(n)
	for _, f := range fields {
		b.WriteString(*f)
	}
	all, at := b.String(), 0
	for _, f := range fields {
		*f, at = all[at:at+len(*f)], at+len(*f)
	}
}

// plainFields reports whether data, one valid JSON value, is an object
// whose keys are all a command's, each once and written exactly as the
// contract spells it (no escapes, no other case), with lines whose
// objects have only a line's keys, each once. Anything else, even what
// encoding/json would accept, is left to encoding/json: a repeated key
// above all, since encoding/json decodes a repeated array into the
// elements the first one left (a third "lines" brought back a location
// the second had dropped; goccy starts them afresh).
func plainFields(data []byte) bool {
	s := &scanner{b: data}
	return s.object([]string{"type", "order_id", "channel", "ttl_s", "request_id", "lines"}, func(key string) bool {
		if key == "lines" {
			return s.lines()
		}
		return s.skipValue()
	})
}

// scanner walks JSON that json.Valid accepted: it checks the keys of
// objects and skips their values, nothing more.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

// at skips white space and reports whether the next byte is c.
func (s *scanner) at(c byte) bool {
	s.space()
	return s.i < len(s.b) && s.b[s.i] == c
}

// list reads an object or an array: open, items separated by commas,
// close; false if it is not one or an item says so.
func (s *scanner) list(open, close byte, item func() bool) bool {
	if !s.at(open) {
		return false
	}
	s.i++
	if s.at(close) {
		s.i++
		return true
	}
	for {
		if !item() {
			return false
		}
		if s.at(',') {
			s.i++
			continue
		}
		if s.at(close) {
			s.i++
			return true
		}
		return false
	}
}

// object reads an object whose keys are among keys, each at most once,
// calling value with each key once the scanner is at its value.
func (s *scanner) object(keys []string, value func(key string) bool) bool {
	var seen uint64
	return s.list('{', '}', func() bool {
		if !s.at('"') {
			return false
		}
		start := s.i + 1
		end := start + bytes.IndexAny(s.b[start:], `"\`)
		if end < start || s.b[end] != '"' { // an escape in a key: encoding/json's to judge
			return false
		}
		k := slices.Index(keys, string(s.b[start:end]))
		if k < 0 || seen&(1<<k) != 0 {
			return false
		}
		seen |= 1 << k
		s.i = end + 1
		if !s.at(':') {
			return false
		}
		s.i++
		return value(keys[k])
	})
}

// lines reads the value of "lines": an array's objects must have only a
// line's keys. Any other value (null, or a wrong type goccy then refuses)
// is skipped.
func (s *scanner) lines() bool {
	if !s.at('[') {
		return s.skipValue()
	}
	line := func(string) bool { return s.skipValue() }
	return s.list('[', ']', func() bool {
		if s.at('{') {
			return s.object([]string{"sku", "qty", "location"}, line)
		}
		return s.skipValue()
	})
}

// skipValue skips one value.
func (s *scanner) skipValue() bool {
	s.space()
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		return s.skipString()
	case '{', '[':
		for depth := 0; s.i < len(s.b); {
			switch s.b[s.i] {
			case '"':
				if !s.skipString() {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
		return false
	default: // a number, true, false or null
		for s.i < len(s.b) && !strings.ContainsRune(",}] \t\n\r", rune(s.b[s.i])) {
			s.i++
		}
		return true
	}
}

func (s *scanner) skipString() bool {
	for j := s.i + 1; j < len(s.b); j++ {
		switch s.b[j] {
		case '\\':
			j++
		case '"':
			s.i = j + 1
			return true
		}
	}
	return false
}

// Validate checks an order command; a reserve without ttl_s gets DefaultTTLS.
func (c *OrderCommand) Validate() error {
	if err := CheckKey("order_id", c.OrderID); err != nil {
		return err
	}
	if c.RequestID != "" {
		if err := CheckKey("request_id", c.RequestID); err != nil {
			return err
		}
	}
	switch c.Type {
	case Reserve:
	case Confirm, Release, Ship, Expire:
		if len(c.Lines) > 0 || c.TTLS != 0 {
			return invalid("type", "%s takes only order_id", c.Type)
		}
		return nil
	case "":
		return invalid("type", "must be one of reserve, confirm, release, ship")
	default:
		return invalid("type", "%q is not one of reserve, confirm, release, ship", c.Type)
	}
	if len(c.Lines) == 0 {
		return invalid("lines", "a reserve needs at least one line")
	}
	if len(c.Lines) > MaxLines {
		return invalid("lines", "%d lines, the limit is %d", len(c.Lines), MaxLines)
	}
	if c.Channel != "" {
		if err := CheckKey("channel", c.Channel); err != nil {
			return err
		}
	}
	if c.TTLS < 0 || c.TTLS > MaxTTLS {
		return invalid("ttl_s", "%d is outside 1..%d", c.TTLS, MaxTTLS)
	}
	if c.TTLS == 0 {
		c.TTLS = DefaultTTLS
	}
	// Every command is checked twice (by the client, by the engine): no
	// allocation on the way of a valid one, so the names of the fields
	// are made only for an error, and a repeated SKU is looked for among
	// the lines before (at most MaxLines²/2 comparisons) without a map.
	for i, l := range c.Lines {
		field := func(name string) string { return fmt.Sprintf("lines[%d].%s", i, name) }
		if err := CheckKey("sku", l.SKU); err != nil {
			return relabel(err, field("sku"))
		}
		if l.Qty <= 0 || l.Qty > MaxQty {
			return invalid(field("qty"), "%d is outside 1..%d", l.Qty, MaxQty)
		}
		if l.Location != "" {
			if err := CheckKey("location", l.Location); err != nil {
				return relabel(err, field("location"))
			}
		}
		if slices.ContainsFunc(c.Lines[:i], func(o Line) bool { return o.SKU == l.SKU }) {
			return invalid(field("sku"), "%q appears twice; put its quantity on one line", l.SKU)
		}
	}
	return nil
}

// DecodeFeed decodes and validates a message of stock.feed.
func DecodeFeed(data []byte) (FeedMessage, error) {
	var f FeedMessage
	if err := DecodeStrict(data, &f); err != nil {
		return f, err
	}
	return f, f.Validate()
}

// Validate checks a feed message.
func (f *FeedMessage) Validate() error {
	if err := CheckKey("sku", f.SKU); err != nil {
		return err
	}
	if err := CheckKey("location", f.Location); err != nil {
		return err
	}
	switch f.Type {
	case Snapshot:
		if f.OnHand == nil {
			return invalid("on_hand", "a snapshot needs on_hand")
		}
		if *f.OnHand < 0 || *f.OnHand > MaxOnHand {
			return invalid("on_hand", "%d is outside 0..%d", *f.OnHand, int64(MaxOnHand))
		}
		if err := CheckKey("source", f.Source); err != nil {
			return err
		}
		if f.Version <= 0 {
			return invalid("version", "must be positive (a newer snapshot has a larger version)")
		}
		if f.Delta != 0 || f.ID != "" || f.Reason != "" {
			return invalid("type", "a snapshot takes on_hand, source and version, not delta, id or reason")
		}
	case Adjust:
		if f.Delta == 0 || f.Delta > MaxOnHand || f.Delta < -MaxOnHand {
			return invalid("delta", "must be non-zero and within ±%d", int64(MaxOnHand))
		}
		if err := CheckKey("id", f.ID); err != nil {
			return err
		}
		if f.Reason != "" {
			if err := CheckKey("reason", f.Reason); err != nil {
				return err
			}
		}
		if f.OnHand != nil || f.Version != 0 || f.Source != "" {
			return invalid("type", "an adjust takes delta, reason and id, not on_hand, source or version")
		}
	default:
		return invalid("type", "%q is not one of snapshot, adjust", f.Type)
	}
	return nil
}
