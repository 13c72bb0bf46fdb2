package engine

import (
	"context"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
)

// eagerGroup keeps a consumer group in its session loop across rebalances.
// sarama's Consume returns at every rebalance, and goka then sleeps a fixed
// 5 s before joining again (goka v1.1.14 processor.go rebalanceLoop): every
// instance would pause 5 s whenever another joins or leaves. Consuming the
// next session here skips that sleep; errors and shutdown still return.
//
// Each session that ends while the engine runs is a rebalance, counted in
// stocksync_rebalances_total{group}.
type eagerGroup struct {
	sarama.ConsumerGroup
	rebalanced prometheus.Counter
}

func (g eagerGroup) Consume(ctx context.Context, topics []string, h sarama.ConsumerGroupHandler) error {
	for {
		begin := time.Now()
		if err := g.ConsumerGroup.Consume(ctx, topics, h); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		g.rebalanced.Inc()
		if time.Since(begin) < 100*time.Millisecond {
			// A session that ends at once (the group is still settling):
			// do not spin on the coordinator.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}
