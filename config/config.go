// Package config reads stocksync's YAML configuration and validates it as a
// whole: every problem is reported at once, each with its path in the file.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stocksync/stocksync/stock"
)

// Config is the whole configuration file.
type Config struct {
	Kafka     Kafka      `yaml:"kafka"`
	HTTP      HTTP       `yaml:"http"`
	DataDir   string     `yaml:"data_dir"` // local Pebble tables; default "./data"
	Engine    Engine     `yaml:"engine"`
	Locations []Location `yaml:"locations"`
	Channels  []Channel  `yaml:"channels"`
	WMS       []WMS      `yaml:"wms"`       // movements topics of warehouse systems; default none
	Fraud     Fraud      `yaml:"fraud"`     // anti-fraud; off by default
	Reconcile Reconcile  `yaml:"reconcile"` // drift between an ERP export and the engine; thresholds, schedule
}

// Kafka says where the brokers are and how the topics are laid out.
type Kafka struct {
	Brokers     []string `yaml:"brokers"`      // required
	TopicPrefix string   `yaml:"topic_prefix"` // default "stocksync."
	// Partitions of every topic; default 12. Instances can grow up to this
	// count, and changing it re-keys every SKU: plan it for the peak.
	Partitions  int32 `yaml:"partitions"`
	Replication int16 `yaml:"replication"` // replication factor of created topics; default 1
	TLS         TLS   `yaml:"tls"`         // default off
	SASL        SASL  `yaml:"sasl"`        // default none
}

// HTTP is the API listener and its limits.
type HTTP struct {
	Addr string `yaml:"addr"` // default "127.0.0.1:8080"
	// Advertise is the base URL other instances reach this one's API at, to
	// forward queries for the partitions it owns (e.g. http://10.0.0.7:8080;
	// in Kubernetes the pod IP). Default: the listen address, or the host
	// name when it listens on all interfaces.
	Advertise string `yaml:"advertise"`
	// RatePerS is the requests per second a token may send when its entry
	// in the tokens file has no rate_per_s; default 1000, at most 1e6.
	RatePerS float64 `yaml:"rate_per_s"`
	// MaxInFlight bounds the /v1 requests served at once, over all callers;
	// more are answered 429. Default 512, at most 1e6.
	MaxInFlight int `yaml:"max_in_flight"`
}

// Engine chooses and tunes the engine.
type Engine struct {
	// Backend is the engine an instance runs: BackendGoka (the goka
	// processors, package engine) or BackendTxloop (the transactional
	// loop, package enginev2; docs/design.md). Default BackendDefault (txloop).
	Backend       string   `yaml:"backend"`
	SweepInterval Duration `yaml:"sweep_interval"` // how often expired reservations are released; default 1s
	WriteTimeout  Duration `yaml:"write_timeout"`  // how long an HTTP write waits for the decision; default 5s
	// StandbyReplicas 1 (default) keeps, on every instance, a warm copy of
	// every partition it does not own (the store follows the changelog): a
	// takeover only catches up the last records, and stock and order reads
	// are answered from the instance's own state. 0 keeps only the owned
	// partitions; reads of others are forwarded to their owner. (New
	// engine only.)
	StandbyReplicas *int `yaml:"standby_replicas"`
	// SessionTimeout is how long the group waits for a silent instance
	// before its partitions move to the others (the failure detection of a
	// takeover). The broker bounds it from below with
	// group.min.session.timeout.ms (6s by default). Default 6s. (New engine
	// only.)
	SessionTimeout Duration `yaml:"session_timeout"`
	// TransactionTimeout bounds how long a killed instance's open
	// transaction keeps its partitions from the others: the coordinator
	// aborts it then (and checks every
	// transaction.abort.timed.out.transaction.cleanup.interval.ms, 10s by
	// default). A cycle must commit within it. Default 10s. (New engine
	// only.)
	TransactionTimeout Duration `yaml:"transaction_timeout"`
	// OrderValues is how the engine writes the orders and directory
	// entries of its table: OrderValuesBinary (default) or OrderValuesJSON,
	// as builds before 2026-12-02 wrote them. Every build since reads both.
	// Rolling from an older build, roll out with json first, then switch
	// to binary (docs/operations.md, Upgrades). (New engine only.)
	OrderValues string `yaml:"order_values"`
}

