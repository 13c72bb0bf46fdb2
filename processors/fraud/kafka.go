package fraud

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/topology"
)

// saramaConfig is goka's client configuration, the engine's choices
// (engine/kafka.go): protocol 2.1 (the oldest Kafka 4 serves), new groups
// read from the start, 3 ms produce flushes and fetch waits, so an event
// becomes an alert in a few milliseconds per hop. A fresh config per call:
// goka's builders write into the one they get.
func saramaConfig(k config.Kafka) (*sarama.Config, error) {
	c := goka.DefaultConfig()
	c.Version = sarama.V2_1_0_0
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
	c.Consumer.Group.Session.Timeout = 6 * time.Second
	c.Consumer.Group.Heartbeat.Interval = time.Second
	c.Consumer.MaxWaitTime = 3 * time.Millisecond
	c.Producer.Flush.Frequency = 3 * time.Millisecond
	c.Producer.Flush.MaxMessages = 0
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Retry.Backoff = 50 * time.Millisecond
	if err := k.SaramaNet(c); err != nil {
		return nil, fmt.Errorf("fraud: kafka security settings: %w", err)
	}
	return c, nil
}

// gokaOptions are the options both groups share: Pebble tables, murmur2
// keys (the Java client's partitioner), and sarama clients from
// saramaConfig.
func gokaOptions(k config.Kafka, sb storage.Builder, log *slog.Logger) ([]goka.ProcessorOption, error) {
	if _, err := saramaConfig(k); err != nil {
		return nil, err
	}
	fresh := func() *sarama.Config {
		c, _ := saramaConfig(k) // checked above
		return c
	}
	tm := goka.NewTopicManagerConfig()
	tm.Table.Replication = int(k.Replication)
	tm.Stream.Replication = int(k.Replication)
	tm.NoCreate = true // ensureTopics made them
	return []goka.ProcessorOption{
		goka.WithHasher(topology.NewHasher),
		goka.WithStorageBuilder(sb),
		goka.WithProducerBuilder(func(brokers []string, clientID string, hasher func() hash.Hash32) (goka.Producer, error) {
			return goka.ProducerBuilderWithConfig(fresh())(brokers, clientID, hasher)
		}),
		goka.WithConsumerGroupBuilder(func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
			return goka.ConsumerGroupBuilderWithConfig(fresh())(brokers, group, clientID)
		}),
		goka.WithConsumerSaramaBuilder(func(brokers []string, clientID string) (sarama.Consumer, error) {
			return goka.SaramaConsumerBuilderWithConfig(fresh())(brokers, clientID)
		}),
		goka.WithTopicManagerBuilder(func(brokers []string) (goka.TopicManager, error) {
			return goka.TopicManagerBuilderWithConfig(fresh(), tm)(brokers)
		}),
		goka.WithLogger(gokaLogger{log}),
	}, nil
}

// topics lists anti-fraud's topics and whether each is compacted.
func (n Names) topics() map[string]bool {
	return map[string]bool{
		string(n.Returns): false, string(n.Loyalty): false, string(n.Sales): false,
		string(n.Refunds): false, string(n.Alerts): false, string(n.DLQ): false,
		string(n.Labels): true, string(goka.GroupTable(n.Customers)): true, string(goka.GroupTable(n.Stores)): true,
	}
}

// ensureTopics creates the missing topics (streams kept 7 days, tables and
// labels compacted) and checks the partition count of the ones that exist:
// another count would move customers between partitions and their features
// with them.
func ensureTopics(ctx context.Context, adm *kadm.Client, n Names, partitions int32, replication int16) error {
	want := n.topics()
	names := make([]string, 0, len(want))
	for t := range want {
		names = append(names, t)
	}
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	var errs []error
	for name, compacted := range want {
		if d, ok := details[name]; ok && d.Err == nil {
			if got := int32(len(d.Partitions)); got != partitions {
				errs = append(errs, fmt.Errorf("%w: topic %s has %d partitions, kafka.partitions is %d", ErrPartitionMismatch, name, got, partitions))
			}
			continue
		}
		week := "604800000" // 7 days
		configs := map[string]*string{"retention.ms": &week}
		if compacted {
			compact := "compact"
			configs = map[string]*string{"cleanup.policy": &compact}
		}
		if _, err := adm.CreateTopic(ctx, partitions, replication, configs, name); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// gokaLogger sends goka's and sarama's lines to slog: debug, or warn for
// those that mention an error.
type gokaLogger struct{ log *slog.Logger }

func (l gokaLogger) Print(v ...any)            { l.out(fmt.Sprint(v...)) }
func (l gokaLogger) Println(v ...any)          { l.out(fmt.Sprint(v...)) }
func (l gokaLogger) Printf(f string, v ...any) { l.out(fmt.Sprintf(f, v...)) }
func (l gokaLogger) out(s string) {
	if strings.Contains(strings.ToLower(s), "error") {
		l.log.Warn(strings.TrimSpace(s), "component", "goka", "group", "fraud")
		return
	}
	l.log.Debug(strings.TrimSpace(s), "component", "goka", "group", "fraud")
}
