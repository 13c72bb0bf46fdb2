// Package enginev2 assembles the new engine (docs/design.md, "The shape we
// are moving to") behind the interface the HTTP API uses, so the benchmark
// and the API can run it while it grows. It replaces package engine once
// channels, instances talking to each other and the suites are on it.
//
// Metrics of its own (the processors' and sinks' are listed there),
// registered on Config.Registry:
//
//	stocksync_rebalances_total{group}   counter: rebalances of the loop's group this instance went through
package enginev2

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/stocksync/stocksync/admin"
	"github.com/stocksync/stocksync/client"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/internal/owners"
	"github.com/stocksync/stocksync/internal/topics"
	"github.com/stocksync/stocksync/internal/txloop"
	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/processors"
	"github.com/stocksync/stocksync/processors/inventory"
	"github.com/stocksync/stocksync/sinks"
	"github.com/stocksync/stocksync/state"
	"github.com/stocksync/stocksync/stock"
	"github.com/stocksync/stocksync/topology"
)

// Config is what the engine needs.
type Config struct {
	Settings   *config.Config        // required
	Registry   prometheus.Registerer // required
	Logger     *slog.Logger          // default slog.Default()
	InstanceID string                // names the transactional producer; keep it stable per instance; required
	// Advertise is the base URL other instances reach this one's HTTP API
	// at; it is the loop's Kafka client id, so the group's description says
	// which instance owns which partition, and a read of a key owned
	// elsewhere answers *contract.NotOwnerError (the API forwards it).
	// Default "" (single instance: no forwarding).
	Advertise string
	// Endpoints are the marketplace settings of each channel, by name.
	Endpoints map[string]marketplace.Config
	// OnResult, if set, sees every order answer the instance reads from
	// orders.results (opsui.Orders.Observe). Default none.
	OnResult func(contract.OrderResult)
}

// maxPending bounds each pusher's values in memory (about 200 bytes each);
// the rest wait in the partitions' push states (sinks.Config.MaxPending).
const maxPending = 100_000

// Engine is one instance.
type Engine struct {
	s        *config.Config
	names    topology.Names
	catalog  *stock.Catalog
	log      *slog.Logger
	loop     *txloop.Loop
	producer *kgo.Client
	commands atomic.Pointer[client.Kafka]
	started  atomic.Bool
	timeout  time.Duration
	pushers  map[string]*sinks.Pusher
	modes    *sinks.Modes
	onResult func(contract.OrderResult)
	owners   *owners.Owners
}

// New builds the engine; Run starts it.
func New(cfg Config) (*Engine, error) {
	if cfg.Settings == nil || cfg.Registry == nil || cfg.InstanceID == "" {
		return nil, errors.New("enginev2: Settings, Registry and InstanceID are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := cfg.Settings
	e := &Engine{s: s, names: topology.New(s.Kafka.TopicPrefix), log: cfg.Logger, timeout: s.Engine.WriteTimeout.Duration,
		onResult: cfg.OnResult}
	var locs []string
	for _, l := range s.Locations {
		locs = append(locs, l.Name)
	}
	var rules []stock.ChannelRule
	for _, c := range s.Channels {
		rules = append(rules, stock.ChannelRule{Name: c.Name, Locations: c.Locations, Share: c.Share, SafetyStock: c.SafetyStock})
	}
	e.catalog = stock.NewCatalog(locs, rules)
	security, err := s.Kafka.FranzOpts()
	if err != nil {
		return nil, err
	}
	sinkMetrics := sinks.NewMetrics(cfg.Registry)
	rebalanced, err := newRebalances(cfg.Registry, string(e.names.Engine))
	if err != nil {
		return nil, err
	}
	var proc *inventory.Processor
	e.pushers = map[string]*sinks.Pusher{}
	for _, c := range s.Channels {
		adapter, err := marketplace.New(c.Marketplace, cfg.Endpoints[c.Name])
		if err != nil {
			return nil, fmt.Errorf("enginev2: channel %s: %w", c.Name, err)
		}
		e.pushers[c.Name], err = sinks.New(sinks.Config{Channel: c.Name, Adapter: adapter, Metrics: sinkMetrics, Logger: cfg.Logger,
			Unordered: c.PushOrder == config.PushAnyOrder, MaxPending: maxPending,
			Send: func(ctx context.Context, v sinks.Verdict, done func(error)) {
				if !proc.Verdict(ctx, v) {
					done(fmt.Errorf("the engine stopped before it took the verdict: %w", ctx.Err()))
					return
				}
				done(nil)
			}})
		if err != nil {
			return nil, fmt.Errorf("enginev2: channel %s: %w", c.Name, err)
		}
	}
	e.modes = sinks.NewModes(string(e.names.ChannelControl), func(ch string, manual bool) bool {
		pu := e.pushers[ch]
		if pu != nil {
			pu.SetManual(manual)
		}
		return pu != nil
	}, cfg.Logger)
	proc, err = inventory.New(inventory.Config{Names: e.names, Partitions: s.Kafka.Partitions, Catalog: e.catalog,
		Metrics: processors.NewMetrics(cfg.Registry), Logger: cfg.Logger, Pushers: e.pushers, SinkMetrics: sinkMetrics})
	if err != nil {
		return nil, err
	}
	opts := security
	if cfg.Advertise != "" {
		opts = append(opts[:len(opts):len(opts)], kgo.ClientID(cfg.Advertise))
	}
	e.loop, err = txloop.New(txloop.Config{Brokers: s.Kafka.Brokers, Group: string(e.names.Engine),
		TransactionalID: e.names.Prefix + "engine-" + cfg.InstanceID,
		Inputs:          []string{string(e.names.OrderCommands), string(e.names.StockFeed), string(e.names.EngineMessages)},
		Changelog:       string(e.names.EngineTable()), Partitions: s.Kafka.Partitions,
		Dir: filepath.Join(s.DataDir, "engine"), Handler: proc, Logger: cfg.Logger,
		Opts:    append(opts[:len(opts):len(opts)], kgo.WithHooks(rebalanced)),
		Standby: *s.Engine.StandbyReplicas > 0, SessionTimeout: s.Engine.SessionTimeout.Duration,
		TransactionTimeout: s.Engine.TransactionTimeout.Duration, Metrics: txloop.NewMetrics(cfg.Registry)})
	if err != nil {
		return nil, err
	}
	e.producer, err = kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.Kafka.Brokers...), kgo.ProducerLinger(0)}, security...)...)
	if err != nil {
		return nil, err
	}
	e.owners = owners.New(owners.Config{Admin: kadm.NewClient(e.producer), Group: string(e.names.Engine),
		Topic: string(e.names.OrderCommands), Partitions: s.Kafka.Partitions, URLOf: owners.FromClientID, Self: cfg.Advertise})
	return e, nil
}

