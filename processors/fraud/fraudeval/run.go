package fraudeval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/processors/fraud"
)

// RunConfig is one evaluation run. Zero fields take the defaults stated.
type RunConfig struct {
	Stream StreamConfig
	// Brokers of a real Kafka; default none: an embedded kfake.
	Brokers []string
	// Prefix of the run's topics and groups; default "fraudeval-<unix ms>.",
	// so runs on a shared broker never meet.
	Prefix string
	// Rate is the events produced per second (of wall time); default 1000.
	Rate float64
	// Partitions of the run's topics; default 3.
	Partitions int32
	// Fraud is the section under test; its zero fields take the config
	// defaults (the default rules).
	Fraud config.Fraud
	// DataDir holds the run's tables; default a new temporary directory,
	// removed at the end.
	DataDir string
	// Logger; default discards.
	Logger *slog.Logger
	// Timeout bounds the wait for the processors to catch up after the last
	// event; default 2m.
	Timeout time.Duration
}

func (c *RunConfig) defaults() {
	if c.Prefix == "" {
		c.Prefix = fmt.Sprintf("fraudeval-%d.", time.Now().UnixMilli())
	}
	if c.Rate == 0 {
		c.Rate = 1000
	}
	if c.Partitions == 0 {
		c.Partitions = 3
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Minute
	}
	c.Fraud.Enabled = true
	c.Fraud.Defaults()
}

