package config

import (
	"fmt"
	"strings"
)

// WMS is a warehouse management system's movements topic: messages in the
// WMS's own JSON, mapped field by field to stock.feed adjusts. Each movement
// applies once, keyed by its id; a message that cannot be mapped goes to the
// DLQ with the reason.
type WMS struct {
	// Topic is the WMS's topic, named in full (the topic prefix is not
	// added). Required.
	Topic string `yaml:"topic"`
	// Group is the consumer group that reads it; default
	// "<kafka.topic_prefix>wms.<topic>".
	Group string `yaml:"group"`
	// Reason is the reason on the adjusts; default "wms".
	Reason string `yaml:"reason"`
	// Fields says where each value is in a message, as a dotted path
	// ("item.code"; a number steps into an array: "lines.0.sku").
	Fields WMSFields `yaml:"fields"`
	// Locations renames the WMS's site codes to configured locations
	// (e.g. {WH-01: msk-1}); a code not listed is used as it is. Default
	// none.
	Locations map[string]string `yaml:"locations"`
}

// WMSFields are the paths of a movement's values in the WMS's JSON.
type WMSFields struct {
	SKU      string `yaml:"sku"`      // required; a string or a number
	Location string `yaml:"location"` // required; a string or a number
	Delta    string `yaml:"delta"`    // required; a non-zero whole number (or a string of one): + in, − out
	ID       string `yaml:"id"`       // required; the movement id, a string or a number: the adjust's id
	Time     string `yaml:"time"`     // optional; RFC 3339, or unix seconds or milliseconds: the record's timestamp
}

func (c *Config) wmsDefaults() {
	for i := range c.WMS {
		w := &c.WMS[i]
		if w.Group == "" {
			w.Group = c.Kafka.TopicPrefix + "wms." + w.Topic
		}
		if w.Reason == "" {
			w.Reason = "wms"
		}
	}
}

func (c *Config) wmsValidate(known map[string]bool, bad func(path, format string, args ...any)) {
	topics := map[string]bool{}
	for i, w := range c.WMS {
		p := fmt.Sprintf("wms[%d]", i)
		switch {
		case w.Topic == "":
			bad(p+".topic", "name the WMS's movements topic")
		case topics[w.Topic]:
			bad(p+".topic", "%q is listed twice", w.Topic)
		case strings.HasPrefix(w.Topic, c.Kafka.TopicPrefix):
			bad(p+".topic", "%q is inside stocksync's topic prefix %q; the WMS writes its own topic", w.Topic, c.Kafka.TopicPrefix)
		}
		topics[w.Topic] = true
		if strings.ContainsAny(w.Reason, "\x00\r\n") || len(w.Reason) > 128 {
			bad(p+".reason", "must be at most 128 bytes without control characters")
		}
		for name, path := range map[string]string{"sku": w.Fields.SKU, "location": w.Fields.Location,
			"delta": w.Fields.Delta, "id": w.Fields.ID} {
			if path == "" {
				bad(p+".fields."+name, "give the path of the movement's %s, e.g. item.code", name)
			}
		}
		for name, path := range map[string]string{"sku": w.Fields.SKU, "location": w.Fields.Location,
			"delta": w.Fields.Delta, "id": w.Fields.ID, "time": w.Fields.Time} {
			if path != "" && (strings.HasPrefix(path, ".") || strings.HasSuffix(path, ".") || strings.Contains(path, "..")) {
				bad(p+".fields."+name, "%q is not a dotted path such as item.code", path)
			}
		}
		for code, loc := range w.Locations {
			if !known[loc] {
				bad(fmt.Sprintf("%s.locations.%s", p, code), "unknown location %q", loc)
			}
		}
	}
}