// Run creates the topics and runs the loop until ctx ends.
func (e *Engine) Run(ctx context.Context) error {
	defer e.producer.Close()
	if err := e.topics(ctx); err != nil {
		return err
	}
	security, _ := e.s.Kafka.FranzOpts()
	k, err := client.NewKafka(ctx, client.KafkaConfig{Brokers: e.s.Kafka.Brokers, TopicPrefix: e.names.Prefix, Timeout: e.timeout,
		Opts: security, Logger: e.log, OnResult: e.onResult})
	if err != nil {
		return fmt.Errorf("enginev2: %w", err)
	}
	defer k.Close()
	e.commands.Store(k)
	g, ctx := errgroup.WithContext(ctx)
	for _, pu := range e.pushers {
		g.Go(func() error { return pu.Run(ctx) })
	}
	g.Go(func() error {
		return e.modes.Run(ctx, append([]kgo.Opt{kgo.SeedBrokers(e.s.Kafka.Brokers...)}, security...)...)
	})
	e.started.Store(true)
	g.Go(func() error { return e.loop.Run(ctx) })
	return g.Wait()
}

func (e *Engine) topics(ctx context.Context) error {
	adm := kadm.NewClient(e.producer)
	var streams []string
	for _, s := range e.names.Streams() {
		streams = append(streams, string(s))
	}
	create := func(configs map[string]*string, names ...string) error {
		res, err := adm.CreateTopics(ctx, e.s.Kafka.Partitions, e.s.Kafka.Replication, configs, names...)
		if err != nil {
			return err
		}
		for _, r := range res.Sorted() {
			if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
				return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
			}
		}
		return nil
	}
	if err := create(nil, streams...); err != nil {
		return err
	}
	if err := create(map[string]*string{"cleanup.policy": ptr("compact")}, string(e.names.ChannelControl)); err != nil {
		return err
	}
	// The table: compacted, in segments small enough to be cleaned while
	// the stock changes, tombstones of finished orders kept a day (a reader
	// restoring meanwhile sees the delete), so a rebuild reads about the
	// live set.
	if err := create(map[string]*string{
		"cleanup.policy":            ptr("compact"),
		"segment.bytes":             ptr(strconv.Itoa(64 << 20)),
		"min.cleanable.dirty.ratio": ptr("0.2"),
		"delete.retention.ms":       ptr(strconv.Itoa(24 * 3600 * 1000)),
	}, string(e.names.EngineTable())); err != nil {
		return err
	}
	// A real broker lists a topic it just created a moment later; the
	// clients started next would call it missing.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return topics.WaitLed(wctx, e.producer, append(streams, string(e.names.ChannelControl), string(e.names.EngineTable())), e.s.Kafka.Partitions)
}

func ptr(s string) *string { return &s }

// Ready is nil once every partition owned here is restored.
func (e *Engine) Ready() error {
	if !e.started.Load() {
		return errors.New("still starting: creating or checking the topics")
	}
	ready, restoring := e.loop.Status()
	if ready == 0 || restoring > 0 {
		return fmt.Errorf("still starting: %d partitions ready, %d restoring", ready, restoring)
	}
	return nil
}

// Names are the topics and groups this engine uses.
func (e *Engine) Names() topology.Names { return e.names }

// Producer is the engine's (non-transactional) franz-go client, for tools
// in the same process.
func (e *Engine) Producer() *kgo.Client { return e.producer }

