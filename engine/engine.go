// Package engine assembles stocksync: the topics, the goka processors on
// Pebble tables, the expiry sweeper, and the request/reply path the HTTP API
// uses. It is what `stocksync dev` and `stocksync serve` run.
//
// Metrics of its own (the processors' and sinks' are listed there),
// registered on Config.Registry:
//
//	stocksync_rebalances_total{group}   counter: rebalances this instance went through, by consumer group
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rcrowley/go-metrics"
	"github.com/stocksync/stocksync/client"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/internal/owners"
	"github.com/stocksync/stocksync/internal/topics"
	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/processors"
	"github.com/stocksync/stocksync/sinks"
	"github.com/stocksync/stocksync/state"
	"github.com/stocksync/stocksync/stock"
	"github.com/stocksync/stocksync/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"
)

// Config is what the engine needs.
type Config struct {
	Settings *config.Config        // the validated configuration file; required
	Registry prometheus.Registerer // where the metrics go; required
	Logger   *slog.Logger          // default slog.Default()
	// InstanceID names this instance's Kafka clients; default host-pid.
	InstanceID string
	// Advertise is the base URL other instances use to reach this one's HTTP
	// API (e.g. http://10.0.0.7:8080); they forward queries for partitions
	// this instance owns there. Default "" (single instance: no forwarding).
	Advertise string
	// Endpoints are the marketplace settings of each channel, by channel
	// name (base URL, credentials, warehouse or campaign ids).
	Endpoints map[string]marketplace.Config
	// OnResult, if set, sees every order answer the instance reads from
	// orders.results (opsui.Orders.Observe). Default none.
	OnResult func(contract.OrderResult)
}

// Engine is one running stocksync instance.
type Engine struct {
	cfg                      config.Kafka
	settings                 *config.Config
	names                    topology.Names
	catalog                  *stock.Catalog
	log                      *slog.Logger
	hasher                   func() hash.Hash32
	storage                  storage.Builder
	metrics                  *processors.Metrics
	producer                 *kgo.Client
	commands                 *client.Kafka // HTTP order commands: sent, and their answers awaited
	expiry                   *processors.Expiry
	inventory                *processor
	orders                   *processor
	started                  atomic.Bool // topics exist and the processors are built
	instanceID               string
	advertise                string
	security                 []kgo.Opt // TLS and SASL for the franz-go clients
	stockOwners, orderOwners *owners.Owners

	channelsProc  *processor
	channelOwners *owners.Owners
	channels      map[string]*channel
	pushers       atomic.Pointer[map[string]*sinks.Pusher] // by channel; set once the processors are defined
	sinkMetrics   *sinks.Metrics
	endpoints     map[string]marketplace.Config
	modes         *sinks.Modes  // channel modes from channels.control
	recompute     chan struct{} // a partition of the channels table was recovered
	timeout       time.Duration
	onResult      func(contract.OrderResult)
	rebalances    *prometheus.CounterVec // stocksync_rebalances_total{group}
}