// Run generates the stream, runs it through the anti-fraud service and
// reports what it found.
func Run(ctx context.Context, cfg RunConfig) (*Report, error) {
	cfg.defaults()
	if err := cfg.Fraud.Validate(); err != nil {
		return nil, err
	}
	stream := Generate(cfg.Stream)
	broker := "kafka " + fmt.Sprint(cfg.Brokers)
	if len(cfg.Brokers) == 0 {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			return nil, fmt.Errorf("start kfake: %w", err)
		}
		defer c.Close()
		cfg.Brokers, broker = c.ListenAddrs(), "kfake"
	} else {
		defer deleteRun(cfg.Brokers, cfg.Prefix, cfg.Logger) // after the service stopped (defers run last in, first out)
	}
	if cfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "fraudeval-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		cfg.DataDir = dir
	}
	settings := &config.Config{Kafka: config.Kafka{Brokers: cfg.Brokers, TopicPrefix: cfg.Prefix, Partitions: cfg.Partitions,
		Replication: 1}, DataDir: cfg.DataDir, Fraud: cfg.Fraud}
	settings.Defaults()
	reg := prometheus.NewRegistry()
	rec := newRecorder()
	svc, err := fraud.New(fraud.Config{Settings: settings, Registry: reg, Logger: cfg.Logger,
		Scorer: fraud.Combine(fraud.NewRuleScorer(settings.Fraud), rec), DataDir: filepath.Join(cfg.DataDir, "tables")})
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(ctx)
	svcErr, svcDone := make(chan error, 1), make(chan struct{})
	go func() {
		svcErr <- svc.Run(runCtx)
		close(svcDone)
	}()
	defer func() { stop(); <-svcDone }() // tables closed before the directory or the topics go

	alerts := newAlertLog()
	consumer, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.ConsumeTopics(string(svc.Names().Alerts)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(10*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	go alerts.consume(runCtx, consumer)

	readyCtx, cancelReady := context.WithTimeout(runCtx, cfg.Timeout)
	err = svc.WaitReady(readyCtx)
	cancelReady()
	if err != nil {
		return nil, fmt.Errorf("the anti-fraud processors did not start: %w", err)
	}
	began := time.Now()
	sent, err := produce(runCtx, cfg, svc.Names(), stream)
	if err != nil {
		return nil, err
	}
	produced := time.Since(began)
	if err := waitProcessed(runCtx, reg, stream, cfg.Timeout, svcErr); err != nil {
		return nil, err
	}
	alerts.settle(time.Second)
	stop()
	if err := <-svcErr; err != nil {
		return nil, err
	}
	r := report(stream, alerts.all(), sent, rec, settings.Fraud)
	r.Broker, r.Stream, r.Rate, r.ProduceSeconds = broker, cfg.Stream, cfg.Rate, produced.Seconds()
	return r, nil
}

// produce sends the stream at cfg.Rate, keyed by customer, and returns
// when each event was handed to the client (the start of its latency).
func produce(ctx context.Context, cfg RunConfig, n fraud.Names, s *Stream) (map[string]time.Time, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.ProducerLinger(0))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	topics := map[fraud.Kind]string{fraud.KindReturns: string(n.Returns), fraud.KindLoyalty: string(n.Loyalty),
		fraud.KindSales: string(n.Sales)}
	sent := make(map[string]time.Time, len(s.Events))
	var mu sync.Mutex
	var firstErr error
	start := time.Now()
	for i, it := range s.Events {
		if due := start.Add(time.Duration(float64(i) / cfg.Rate * float64(time.Second))); time.Until(due) > time.Millisecond {
			time.Sleep(time.Until(due))
		}
		v, err := json.Marshal(it.Event)
		if err != nil {
			return nil, err
		}
		sent[it.Event.ID()] = time.Now()
		cl.Produce(ctx, &kgo.Record{Topic: topics[it.Kind], Key: []byte(it.Event.CustomerID), Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				firstErr = cmpErr(firstErr, err)
				mu.Unlock()
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	if firstErr != nil {
		return nil, fmt.Errorf("produce the stream: %w", firstErr)
	}
	return sent, nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// waitProcessed waits until the processors applied every event and every
// re-keyed refund (stocksync_fraud_events_total).
func waitProcessed(ctx context.Context, reg *prometheus.Registry, s *Stream, timeout time.Duration, svcErr <-chan error) error {
	want := float64(len(s.Events) + s.Count()[fraud.KindReturns])
	deadline := time.Now().Add(timeout)
	for {
		got := 0.0
		mfs, err := reg.Gather()
		if err != nil {
			return err
		}
		for _, mf := range mfs {
			if mf.GetName() == "stocksync_fraud_events_total" {
				for _, m := range mf.GetMetric() {
					got += m.GetCounter().GetValue()
				}
			}
		}
		if got >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s the processors took %.0f of %.0f events: too slow, or stuck (see the log)", timeout, got, want)
		}
		select {
		case err := <-svcErr:
			return fmt.Errorf("the service stopped: %w", cmpErr(err, errors.New("without an error")))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// alertLog is what the run's alerts consumer read: each alert once, with
// when it arrived.
type alertLog struct {
	mu   sync.Mutex
	seen map[string]bool
	got  []received
	last time.Time
}

type received struct {
	fraud.Alert
	At time.Time
}

func newAlertLog() *alertLog { return &alertLog{seen: map[string]bool{}} }

func (l *alertLog) consume(ctx context.Context, cl *kgo.Client) {
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		now := time.Now()
		fs.EachRecord(func(r *kgo.Record) {
			var a fraud.Alert
			if json.Unmarshal(r.Value, &a) != nil {
				return
			}
			l.mu.Lock()
			if !l.seen[a.ID] {
				l.seen[a.ID] = true
				l.got = append(l.got, received{a, now})
			}
			l.last = now
			l.mu.Unlock()
		})
	}
}

// settle waits until no alert arrived for quiet.
func (l *alertLog) settle(quiet time.Duration) {
	for {
		l.mu.Lock()
		idle := time.Since(l.last)
		l.mu.Unlock()
		if idle >= quiet {
			return
		}
		time.Sleep(quiet - idle)
	}
}

func (l *alertLog) all() []received {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]received(nil), l.got...)
}

// deleteRun removes the run's topics and groups from a shared broker; a
// failure is only logged (the prefix is the run's own).
func deleteRun(brokers []string, prefix string, log *slog.Logger) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	topics, err := adm.ListTopics(ctx)
	var names []string
	for name := range topics {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	if err == nil {
		_, err = adm.DeleteTopics(ctx, names...)
	}
	if err == nil {
		_, err = adm.DeleteGroups(ctx, prefix+"fraud.customers", prefix+"fraud.stores")
	}
	if err != nil {
		log.Warn("fraud-eval: could not delete the run's topics and groups", "prefix", prefix, "err", err)
	}
}