// Engine.OrderValues formats.
const (
	OrderValuesBinary = "binary"
	OrderValuesJSON   = "json"
)

// Location is a place that holds stock.
type Location struct {
	Name string `yaml:"name"`
	Kind string `yaml:"kind"` // warehouse | darkstore | store
}

// Channel is a sales channel and the rule that gives its available-to-sell:
// max(0, floor(share × Σ available over its locations) − safety_stock).
type Channel struct {
	Name        string   `yaml:"name"`
	Marketplace string   `yaml:"marketplace"` // ozon | wildberries | yandex | webhook
	Locations   []string `yaml:"locations"`
	Share       float64  `yaml:"share"`        // (0, 1]; default 1
	SafetyStock int64    `yaml:"safety_stock"` // ≥ 0; default 0
	// PushOrder is "urgent" (default): a sell-out or a sharp drop is pushed
	// before routine values and before a catalogue's first sync; or "any":
	// pending values in no particular order, as before (for comparison).
	PushOrder string   `yaml:"push_order"`
	Endpoint  Endpoint `yaml:"endpoint"`
}

// Push orders of a channel's pending values.
const (
	PushUrgentFirst = "urgent"
	PushAnyOrder    = "any"
)

// Endpoint says where a channel's marketplace is and how to sign in.
type Endpoint struct {
	// Mock starts an in-process mock of the marketplace (it behaves like the
	// real API, limits included) and pushes there: for demos and tests.
	Mock        bool   `yaml:"mock"`
	URL         string `yaml:"url"`          // the API's base URL; a webhook's full URL
	Token       string `yaml:"token"`        // API key; or token_file
	TokenFile   string `yaml:"token_file"`   // file holding the API key (preferred over token)
	ClientID    string `yaml:"client_id"`    // Ozon's Client-Id
	WarehouseID int64  `yaml:"warehouse_id"` // Ozon or Wildberries warehouse
	CampaignID  int64  `yaml:"campaign_id"`  // Yandex Market campaign
}

// Duration is a time.Duration written as "1s", "250ms" in YAML.
type Duration struct{ time.Duration }

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 500ms or 2s", n.Line, n.Value)
	}
	d.Duration = v
	return nil
}

