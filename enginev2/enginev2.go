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
	"strings"
	"sync"
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
	"github.com/stocksync/stocksync/repartition"
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
	// OnResult, if set, sees every order answer this instance's loop
	// decided, once its transaction committed (opsui.Orders.Observe): an
	// instance sees the answers of the partitions it owns. Default none.
	OnResult func(contract.OrderResult)
}

// maxPending bounds each pusher's values in memory (about 200 bytes each);
// the rest wait in the partitions' push states (sinks.Config.MaxPending).
const maxPending = 100_000

// Engine is one instance.
type Engine struct {
	s        *config.Config
	cfg      Config
	names    topology.Names // the deployment's; gen.names has the engine group and table of the running generation
	catalog  *stock.Catalog
	log      *slog.Logger
	gen      atomic.Pointer[generation] // nil until Run found the generation
	producer *kgo.Client
	// commands carries the API's order commands over Kafka; made by the
	// first one (orders), so an instance that gets none reads no answers.
	commands struct {
		sync.Mutex
		k       *client.Kafka
		stopped bool
	}
	started  atomic.Bool
	timeout  time.Duration
	pushers  map[string]*sinks.Pusher
	modes    *sinks.Modes
	onResult func(contract.OrderResult)
	// built once, shared by the generations
	security   []kgo.Opt
	procMetric *processors.Metrics
	sinkMetric *sinks.Metrics
	loopMetric *txloop.Metrics
	rebalanced *rebalances
	// repartition is the last repartition record of the control topic;
	// switchTo asks Run to switch to a grown partition count.
	repartition atomic.Pointer[repartition.Control]
	switchTo    chan int32
}

