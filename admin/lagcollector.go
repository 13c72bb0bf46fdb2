package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/internal/topics"
	"github.com/stocksync/stocksync/topology"
	"github.com/twmb/franz-go/pkg/kadm"
)

// LagCollectorConfig configures a LagCollector.
type LagCollectorConfig struct {
	// Admin reaches the brokers. Required.
	Admin *kadm.Client
	// Names gives the groups and their input topics (Inputs). Required.
	Names topology.Names
	// Backend is the engine.backend whose groups are watched (Inputs);
	// default "", config.BackendDefault's.
	Backend string
	// Registry receives the metrics of the package doc. Required: the
	// global default registry is never used.
	Registry prometheus.Registerer
	// Interval between refreshes, which also bounds one refresh; default
	// 15s, at least 1s. Each refresh costs two requests per group.
	Interval time.Duration
	// Logger reports failed refreshes; default slog.Default().
	Logger *slog.Logger
}

// LagCollector exports the consumer lag of every group and partition. Run
// refreshes it; a scrape reads the last refresh and never waits for Kafka.
type LagCollector struct {
	cfg    LagCollectorConfig
	desc   *prometheus.Desc
	errors *prometheus.CounterVec

	mu    sync.Mutex
	lag   map[string][]PartitionLag // by group: the last good refresh
	names topology.Names            // the generation last found (Refresh); cfg.Names until then
}

// NewLagCollector registers the collector's metrics on cfg.Registry.
func NewLagCollector(cfg LagCollectorConfig) (*LagCollector, error) {
	if cfg.Interval == 0 {
		cfg.Interval = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	var errs []error
	if cfg.Admin == nil {
		errs = append(errs, errors.New("admin: LagCollectorConfig.Admin is required"))
	}
	if cfg.Names.Prefix == "" {
		errs = append(errs, errors.New("admin: LagCollectorConfig.Names is required (topology.New)"))
	}
	if cfg.Registry == nil {
		errs = append(errs, errors.New("admin: LagCollectorConfig.Registry is required"))
	}
	if cfg.Interval < time.Second {
		errs = append(errs, fmt.Errorf("admin: LagCollectorConfig.Interval %s is below 1s", cfg.Interval))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c := &LagCollector{
		cfg: cfg,
		desc: prometheus.NewDesc("stocksync_consumer_lag",
			"Messages of the partition the group has not committed yet (end offset minus committed offset).",
			[]string{"group", "topic", "partition"}, nil),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stocksync_consumer_lag_refresh_errors_total",
			Help: "Refreshes of a group's consumer lag that failed; its last good values stay exported.",
		}, []string{"group"}),
		lag:   map[string][]PartitionLag{},
		names: cfg.Names,
	}
	for _, in := range Inputs(cfg.Names, cfg.Backend) {
		c.errors.WithLabelValues(in.Group) // exported at 0 from the start, so increase() sees the first failure
	}
	if err := cfg.Registry.Register(c); err != nil {
		return nil, fmt.Errorf("admin: register stocksync_consumer_lag: %w", err)
	}
	if err := cfg.Registry.Register(c.errors); err != nil {
		return nil, fmt.Errorf("admin: register stocksync_consumer_lag_refresh_errors_total: %w", err)
	}
	return c, nil
}

// Run refreshes the lag at once and then every Interval until ctx ends.
func (c *LagCollector) Run(ctx context.Context) {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
			c.cfg.Logger.Warn("admin: refreshing the consumer lag failed; the metric keeps the last good values", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Refresh reads the lag of every group once, within Interval. A group that
// fails keeps its last good values and counts an error.
func (c *LagCollector) Refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Interval)
	defer cancel()
	var errs []error
	c.mu.Lock()
	names := c.names
	c.mu.Unlock()
	if c.cfg.Backend == config.BackendTxloop { // the group of the running generation, after a repartition
		n, _, err := topics.Generation(ctx, c.cfg.Admin, c.cfg.Names, 0)
		if err != nil {
			for _, in := range Inputs(names, c.cfg.Backend) {
				c.errors.WithLabelValues(in.Group).Inc()
			}
			return err
		}
		names = n
	}
	current := map[string]bool{}
	for _, in := range Inputs(names, c.cfg.Backend) {
		current[in.Group] = true
	}
	c.mu.Lock()
	c.names = names
	for g := range c.lag {
		if !current[g] {
			delete(c.lag, g) // an earlier generation's group lags for good: not a signal
		}
	}
	c.mu.Unlock()
	for _, in := range Inputs(names, c.cfg.Backend) {
		lag, err := Lag(ctx, c.cfg.Admin, in.Group, in.Topics)
		if err != nil {
			c.errors.WithLabelValues(in.Group).Inc()
			errs = append(errs, err)
			continue
		}
		c.mu.Lock()
		c.lag[in.Group] = lag
		c.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Describe implements prometheus.Collector.
func (c *LagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector: the last refresh's values.
func (c *LagCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for group, lag := range c.lag {
		for _, l := range lag {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(l.Lag),
				group, l.Topic, strconv.Itoa(int(l.Partition)))
		}
	}
}
