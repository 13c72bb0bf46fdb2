package engine

import (
	"hash"

	"context"
	"errors"
	"fmt"
	"github.com/stocksync/stocksync/config"
	"log/slog"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// saramaConfig is goka's client configuration, tuned for latency: goka's
// defaults (100 ms producer flush, new groups starting at the newest offset)
// would add delay or lose input. Every call returns a new config: goka's
// builders write into the one they are given.
//
// advertise, the base URL of this instance's HTTP API, goes into the group
// member metadata, where other instances find the owner of a partition.
func saramaConfig(k config.Kafka, advertise string) (*sarama.Config, error) {
	c := goka.DefaultConfig()
	c.Consumer.Group.Member.UserData = []byte(advertise)
	// 2.1 is the oldest protocol Kafka 4 still serves and the newest kfake
	// decodes cleanly for sarama's group requests.
	c.Version = sarama.V2_1_0_0
	// A new group reads its inputs from the start: nothing accepted is skipped.
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
	// A killed instance is noticed after the session timeout; 6 s is the
	// broker's default minimum (group.min.session.timeout.ms).
	c.Consumer.Group.Session.Timeout = 6 * time.Second
	c.Consumer.Group.Heartbeat.Interval = time.Second
	c.Consumer.Fetch.Default = 1 << 20 // 1 MiB
	// Every hop trades a few milliseconds of waiting for fewer, larger
	// requests: a busy broker's CPU goes into the number of requests, not
	// bytes. A fetch returns once 8 KiB are there or after 3 ms; produce
	// batches are flushed every 3 ms. Against 1 ms flushes and immediate
	// fetches this took the 2-core flash sale from 2,908 to 4,557 orders/s
	// and its p99 from 129 to 80-90 ms (bench/README.md); shorter or longer
	// waits measured worse. An idle engine adds up to ~6 ms per hop.
	c.Consumer.Fetch.Min = 8 << 10
	c.Consumer.MaxWaitTime = 3 * time.Millisecond
	c.Producer.Flush.Frequency = 3 * time.Millisecond
	c.Producer.Flush.Bytes = 256 << 10 // 256 KiB
	c.Producer.Flush.MaxMessages = 0
	c.Producer.Compression = sarama.CompressionNone
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Retry.Backoff = 50 * time.Millisecond
	c.Metadata.RefreshFrequency = 30 * time.Second
	if err := k.SaramaNet(c); err != nil {
		return nil, err
	}
	return c, nil
}

// gokaOptions are the builders every processor shares; each builds its
// clients from a fresh sarama config.
func (e *Engine) gokaOptions() ([]goka.ProcessorOption, error) {
	if _, err := saramaConfig(e.cfg, e.advertise); err != nil {
		return nil, fmt.Errorf("engine: kafka security settings: %w", err)
	}
	fresh := func() *sarama.Config {
		c, _ := saramaConfig(e.cfg, e.advertise) // validated above
		return c
	}
	tm := goka.NewTopicManagerConfig()
	tm.Table.Replication = int(e.cfg.Replication)
	tm.Stream.Replication = int(e.cfg.Replication)
	tm.NoCreate = true // ensureTopics made them, with the right counts
	return []goka.ProcessorOption{
		goka.WithHasher(e.hasher),
		goka.WithStorageBuilder(e.storage),
		goka.WithProducerBuilder(func(brokers []string, clientID string, hasher func() hash.Hash32) (goka.Producer, error) {
			return goka.ProducerBuilderWithConfig(fresh())(brokers, clientID, hasher)
		}),
		goka.WithConsumerGroupBuilder(func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
			g, err := goka.ConsumerGroupBuilderWithConfig(fresh())(brokers, group, clientID)
			if err != nil {
				return nil, err
			}
			return eagerGroup{g, e.rebalances.WithLabelValues(group)}, nil
		}),
		goka.WithConsumerSaramaBuilder(func(brokers []string, clientID string) (sarama.Consumer, error) {
			return goka.SaramaConsumerBuilderWithConfig(fresh())(brokers, clientID)
		}),
		goka.WithTopicManagerBuilder(func(brokers []string) (goka.TopicManager, error) {
			return goka.TopicManagerBuilderWithConfig(fresh(), tm)(brokers)
		}),
		goka.WithLogger(gokaLogger{e.log}),
	}, nil
}

// ensureTopics creates the topics that are missing, tables compacted, and
// checks that the ones that exist have the configured partition count: a
// different count re-keys every SKU, which must be a planned migration.
func ensureTopics(ctx context.Context, adm *kadm.Client, names []string, tables map[string]bool, partitions int32, replication int16) error {
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	var errs []error
	for _, name := range names {
		d, ok := details[name]
		if ok && d.Err == nil {
			if got := int32(len(d.Partitions)); got != partitions {
				errs = append(errs, fmt.Errorf("%w: topic %s has %d partitions, the config asks for %d; "+
					"changing the count re-keys every SKU, see docs/operations.md (partition planning)", ErrPartitionMismatch, name, got, partitions))
			}
			continue
		}
		configs := map[string]*string{"retention.ms": ptr("604800000")} // 7 days for streams
		if tables[name] {
			configs = map[string]*string{"cleanup.policy": ptr("compact")}
		}
		_, err := adm.CreateTopic(ctx, partitions, replication, configs, name)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

func ptr(s string) *string { return &s }

// newProducer is the franz-go client for what the engine writes outside goka
// (HTTP commands, expire commands). Its default partitioner hashes keys with
// murmur2 like the Java client and the processors.
func newProducer(brokers []string, id string, security []kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ClientID(id),
		kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
	}, security...)...)
}

// gokaLogger sends goka's and sarama's chatter to slog at debug level, and
// lines that look like trouble at warn level.
type gokaLogger struct{ log *slog.Logger }

func (l gokaLogger) Print(v ...any)            { l.out(fmt.Sprint(v...)) }
func (l gokaLogger) Println(v ...any)          { l.out(fmt.Sprint(v...)) }
func (l gokaLogger) Printf(f string, v ...any) { l.out(fmt.Sprintf(f, v...)) }
func (l gokaLogger) out(s string) {
	if strings.Contains(strings.ToLower(s), "error") {
		l.log.Warn(strings.TrimSpace(s), "component", "goka")
		return
	}
	l.log.Debug(strings.TrimSpace(s), "component", "goka")
}