// generation is the engine on one partition count (docs/operations.md,
// "Growing the partitions"): a repartition replaces it while the instance
// runs.
type generation struct {
	names      topology.Names
	partitions int32
	proc       *inventory.Processor
	loop       *txloop.Loop
	owners     *owners.Owners
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
	e := &Engine{s: s, cfg: cfg, names: topology.New(s.Kafka.TopicPrefix), log: cfg.Logger, timeout: s.Engine.WriteTimeout.Duration,
		onResult: cfg.OnResult, switchTo: make(chan int32, 1)}
	e.catalog = s.Catalog()
	var err error
	if e.security, err = s.Kafka.FranzOpts(); err != nil {
		return nil, err
	}
	e.sinkMetric = sinks.NewMetrics(cfg.Registry)
	e.procMetric = processors.NewMetrics(cfg.Registry)
	e.loopMetric = txloop.NewMetrics(cfg.Registry)
	if e.rebalanced, err = newRebalances(cfg.Registry, string(e.names.Engine)); err != nil {
		return nil, err
	}
	e.pushers = map[string]*sinks.Pusher{}
	for _, c := range s.Channels {
		adapter, err := marketplace.New(c.Marketplace, cfg.Endpoints[c.Name])
		if err != nil {
			return nil, fmt.Errorf("enginev2: channel %s: %w", c.Name, err)
		}
		e.pushers[c.Name], err = sinks.New(sinks.Config{Channel: c.Name, Adapter: adapter, Metrics: e.sinkMetric, Logger: cfg.Logger,
			Unordered: c.PushOrder == config.PushAnyOrder, MaxPending: maxPending,
			Send: func(ctx context.Context, v sinks.Verdict, done func(error)) {
				g := e.gen.Load()
				if g == nil || !g.proc.Verdict(ctx, v) {
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
	e.modes.Also(repartition.ControlKey, e.control)
	e.producer, err = kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.Kafka.Brokers...), kgo.ProducerLinger(0)}, e.security...)...)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// generation builds the engine for the partition count and names Run
// found.
func (e *Engine) generation(names topology.Names, partitions int32) (*generation, error) {
	s, cfg := e.s, e.cfg
	proc, err := inventory.New(inventory.Config{Names: names, Partitions: partitions, Catalog: e.catalog,
		Metrics: e.procMetric, Logger: cfg.Logger, Pushers: e.pushers, SinkMetrics: e.sinkMetric, OnAnswer: e.onResult,
		JSONOrderValues: s.Engine.OrderValues == config.OrderValuesJSON})
	if err != nil {
		return nil, err
	}
	opts := e.security
	if cfg.Advertise != "" {
		opts = append(opts[:len(opts):len(opts)], kgo.ClientID(cfg.Advertise))
	}
	loop, err := txloop.New(txloop.Config{Brokers: s.Kafka.Brokers, Group: string(names.Engine),
		TransactionalID: names.Prefix + "engine-" + cfg.InstanceID,
		Inputs:          []string{string(names.OrderCommands), string(names.StockFeed), string(names.EngineMessages)},
		Intake:          []string{string(names.OrderCommands), string(names.StockFeed)},
		FenceMarker:     e.fenceMarker,
		Changelog:       string(names.EngineTable()), Partitions: partitions,
		Dir: filepath.Join(s.DataDir, "engine"), Handler: proc, Logger: cfg.Logger,
		Opts:    append(opts[:len(opts):len(opts)], kgo.WithHooks(e.rebalanced)),
		Standby: *s.Engine.StandbyReplicas > 0, SessionTimeout: s.Engine.SessionTimeout.Duration,
		// An hour short of the table's delete.retention.ms: the brokers'
		// clocks and this host's may differ.
		StaleAfter:         topics.DeleteRetention - time.Hour,
		TransactionTimeout: s.Engine.TransactionTimeout.Duration, Metrics: e.loopMetric})
	if err != nil {
		return nil, err
	}
	own := owners.New(owners.Config{Admin: kadm.NewClient(e.producer), Group: string(names.Engine),
		Topic: string(names.OrderCommands), Partitions: partitions, URLOf: owners.FromClientID, Self: cfg.Advertise})
	return &generation{names: names, partitions: partitions, proc: proc, loop: loop, owners: own}, nil
}

// Run creates the topics and runs the loop until ctx ends, switching to a
// grown partition count when a repartition says so.
func (e *Engine) Run(ctx context.Context) error {
	defer e.producer.Close()
	if err := e.topics(ctx); err != nil {
		return err
	}
	defer e.closeOrders()
	g, ctx := errgroup.WithContext(ctx)
	for _, pu := range e.pushers {
		g.Go(func() error { return pu.Run(ctx) })
	}
	g.Go(func() error {
		return e.modes.Run(ctx, append([]kgo.Opt{kgo.SeedBrokers(e.s.Kafka.Brokers...)}, e.security...)...)
	})
	// A repartition in progress decides how the loop starts (fenced or
	// not): the control topic is read to its end first.
	select {
	case <-e.modes.CaughtUp():
	case <-ctx.Done():
		return g.Wait()
	}
	gen, err := e.find(ctx, 0)
	if err != nil {
		return err
	}
	e.gen.Store(gen)
	e.apply()
	e.started.Store(true)
	g.Go(func() error { return e.runGenerations(ctx, gen) })
	return g.Wait()
}

// find builds the generation of the partition count orders.commands has,
// waiting until it has at least want.
func (e *Engine) find(ctx context.Context, want int32) (*generation, error) {
	adm := kadm.NewClient(e.producer)
	for {
		names, p, err := topics.Generation(ctx, adm, e.names, e.s.Kafka.Partitions)
		if err != nil {
			return nil, fmt.Errorf("enginev2: %w", err)
		}
		if p >= want {
			if p != e.s.Kafka.Partitions {
				e.log.Info("enginev2: the topics were grown by a repartition; set kafka.partitions to the new count in the config",
					"partitions", p, "config", e.s.Kafka.Partitions, "group", names.Engine)
			}
			return e.generation(names, p)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runGenerations runs a generation's loop until ctx ends, or until a
// repartition's switch replaces it: the old loop leaves its group and lets
// its stores go, the new one restores the new table's partitions.
func (e *Engine) runGenerations(ctx context.Context, gen *generation) error {
	for {
		lctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- gen.loop.Run(lctx) }()
		var to int32
		select {
		case err := <-done:
			stop()
			return err
		case to = <-e.switchTo:
		}
		began := time.Now()
		stop()
		if err := <-done; err != nil {
			return err
		}
		next, err := e.find(ctx, to)
		if err != nil {
			return err
		}
		e.gen.Store(next)
		e.apply()
		e.log.Info("enginev2: switched to the grown partitions", "from", gen.partitions, "to", next.partitions,
			"group", next.names.Engine, "took", time.Since(began).Round(time.Millisecond))
		gen = next
	}
}

// control takes a repartition record of the control topic.
func (e *Engine) control(value []byte) {
	if value == nil {
		e.repartition.Store(nil)
		return
	}
	c, err := repartition.ParseControl(value)
	if err != nil {
		e.log.Warn("enginev2: ignoring a repartition record it cannot read", "err", err)
		return
	}
	e.repartition.Store(&c)
	e.apply()
}

// apply makes the running generation follow the last repartition record:
// fenced while one to more partitions fences, switching once the topics
// grew, its intake back if one was given up.
func (e *Engine) apply() {
	gen, c := e.gen.Load(), e.repartition.Load()
	if gen == nil || c == nil || c.To <= gen.partitions {
		return
	}
	switch c.Phase {
	case repartition.PhaseFence:
		gen.loop.Fence(true)
	case repartition.PhaseAbort:
		gen.loop.Fence(false)
	case repartition.PhaseSwitch:
		select {
		case e.switchTo <- c.To:
		default: // one is pending
		}
	}
}

// fenceMarker says whether a fence marker fences the loop: yes, unless the
// repartition that wrote it was given up since.
func (e *Engine) fenceMarker(id string) bool {
	c := e.repartition.Load()
	return c == nil || c.ID != id || c.Phase != repartition.PhaseAbort
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
	// The first generation's table (a repartition creates the next ones).
	if err := create(topics.TableConfigs(), string(e.names.EngineTable())); err != nil {
		return err
	}
	// A real broker lists a topic it just created a moment later; the
	// clients started next would call it missing.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Each topic keeps its own count: after a repartition the inputs have
	// more partitions than the rest, and kafka.partitions may say either.
	return topics.WaitLed(wctx, e.producer, append(streams, string(e.names.ChannelControl), string(e.names.EngineTable())), 1)
}

func ptr(s string) *string { return &s }

// Ready is nil once every partition owned here is restored.
func (e *Engine) Ready() error {
	if !e.started.Load() {
		return errors.New("still starting: creating or checking the topics")
	}
	gen := e.gen.Load()
	if gen == nil {
		return errors.New("still starting: reading the control topic")
	}
	ready, restoring := gen.loop.Status()
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
	gen := e.gen.Load()
	if gen == nil {
		return nil, fmt.Errorf("%w: the engine is still starting", contract.ErrUnavailable)
	}
	if st := gen.loop.View(topology.PartitionOf(key, gen.partitions)); st != nil {
		return st, nil
	}
	return nil, gen.owners.NotLocal(key, errors.New("its partition is not served here"))
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
	gen := e.gen.Load()
	v, err := inventory.FindOrder(gen.loop.View, gen.partitions, id)
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
	k, err := e.orders(ctx)
	if err != nil {
		return contract.OrderResult{}, err
	}
	res, err := k.Submit(ctx, cmd)
	return res, client.AsAPIError(err, e.timeout, cmd)
}

// orders is the client the API's order commands go through, made by the
// first one: its reader of orders.results is the only one an instance
// has, and one whose orders all come over Kafka needs none (the console
// counts answers where the loop decides them).
func (e *Engine) orders(ctx context.Context) (*client.Kafka, error) {
	e.commands.Lock()
	defer e.commands.Unlock()
	if e.commands.k != nil {
		return e.commands.k, nil
	}
	if !e.started.Load() || e.commands.stopped {
		return nil, fmt.Errorf("%w: the engine is still starting or has stopped", contract.ErrUnavailable)
	}
	k, err := client.NewKafka(ctx, client.KafkaConfig{Brokers: e.s.Kafka.Brokers, TopicPrefix: e.names.Prefix, Timeout: e.timeout,
		Opts: e.security, Logger: e.log})
	if err != nil {
		return nil, fmt.Errorf("%w: connecting the order client: %v", contract.ErrUnavailable, err)
	}
	e.commands.k = k
	return k, nil
}

// closeOrders closes the order client, if a command made one, when Run
// ends.
func (e *Engine) closeOrders() {
	e.commands.Lock()
	defer e.commands.Unlock()
	e.commands.stopped = true
	if e.commands.k != nil {
		e.commands.k.Close()
	}
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
	names := e.names
	if gen := e.gen.Load(); gen != nil {
		names = gen.names
	}
	return admin.Inputs(names, config.BackendTxloop)
}