// New builds an engine; Run starts it.
func New(cfg Config) (*Engine, error) {
	if cfg.Settings == nil || cfg.Registry == nil {
		return nil, errors.New("engine: Settings and Registry are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// sarama records go-metrics for every request and message, which nobody
	// reads here (about 4% of the CPU of a busy instance); it is a global,
	// written only once: a second engine in the process (tests) must not
	// write it while the first one's sarama reads it.
	if !metrics.UseNilMetrics {
		metrics.UseNilMetrics = true
	}
	if cfg.InstanceID == "" {
		host, _ := os.Hostname()
		cfg.InstanceID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	s := cfg.Settings
	e := &Engine{
		cfg:         s.Kafka,
		settings:    s,
		names:       topology.New(s.Kafka.TopicPrefix),
		catalog:     s.Catalog(),
		log:         cfg.Logger,
		hasher:      topology.NewHasher,
		metrics:     processors.NewMetrics(cfg.Registry),
		timeout:     s.Engine.WriteTimeout.Duration,
		instanceID:  cfg.InstanceID,
		advertise:   cfg.Advertise,
		channels:    map[string]*channel{},
		sinkMetrics: sinks.NewMetrics(cfg.Registry),
		endpoints:   cfg.Endpoints,
		recompute:   make(chan struct{}, 1),
		onResult:    cfg.OnResult,
		rebalances: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stocksync_rebalances_total",
			Help: "Rebalances this instance went through, by consumer group."}, []string{"group"}),
	}
	if err := cfg.Registry.Register(e.rebalances); err != nil {
		return nil, fmt.Errorf("engine: register stocksync_rebalances_total: %w", err)
	}
	var err error
	if e.security, err = s.Kafka.FranzOpts(); err != nil {
		return nil, fmt.Errorf("engine: kafka security settings: %w", err)
	}
	if e.producer, err = newProducer(s.Kafka.Brokers, "stocksync-"+cfg.InstanceID, e.security); err != nil {
		return nil, fmt.Errorf("engine: kafka producer: %w", err)
	}
	adm := kadm.NewClient(e.producer)
	group := func(g goka.Group, input goka.Stream) *owners.Owners {
		return owners.New(owners.Config{Admin: adm, Group: string(g), Topic: string(input), Partitions: s.Kafka.Partitions,
			URLOf: owners.FromUserData, Self: cfg.Advertise})
	}
	e.stockOwners = group(e.names.Inventory, e.names.StockFeed)
	e.orderOwners = group(e.names.Orders, e.names.OrderCommands)
	e.channelOwners = group(e.names.Channels, e.names.StockChanges)
	for _, c := range s.Channels {
		e.channels[c.Name] = &channel{name: c.Name, marketplace: c.Marketplace}
	}
	// Labelled series exist from the start at 0, so rates and alerts see
	// their first increase and dashboards show 0 rather than "no data".
	for _, l := range s.Locations {
		e.metrics.Shortages.WithLabelValues(l.Name)
	}
	for _, c := range s.Channels {
		e.sinkMetrics.DLQ.WithLabelValues(c.Name)
		e.sinkMetrics.Circuit.WithLabelValues(c.Name).Set(0)
		e.sinkMetrics.Manual.WithLabelValues(c.Name).Set(0)
		e.sinkMetrics.Pending.WithLabelValues(c.Name).Set(0)
	}
	e.modes = sinks.NewModes(string(e.names.ChannelControl), func(name string, manual bool) bool {
		ch := e.channels[name]
		if ch == nil || ch.pusher == nil {
			return false
		}
		ch.pusher.SetManual(manual)
		return true
	}, e.log)
	e.expiry = &processors.Expiry{Send: e.sendExpire, Interval: s.Engine.SweepInterval.Duration, Metrics: e.metrics, Logger: e.log}
	ordersTable := string(e.names.OrdersTable())
	channelsTable := string(e.names.ChannelsTable())
	e.storage, err = state.NewBuilder(state.Options{
		Dir: filepath.Join(s.DataDir, "tables"),
		OnRecovered: func(topic string, partition int32, st storage.Storage) {
			if topic == channelsTable {
				e.onChannelsRecovered(partition, st)
				return
			}
			if topic == ordersTable {
				if err := e.expiry.Seed(partition, st); err != nil {
					e.log.Error("expiry: reading reservations of a recovered partition", "partition", partition, "err", err)
				}
			}
		},
		OnClose: func(topic string, partition int32) {
			if topic == ordersTable {
				e.expiry.Forget(partition)
			}
			if pushers := e.pushers.Load(); topic == channelsTable && pushers != nil {
				for _, p := range *pushers {
					p.Forget(partition)
				}
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	return e, nil
}

// defineProcessors says how to build each goka processor; goka checks their
// topics when they are built, so they are built in Run, once the topics exist.
func (e *Engine) defineProcessors() error {
	s := e.settings
	opts, err := e.gokaOptions()
	if err != nil {
		return err
	}
	base := func(group string) []goka.ProcessorOption {
		return append(opts[:len(opts):len(opts)], goka.WithClientID(group+"-"+e.instanceID))
	}
	e.inventory = &processor{name: "inventory", build: func() (*goka.Processor, error) {
		return processors.NewInventory(processors.InventoryConfig{
			Names: e.names, Brokers: s.Kafka.Brokers, Partitions: s.Kafka.Partitions,
			Catalog: e.catalog, Metrics: e.metrics, Logger: e.log,
		}, base("inventory")...)
	}}
	e.orders = &processor{name: "orders", build: func() (*goka.Processor, error) {
		return processors.NewOrders(processors.OrdersConfig{
			Names: e.names, Brokers: s.Kafka.Brokers, Partitions: s.Kafka.Partitions,
			Catalog: e.catalog, Metrics: e.metrics, Expiry: e.expiry, Logger: e.log,
		}, base("orders")...)
	}}
	return e.defineChannels(base)
}

// Names are the topics and groups this engine uses.
func (e *Engine) Names() topology.Names { return e.names }

// Producer is the engine's franz-go client, for tools in the same process.
func (e *Engine) Producer() *kgo.Client { return e.producer }

// Run creates the topics, starts the processors, the sweeper and the results
// listener, and blocks until ctx ends or one of them fails.
func (e *Engine) Run(ctx context.Context) error {
	defer e.producer.Close()
	if err := e.waitForTopics(ctx); err != nil {
		return err
	}
	commands, err := client.NewKafka(ctx, client.KafkaConfig{Brokers: e.cfg.Brokers, TopicPrefix: e.names.Prefix,
		Timeout: e.timeout, ClientID: "stocksync-api-" + e.instanceID, Opts: e.security, Logger: e.log, OnResult: e.onResult,
		KeyByOrderID: true}) // its orders processor is keyed by order id
	if err != nil {
		return fmt.Errorf("engine: listening on %s: %w", e.names.OrderResults, err)
	}
	defer commands.Close()
	e.commands = commands
	if err := e.defineProcessors(); err != nil {
		return err
	}
	e.started.Store(true)
	g, ctx := errgroup.WithContext(ctx)
	// The processors stop only once a visit of the channels table in
	// flight has ended (at most visitGrace later): goka's
	// VisitAllWithStats reads its count of visited keys without the
	// atomics its partitions add to it with, and a visit cut short by a
	// stop leaves partitions adding while it reads (the race detector
	// caught it at an instance's shutdown in the integration suite).
	procCtx, stopProcs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopProcs()
	visiting := make(chan struct{})
	go func() {
		<-ctx.Done()
		select {
		case <-visiting:
		case <-time.After(visitGrace):
		}
		stopProcs()
	}()
	for _, p := range e.processors() {
		g.Go(func() error { return p.run(procCtx, e.log) })
	}
	g.Go(func() error { return e.expiry.Run(ctx) })
	e.runChannels(ctx, func(name string, f func(context.Context) error) {
		g.Go(func() error { return wrap(name, f(ctx)) })
	})
	g.Go(func() error {
		defer close(visiting)
		return e.recomputeChannels(ctx)
	})
	return g.Wait()
}

// visitGrace bounds how long a stop waits for a visit of the channels
// table to finish before the processors stop anyway.
const visitGrace = 10 * time.Second

func wrap(what string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	return fmt.Errorf("engine: %s stopped: %w", what, err)
}

// waitForTopics creates or checks the topics, retrying while the brokers are
// unreachable so an engine can start before its cluster.
func (e *Engine) waitForTopics(ctx context.Context) error {
	adm := kadm.NewClient(e.producer)
	var names []string
	tables := map[string]bool{}
	for _, s := range e.names.Streams() {
		names = append(names, string(s))
	}
	for _, t := range e.names.Tables() {
		names = append(names, string(t))
		tables[string(t)] = true
	}
	for {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := ensureTopics(tctx, adm, names, tables, e.cfg.Partitions, e.cfg.Replication)
		if err == nil {
			// goka reads topic metadata when its processors are built; a
			// broker may not list a topic it just created for a moment.
			err = topics.WaitLed(tctx, e.producer, names, e.cfg.Partitions)
		}
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrPartitionMismatch) {
			return err
		}
		e.log.Warn("engine: waiting for Kafka to create or check the topics", "brokers", e.cfg.Brokers, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// sendExpire produces the sweeper's expire command for an order.
func (e *Engine) sendExpire(ctx context.Context, orderID string) error {
	value, err := json.Marshal(contract.OrderCommand{Type: contract.Expire, OrderID: orderID})
	if err != nil {
		return err
	}
	rec := &kgo.Record{Topic: string(e.names.OrderCommands), Key: []byte(orderID), Value: value}
	return e.producer.ProduceSync(ctx, rec).FirstErr()
}

// recomputeChannels visits the SKUs of the channels table whenever
// partitions of it were recovered here (at start and after a rebalance), so
// channel rules changed since they were computed take effect on all stock,
// not only on SKUs that change from now on. The visitor skips SKUs computed
// under the current rules.
func (e *Engine) recomputeChannels(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-e.recompute:
		}
		// Partitions recover together: one visit for the lot.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
		select {
		case <-e.recompute:
		default:
		}
		start := time.Now()
		// Not cut short by ctx: the processors wait for it (Run).
		n, err := e.channelsProc.VisitAll(context.WithoutCancel(ctx), "recompute", nil)
		if err != nil && ctx.Err() == nil {
			e.log.Warn("channels: checking the SKUs against the channel rules was interrupted; it runs again at the next rebalance", "err", err)
			continue
		}
		e.log.Info("channels: checked the SKUs against the channel rules", "skus", n, "took", time.Since(start).Round(time.Millisecond))
	}
}

// processors lists every goka processor of this engine.
func (e *Engine) processors() []*processor {
	return []*processor{e.inventory, e.orders, e.channelsProc}
}
