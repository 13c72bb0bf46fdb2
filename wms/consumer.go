// Package wms reads warehouse movements from a WMS's own Kafka topic, in the
// WMS's own JSON, and sends each as a stock.feed adjust whose id is the
// movement id (config.WMS says where each value is). The engine applies an
// adjust id once, so a movement delivered twice, by the WMS or by a replay
// here, moves stock once. A message that cannot be mapped goes to the DLQ
// with the reason, in the shape of the processors' dead letters; reading
// goes on.
//
// Delivery is at least once: offsets are committed after the adjusts and
// dead letters they caused are acknowledged.
//
// Metrics, registered on Config.Registry:
//
//	stocksync_wms_movements_total{topic,outcome}   counter of messages read; outcome is sent or dlq
package wms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stocksync/stocksync/config"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"
)

// Config is what the WMS consumers need.
type Config struct {
	Brokers   []string              // required
	Opts      []kgo.Opt             // TLS and SASL; default none
	Sources   []config.WMS          // validated; one consumer each
	Locations []string              // configured locations; required
	FeedTopic string                // the deployment's stock.feed; required
	DLQTopic  string                // the deployment's dlq; required
	Registry  prometheus.Registerer // required
	Logger    *slog.Logger          // default slog.Default()
	ClientID  string                // default "stocksync-wms"
}

// DeadLetter is a message on the DLQ topic; the same JSON as the
// processors' dead letters, so one tool reads them all.
type DeadLetter struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Key       string `json:"key"`
	Value     string `json:"value"`
	Reason    string `json:"reason"`
	At        string `json:"at"`
}

// Run reads every source until ctx ends; it returns nil then, or the
// error that stopped a consumer.
func Run(ctx context.Context, cfg Config) error {
	if len(cfg.Brokers) == 0 || cfg.FeedTopic == "" || cfg.DLQTopic == "" || cfg.Registry == nil {
		return errors.New("wms: Brokers, FeedTopic, DLQTopic and Registry are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "stocksync-wms"
	}
	movements := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stocksync_wms_movements_total",
		Help: "WMS movements read, by topic and outcome (sent to stock.feed, or dlq)."}, []string{"topic", "outcome"})
	if err := cfg.Registry.Register(movements); err != nil {
		return fmt.Errorf("wms: metrics: %w", err)
	}
	g, ctx := errgroup.WithContext(ctx)
	for _, src := range cfg.Sources {
		c := &consumer{cfg: cfg, src: src, mapping: NewMapping(src, cfg.Locations), log: cfg.Logger.With("wms_topic", src.Topic),
			sent: movements.WithLabelValues(src.Topic, "sent"), dlq: movements.WithLabelValues(src.Topic, "dlq")}
		g.Go(func() error { return c.run(ctx) })
	}
	return g.Wait()
}

type consumer struct {
	cfg       Config
	src       config.WMS
	mapping   *Mapping
	log       *slog.Logger
	sent, dlq prometheus.Counter
}

func (c *consumer) run(ctx context.Context) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(c.cfg.Brokers...),
		kgo.ClientID(c.cfg.ClientID),
		kgo.ConsumerGroup(c.src.Group),
		kgo.ConsumeTopics(c.src.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), // a new group misses no movement
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),                           // what is polled is sent and committed before partitions move
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), // murmur2 by SKU, like every producer of stock.feed
	}, c.cfg.Opts...)...)
	if err != nil {
		return fmt.Errorf("wms: client for %s: %w", c.src.Topic, err)
	}
	defer cl.Close()
	defer cl.AllowRebalance() // Close waits for it when a poll left the rebalance blocked
	c.log.Info("wms: reading movements", "group", c.src.Group)
	for {
		fetches := cl.PollRecords(ctx, 1000)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			c.log.Warn("wms: fetch failed; retrying", "topic", topic, "partition", p, "err", err)
		})
		var out []*kgo.Record
		var sent, dead int
		fetches.EachRecord(func(r *kgo.Record) {
			rec, ok := c.record(r)
			out = append(out, rec)
			if ok {
				sent++
			} else {
				dead++
			}
		})
		if err := c.produce(ctx, cl, out); err != nil {
			return nil // ctx ended; the uncommitted movements are read again next time
		}
		c.sent.Add(float64(sent))
		c.dlq.Add(float64(dead))
		if err := cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
			// Not fatal: the movements are read again and apply once.
			c.log.Warn("wms: committing offsets failed; those movements will be read again", "err", err)
		}
		cl.AllowRebalance()
	}
}

// record maps one message to its adjust on stock.feed, or its dead letter
// (ok false).
func (c *consumer) record(r *kgo.Record) (*kgo.Record, bool) {
	msg, at, err := c.mapping.Map(r.Value)
	if err == nil {
		value, _ := json.Marshal(msg) // a FeedMessage always encodes
		return &kgo.Record{Topic: c.cfg.FeedTopic, Key: []byte(msg.SKU), Value: value, Timestamp: at}, true
	}
	reason := "wms movement cannot be mapped: " + err.Error()
	c.log.Warn("wms: movement parked in the DLQ", "partition", r.Partition, "offset", r.Offset, "reason", reason)
	dl, _ := json.Marshal(DeadLetter{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: string(r.Key),
		Value: string(r.Value), Reason: reason, At: time.Now().UTC().Format(time.RFC3339Nano)})
	return &kgo.Record{Topic: c.cfg.DLQTopic, Key: r.Key, Value: dl}, false
}

// produce sends out until all are acknowledged, retrying (the engine may
// still be creating its topics); it fails only when ctx ends.
func (c *consumer) produce(ctx context.Context, cl *kgo.Client, out []*kgo.Record) error {
	wait := 200 * time.Millisecond
	for {
		err := cl.ProduceSync(ctx, out...).FirstErr()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.log.Warn("wms: sending movements to stock.feed failed; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
		for _, r := range out {
			r.Partition, r.Offset = 0, 0 // produced again from scratch
		}
	}
}