// store is the store of key's partition, owned here or kept warm as a
// standby; when this instance has neither, the error says who does (*contract.NotOwnerError) or that it is
// moving (contract.ErrUnavailable).
func (e *Engine) store(key string) (*state.Partition, error) {
	if !e.started.Load() {
		return nil, fmt.Errorf("%w: the engine is still starting", contract.ErrUnavailable)
	}
	if st := e.loop.View(topology.PartitionOf(key, e.s.Kafka.Partitions)); st != nil {
		return st, nil
	}
	return nil, e.owners.NotLocal(key, errors.New("its partition is not served here"))
}

func (e *Engine) ledger(sku string) (*stock.SKU, error) {
	st, err := e.store(sku)
	if err != nil {
		return nil, err
	}
	v, err := st.Get([]byte(sku))
	if err != nil || v == nil {
		return nil, err
	}
	s, err := stock.UnmarshalSKU(v)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// Stock answers GET /v1/stock/{sku}.
func (e *Engine) Stock(_ context.Context, sku string) (contract.StockView, error) {
	s, err := e.ledger(sku)
	if err != nil {
		return contract.StockView{}, err
	}
	if s == nil {
		return contract.StockView{}, fmt.Errorf("%w: SKU %q has no stock record", contract.ErrNotFound, sku)
	}
	return e.view(sku, s), nil
}

func (e *Engine) view(sku string, s *stock.SKU) contract.StockView { return e.catalog.View(sku, s) }

// Order answers GET /v1/orders/{id}.
func (e *Engine) Order(_ context.Context, id string) (contract.OrderView, error) {
	if _, err := e.store(id); err != nil {
		return contract.OrderView{}, err // the id's partition keeps its directory entry
	}
	v, err := inventory.FindOrder(e.loop.View, e.s.Kafka.Partitions, id)
	if err != nil {
		return contract.OrderView{}, err
	}
	if v == nil {
		return contract.OrderView{}, fmt.Errorf("%w: no reservation is kept for order %q", contract.ErrNotFound, id)
	}
	return *v, nil
}

// SubmitOrder sends an order command and waits for the decision.
func (e *Engine) SubmitOrder(ctx context.Context, cmd contract.OrderCommand) (contract.OrderResult, error) {
	if err := cmd.Validate(); err != nil {
		return contract.OrderResult{}, err
	}
	k := e.commands.Load()
	if k == nil {
		return contract.OrderResult{}, fmt.Errorf("%w: the engine is still starting", contract.ErrUnavailable)
	}
	res, err := k.Submit(ctx, cmd)
	return res, client.AsAPIError(err, e.timeout, cmd)
}

// SubmitFeed sends a snapshot or adjust and waits until the store shows it.
func (e *Engine) SubmitFeed(ctx context.Context, msg contract.FeedMessage) (contract.FeedAnswer, error) {
	if err := msg.Validate(); err != nil {
		return contract.FeedAnswer{}, err
	}
	if !e.catalog.Known(msg.Location) {
		return contract.FeedAnswer{}, &contract.InvalidError{Field: "location",
			Reason: fmt.Sprintf("%q is not configured (known: %s)", msg.Location, strings.Join(e.catalog.Locations(), ", "))}
	}
	before, err := e.ledger(msg.SKU)
	if err != nil && !errors.Is(err, contract.ErrUnavailable) {
		return contract.FeedAnswer{}, err // another instance owns the SKU: the API forwards there
	}
	if err == nil && before.Applied(msg) {
		v := e.view(msg.SKU, before)
		return contract.FeedAnswer{Status: contract.FeedApplied, Ignored: true, Stock: &v}, nil
	}
	value, _ := json.Marshal(msg)
	ctx, stop := context.WithTimeout(ctx, e.timeout)
	defer stop()
	if err := e.producer.ProduceSync(ctx, &kgo.Record{Topic: string(e.names.StockFeed), Key: []byte(msg.SKU), Value: value}).FirstErr(); err != nil {
		return contract.FeedAnswer{}, fmt.Errorf("%w: sending the feed message to Kafka: %v", contract.ErrUnavailable, err)
	}
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return contract.FeedAnswer{Status: contract.FeedAccepted}, nil
		case <-tick.C:
			if s, err := e.ledger(msg.SKU); err == nil && s.Applied(msg) {
				v := e.view(msg.SKU, s)
				return contract.FeedAnswer{Status: contract.FeedApplied, Stock: &v}, nil
			}
		}
	}
}

// Locations lists the configured locations.
func (e *Engine) Locations() []contract.LocationInfo {
	out := make([]contract.LocationInfo, 0, len(e.s.Locations))
	for _, l := range e.s.Locations {
		out = append(out, contract.LocationInfo{Name: l.Name, Kind: l.Kind})
	}
	return out
}

// ConsumerGroups is the engine's one group with its loop's inputs (as New
// gives them to txloop), for the ops console's cluster view (opsui.Engine).
func (e *Engine) ConsumerGroups() []admin.GroupInputs {
	return admin.Inputs(e.names, config.BackendTxloop)
}
