package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// KafkaHop measures one hop of Kafka on brokers, the floor under each of
// stocksync's hops (an order's reserve takes four: orders.commands →
// stock.commands → stock.replies → orders.results): n records produced one
// at a time (acks=all, no linger) to a new single-partition topic, each
// timed until a consumer polling it (10 ms fetch wait) sees it. Returns
// the sorted round trips.
func KafkaHop(ctx context.Context, brokers []string, n int) ([]time.Duration, error) {
	topic := fmt.Sprintf("bench-hop-%x", time.Now().UnixNano())
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(0), kgo.DefaultProduceTopic(topic))
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	adm := kadm.NewClient(prod)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		return nil, err
	}
	defer adm.DeleteTopics(context.Background(), topic)
	cons, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(10*time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	seen := make(chan time.Time, 1)
	go func() {
		for ctx.Err() == nil {
			fs := cons.PollFetches(ctx)
			fs.EachRecord(func(*kgo.Record) { seen <- time.Now() })
		}
	}()
	// Warm up: the first record waits for the consumer's first metadata.
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("warm")}).FirstErr(); err != nil {
		return nil, err
	}
	select {
	case <-seen:
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("bench: the consumer saw nothing in 30s")
	}
	out := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		prod.Produce(ctx, &kgo.Record{Value: []byte("ping")}, nil)
		select {
		case at := <-seen:
			out = append(out, at.Sub(start))
		case <-time.After(10 * time.Second):
			return nil, fmt.Errorf("bench: a record took over 10s")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	slices.Sort(out)
	return out, nil
}