// Load reads, defaults and validates the file at path.
func Load(path string) (*Config, error) {
	c, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// ReadFile reads and defaults the file at path without validating it, for a
// caller that overrides settings (flags, environment) and then calls
// Validate. Unknown keys are refused.
func ReadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML (unknown keys are refused), fills defaults and validates.
func Parse(data []byte) (*Config, error) {
	c, err := decode(data)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// decode decodes YAML, refusing unknown keys, and fills defaults.
func decode(data []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if err := unknownKeys(&doc, reflect.TypeFor[Config]()); err != nil {
		return nil, err
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // unknownKeys names the paths; this stays as the backstop
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	c.Defaults()
	return &c, nil
}

// Defaults fills every unset field with its default.
func (c *Config) Defaults() {
	if c.Kafka.TopicPrefix == "" {
		c.Kafka.TopicPrefix = "stocksync."
	}
	if c.Kafka.Partitions == 0 {
		c.Kafka.Partitions = 12
	}
	if c.Kafka.Replication == 0 {
		c.Kafka.Replication = 1
	}
	if c.HTTP.Addr == "" {
		c.HTTP.Addr = "127.0.0.1:8080"
	}
	if c.HTTP.RatePerS == 0 {
		c.HTTP.RatePerS = 1000
	}
	if c.HTTP.MaxInFlight == 0 {
		c.HTTP.MaxInFlight = 512
	}
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.Engine.Backend == "" {
		c.Engine.Backend = BackendDefault
	}
	if c.Engine.SweepInterval.Duration == 0 {
		c.Engine.SweepInterval.Duration = time.Second
	}
	if c.Engine.SessionTimeout.Duration == 0 {
		c.Engine.SessionTimeout.Duration = 6 * time.Second
	}
	if c.Engine.StandbyReplicas == nil {
		one := 1
		c.Engine.StandbyReplicas = &one
	}
	if c.Engine.TransactionTimeout.Duration == 0 {
		c.Engine.TransactionTimeout.Duration = 10 * time.Second
	}
	if c.Engine.WriteTimeout.Duration == 0 {
		c.Engine.WriteTimeout.Duration = 5 * time.Second
	}
	if c.Engine.OrderValues == "" {
		c.Engine.OrderValues = OrderValuesBinary
	}
	c.Fraud.Defaults()
	c.Reconcile.Defaults()
	for i := range c.Channels {
		if c.Channels[i].Share == 0 {
			c.Channels[i].Share = 1
		}
		if c.Channels[i].PushOrder == "" {
			c.Channels[i].PushOrder = PushUrgentFirst
		}
	}
	c.wmsDefaults()
}

// Validate reports every problem at once, each with its path.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if len(c.Kafka.Brokers) == 0 {
		bad("kafka.brokers", "name at least one broker, e.g. [127.0.0.1:19092]")
	}
	if c.Kafka.Partitions < 1 || c.Kafka.Partitions > 10000 {
		bad("kafka.partitions", "%d is outside 1..10000", c.Kafka.Partitions)
	}
	if c.Kafka.Replication < 1 {
		bad("kafka.replication", "%d must be at least 1", c.Kafka.Replication)
	}
	c.Kafka.TLS.validate(bad)
	c.Kafka.SASL.validate(bad)
	if math.IsNaN(c.HTTP.RatePerS) || c.HTTP.RatePerS <= 0 || c.HTTP.RatePerS > 1e6 {
		bad("http.rate_per_s", "%g is outside (0, 1e6]", c.HTTP.RatePerS)
	}
	if c.HTTP.MaxInFlight < 1 || c.HTTP.MaxInFlight > 1e6 {
		bad("http.max_in_flight", "%d is outside 1..1000000", c.HTTP.MaxInFlight)
	}
	if c.Engine.Backend != BackendGoka && c.Engine.Backend != BackendTxloop {
		bad("engine.backend", "%q is not one of %s, %s (the environment's $%s also takes v1, v2)", c.Engine.Backend, BackendGoka, BackendTxloop, EnvBackend)
	}
	if c.Engine.SweepInterval.Duration < 10*time.Millisecond {
		bad("engine.sweep_interval", "%s is below 10ms", c.Engine.SweepInterval)
	}
	if n := c.Engine.StandbyReplicas; n != nil && *n != 0 && *n != 1 {
		bad("engine.standby_replicas", "%d: want 0 (owned partitions only) or 1 (a warm copy of every other partition)", *n)
	}
	if c.Engine.SessionTimeout.Duration < time.Second {
		bad("engine.session_timeout", "%s is below 1s", c.Engine.SessionTimeout)
	}
	if c.Engine.TransactionTimeout.Duration < time.Second {
		bad("engine.transaction_timeout", "%s is below 1s", c.Engine.TransactionTimeout)
	}
	if c.Engine.WriteTimeout.Duration < 100*time.Millisecond {
		bad("engine.write_timeout", "%s is below 100ms", c.Engine.WriteTimeout)
	}
	if v := c.Engine.OrderValues; v != OrderValuesBinary && v != OrderValuesJSON {
		bad("engine.order_values", "%q: want %s (default) or %s (while builds older than 2026-12-02 still run)", v, OrderValuesBinary, OrderValuesJSON)
	}
	c.Fraud.validate(bad)
	c.Reconcile.validate(bad)
	if len(c.Locations) == 0 {
		bad("locations", "name at least one location")
	}
	known := map[string]bool{}
	for i, l := range c.Locations {
		p := fmt.Sprintf("locations[%d]", i)
		switch {
		case l.Name == "":
			bad(p+".name", "must not be empty")
		case known[l.Name]:
			bad(p+".name", "%q is listed twice", l.Name)
		}
		known[l.Name] = true
		if l.Kind != "warehouse" && l.Kind != "darkstore" && l.Kind != "store" {
			bad(p+".kind", "%q is not one of warehouse, darkstore, store", l.Kind)
		}
	}
	names := map[string]bool{}
	for i, ch := range c.Channels {
		p := fmt.Sprintf("channels[%d]", i)
		switch {
		case ch.Name == "":
			bad(p+".name", "must not be empty")
		case names[ch.Name]:
			bad(p+".name", "%q is listed twice", ch.Name)
		}
		names[ch.Name] = true
		switch ch.Marketplace {
		case "ozon", "wildberries", "yandex", "webhook":
		default:
			bad(p+".marketplace", "%q is not one of ozon, wildberries, yandex, webhook", ch.Marketplace)
		}
		if len(ch.Locations) == 0 {
			bad(p+".locations", "name at least one location")
		}
		for j, l := range ch.Locations {
			if !known[l] {
				bad(fmt.Sprintf("%s.locations[%d]", p, j), "unknown location %q", l)
			}
		}
		if ch.Share <= 0 || ch.Share > 1 {
			bad(p+".share", "%g is outside (0, 1]", ch.Share)
		}
		if ch.SafetyStock < 0 {
			bad(p+".safety_stock", "%d is negative", ch.SafetyStock)
		}
		if ch.PushOrder != PushUrgentFirst && ch.PushOrder != PushAnyOrder {
			bad(p+".push_order", "%q is not one of %s, %s", ch.PushOrder, PushUrgentFirst, PushAnyOrder)
		}
		ch.Endpoint.validate(p+".endpoint", ch.Marketplace, bad)
	}
	c.wmsValidate(known, bad)
	return errors.Join(errs...)
}

func (e Endpoint) validate(p, kind string, bad func(path, format string, args ...any)) {
	if e.Mock {
		if e.URL != "" {
			bad(p, "mock and url exclude each other")
		}
		return
	}
	if u, err := url.Parse(e.URL); e.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad(p+".url", "%q is not an http(s) URL; set url, or mock: true for a demo", e.URL)
	}
	if e.Token != "" && e.TokenFile != "" {
		bad(p, "token and token_file exclude each other")
	}
	if kind != "webhook" && e.Token == "" && e.TokenFile == "" {
		bad(p+".token", "%s needs an API key (token or token_file)", kind)
	}
	if kind == "ozon" && e.ClientID == "" {
		bad(p+".client_id", "ozon needs the seller's Client-Id")
	}
	if (kind == "ozon" || kind == "wildberries") && e.WarehouseID <= 0 {
		bad(p+".warehouse_id", "%s needs the warehouse id", kind)
	}
	if kind == "yandex" && e.CampaignID <= 0 {
		bad(p+".campaign_id", "yandex needs the campaign id")
	}
}

// APIKey returns the endpoint's token, read from token_file when set.
func (e Endpoint) APIKey() (string, error) {
	if e.TokenFile == "" {
		return e.Token, nil
	}
	b, err := os.ReadFile(e.TokenFile)
	if err != nil {
		return "", fmt.Errorf("config: endpoint token_file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Catalog is the locations and channel rules the engine decides with.
func (c *Config) Catalog() *stock.Catalog {
	var locs []string
	for _, l := range c.Locations {
		locs = append(locs, l.Name)
	}
	var rules []stock.ChannelRule
	for _, ch := range c.Channels {
		rules = append(rules, stock.ChannelRule{Name: ch.Name, Locations: ch.Locations, Share: ch.Share, SafetyStock: ch.SafetyStock})
	}
	return stock.NewCatalog(locs, rules)
}
