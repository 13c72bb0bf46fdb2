package enginev2

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rebalances counts the rebalances of the loop's group in
// stocksync_rebalances_total{group}, as the old engine does. franz-go has
// no hook on an assignment and the loop owns the assignment callbacks, so
// it counts what every rebalance ends with: a SyncGroup request, past the
// first one (the instance's own join).
type rebalances struct {
	synced  atomic.Int64
	counter prometheus.Counter
}

func newRebalances(reg prometheus.Registerer, group string) (*rebalances, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stocksync_rebalances_total",
		Help: "Rebalances this instance went through, by consumer group."}, []string{"group"})
	if err := reg.Register(c); err != nil {
		return nil, fmt.Errorf("enginev2: register stocksync_rebalances_total: %w", err)
	}
	return &rebalances{counter: c.WithLabelValues(group)}, nil
}

// OnBrokerWrite implements kgo.HookBrokerWrite.
func (r *rebalances) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == int16(kmsg.SyncGroup) && err == nil && r.synced.Add(1) > 1 {
		r.counter.Inc()
	}
}
