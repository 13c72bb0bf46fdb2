package fraud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"time"

	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/internal/topics"
	"github.com/stocksync/stocksync/state"
)

// Config assembles anti-fraud. Zero fields take the defaults stated on them.
type Config struct {
	// Settings gives the brokers, topic prefix, partitions, data_dir and
	// the fraud section. Required, defaulted and valid (config.Parse).
	Settings *config.Config
	// Registry receives the metrics of the package doc. Required.
	Registry prometheus.Registerer
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Scorer decides the alerts; default NewRuleScorer(Settings.Fraud).
	// Combine(NewRuleScorer(…), model) adds a model beside the rules.
	Scorer Scorer
	// DataDir holds the Pebble tables; default <Settings.DataDir>/fraud.
	DataDir string
	// ProcessorOptions are appended to both processors' options (tests).
	ProcessorOptions []goka.ProcessorOption
	// Now is the wall clock of detected_at; default time.Now.
	Now func() time.Time
}

// Service runs the anti-fraud processors and the alert store, and serves
// its HTTP routes (http.go).
type Service struct {
	settings *config.Config
	names    Names
	log      *slog.Logger
	metrics  *Metrics
	sc       *scoring
	opts     []goka.ProcessorOption
	producer *kgo.Client
	alerts   *alertStore
	ready    chan struct{} // closed once both processors run their partitions
}

// New checks cfg and builds the service; nothing connects before Run.
func New(cfg Config) (*Service, error) {
	var errs []error
	if cfg.Settings == nil {
		errs = append(errs, errors.New("fraud: Config.Settings is required"))
	}
	if cfg.Registry == nil {
		errs = append(errs, errors.New("fraud: Config.Registry is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s := cfg.Settings
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Scorer == nil {
		cfg.Scorer = NewRuleScorer(s.Fraud)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(s.DataDir, "fraud")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	for _, r := range s.Fraud.Rules { // series exist from the start at 0
		for _, l := range []string{LabelFraud, LabelLegit} {
			m.Labels.WithLabelValues(r.Name, l)
		}
	}
	sb, err := state.NewBuilder(state.Options{Dir: cfg.DataDir})
	if err != nil {
		return nil, fmt.Errorf("fraud: tables in %s: %w", cfg.DataDir, err)
	}
	opts, err := gokaOptions(s.Kafka, sb, cfg.Logger)
	if err != nil {
		return nil, err
	}
	security, err := s.Kafka.FranzOpts()
	if err != nil {
		return nil, fmt.Errorf("fraud: kafka security settings: %w", err)
	}
	producer, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.Kafka.Brokers...), kgo.ClientID("stocksync-fraud"),
		kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil))}, security...)...) // murmur2 keys
	if err != nil {
		return nil, fmt.Errorf("fraud: kafka producer: %w", err)
	}
	names := NewNames(s.Kafka.TopicPrefix)
	return &Service{
		settings: s, names: names, log: cfg.Logger, metrics: m, producer: producer,
		opts: append(opts, cfg.ProcessorOptions...),
		sc: &scoring{scorer: cfg.Scorer, alpha: s.Fraud.EWMAAlpha, cooldown: s.Fraud.Cooldown.Duration,
			windows: newWindows(s.Fraud), cfg: s.Fraud, metrics: m, now: cfg.Now},
		alerts: newAlertStore(s.Fraud.MaxAlerts, m, cfg.Logger),
		ready:  make(chan struct{}),
	}, nil
}

// Names are the service's topics and groups.
func (s *Service) Names() Names { return s.names }

// Run creates the topics, then runs both processors and the alert store
// until ctx ends or one of them fails. It closes the producer on return.
// A nil *Service (anti-fraud off) returns nil at once.
func (s *Service) Run(ctx context.Context) error {
	if s == nil {
		return nil
	}
	defer s.producer.Close()
	if err := s.waitForTopics(ctx); err != nil {
		return err
	}
	p := processor{names: s.names, partitions: s.settings.Kafka.Partitions, sc: s.sc, log: s.log}
	brokers := s.settings.Kafka.Brokers
	cust, err := goka.NewProcessor(brokers, newCustomersGraph(p), s.opts...)
	if err != nil {
		return fmt.Errorf("fraud: customers processor: %w", err)
	}
	stores, err := goka.NewProcessor(brokers, newStoresGraph(p), s.opts...)
	if err != nil {
		return fmt.Errorf("fraud: stores processor: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return wrap("customers processor", cust.Run(gctx)) })
	g.Go(func() error { return wrap("stores processor", stores.Run(gctx)) })
	g.Go(func() error { return wrap("alert store", s.alerts.run(gctx, s.settings.Kafka, s.names)) })
	g.Go(func() error {
		for _, p := range []*goka.Processor{cust, stores} {
			if !waitRunning(gctx, p) {
				return nil // stopping
			}
		}
		close(s.ready)
		return nil
	})
	return g.Wait()
}

// waitRunning waits until p runs all its partitions; false when ctx ended.
// goka's WaitForReadyContext waits on the partition processors it saw when
// called, and one replaced by a rebalance never becomes ready: so each try
// is short and takes a fresh look.
func waitRunning(ctx context.Context, p *goka.Processor) bool {
	for ctx.Err() == nil {
		try, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := p.WaitForReadyContext(try)
		cancel()
		if err == nil {
			return true
		}
	}
	return false
}

// WaitReady returns once both processors have joined their group and
// recovered their tables, or with ctx's error.
func (s *Service) WaitReady(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func wrap(what string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	return fmt.Errorf("fraud: %s stopped: %w", what, err)
}

// waitForTopics creates or checks the topics, retrying while the brokers
// are unreachable, so the service can start before its cluster.
func (s *Service) waitForTopics(ctx context.Context) error {
	adm := kadm.NewClient(s.producer)
	k := s.settings.Kafka
	for {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := ensureTopics(tctx, adm, s.names, k.Partitions, k.Replication)
		if err == nil {
			// A broker may not list a topic it just created for a moment;
			// goka reads the partitions when its processors are built.
			err = topics.WaitLed(tctx, s.producer, slices.Collect(maps.Keys(s.names.topics())), k.Partitions)
		}
		cancel()
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, ErrPartitionMismatch):
			return err
		}
		s.log.Warn("fraud: waiting for Kafka to create or check the topics", "brokers", k.Brokers, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}
