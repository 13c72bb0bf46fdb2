package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// owners learns which instance owns which partition of a group, as Kafka
// Streams' application.server does: every instance puts the base URL of its
// HTTP API in its consumer-group member metadata (sarama's UserData), and the
// group's description pairs each member's metadata with its assignment.
type owners struct {
	adm   *kadm.Client
	group string
	topic string // an input topic of the group: its partitions are the group's
	ttl   time.Duration

	mu      sync.Mutex
	byPart  map[int32]string
	fetched time.Time
}

func newOwners(adm *kadm.Client, group, topic string) *owners {
	return &owners{adm: adm, group: group, topic: topic, ttl: time.Second}
}

// lookup returns the base URL of the instance that owns partition p, or ""
// when no member owns it right now (the group is rebalancing).
func (o *owners) lookup(ctx context.Context, p int32) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if url, ok := o.byPart[p]; ok && time.Since(o.fetched) < o.ttl {
		return url, nil
	}
	if time.Since(o.fetched) < 100*time.Millisecond {
		return o.byPart[p], nil // asked moments ago: do not hammer the coordinator
	}
	groups, err := o.adm.DescribeGroups(ctx, o.group)
	if err != nil {
		return "", fmt.Errorf("describe group %s: %w", o.group, err)
	}
	g, ok := groups[o.group]
	if !ok || g.Err != nil {
		return "", fmt.Errorf("describe group %s: %v", o.group, g.Err)
	}
	byPart := map[int32]string{}
	for _, m := range g.Members {
		meta, ok1 := m.Join.AsConsumer()
		assigned, ok2 := m.Assigned.AsConsumer()
		if !ok1 || !ok2 || len(meta.UserData) == 0 {
			continue
		}
		for _, t := range assigned.Topics {
			if t.Topic != o.topic {
				continue
			}
			for _, part := range t.Partitions {
				byPart[part] = string(meta.UserData)
			}
		}
	}
	o.byPart, o.fetched = byPart, time.Now()
	return byPart[p], nil
}

// Assignment is one instance's share of a group, for `stocksync admin`.
type Assignment struct {
	Member     string
	ClientID   string
	Host       string
	URL        string
	Partitions []int32
}
