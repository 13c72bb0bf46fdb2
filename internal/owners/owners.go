// Package owners learns which instance owns which partition of a consumer
// group, as Kafka Streams' application.server does: every member names the
// base URL of its HTTP API in the group (the goka engine in its member
// metadata, the txloop engine as its client id), and the group's
// description pairs that URL with the member's assignment. The engines use
// it to answer a read of a key owned elsewhere with *contract.NotOwnerError,
// which the HTTP API forwards to the owner.
package owners

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/topology"
)

// URLOf reads the advertised URL of a group member; "" when it has none.
type URLOf func(kadm.DescribedGroupMember) string

// FromUserData reads the URL from the member's consumer metadata (sarama's
// UserData), where the goka engine puts it.
func FromUserData(m kadm.DescribedGroupMember) string {
	if meta, ok := m.Join.AsConsumer(); ok {
		return string(meta.UserData)
	}
	return ""
}

// FromClientID reads the URL from the member's client id, where the txloop
// engine puts it; a client id that is not an http(s) URL names none.
func FromClientID(m kadm.DescribedGroupMember) string {
	if strings.HasPrefix(m.ClientID, "http://") || strings.HasPrefix(m.ClientID, "https://") {
		return m.ClientID
	}
	return ""
}

// Owners maps the partitions of one group to their owners' URLs, asking the
// group coordinator at most once per 100ms and trusting an answer for a
// second.
type Owners struct {
	adm   *kadm.Client
	group string
	topic string // an input topic of the group: its partitions are the group's
	urlOf URLOf
	self  string // this instance's URL
	parts int32  // partitions of the topic
	ttl   time.Duration

	mu      sync.Mutex
	byPart  map[int32]string
	fetched time.Time
}

// Config says which group to watch.
type Config struct {
	Admin      *kadm.Client // required
	Group      string       // required
	Topic      string       // an input topic of the group; required
	Partitions int32        // of Topic; required
	URLOf      URLOf        // required: FromUserData or FromClientID
	// Self is this instance's advertised URL; a key it owns by the group
	// but cannot read is moving, not elsewhere. Default "" (single instance).
	Self string
}

// New watches cfg.Group.
func New(cfg Config) *Owners {
	return &Owners{adm: cfg.Admin, group: cfg.Group, topic: cfg.Topic, urlOf: cfg.URLOf, self: cfg.Self,
		parts: cfg.Partitions, ttl: time.Second}
}

// Lookup returns the base URL of the instance that owns partition p, or ""
// when no member owns it right now (the group is rebalancing).
func (o *Owners) Lookup(ctx context.Context, p int32) (string, error) {
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
		url := o.urlOf(m)
		assigned, ok := m.Assigned.AsConsumer()
		if !ok || url == "" {
			continue
		}
		for _, t := range assigned.Topics {
			if t.Topic != o.topic {
				continue
			}
			for _, part := range t.Partitions {
				byPart[part] = url
			}
		}
	}
	o.byPart, o.fetched = byPart, time.Now()
	return byPart[p], nil
}

// NotLocal explains why key cannot be read here: another instance owns its
// partition (*contract.NotOwnerError: the API forwards there), or nobody
// does right now (contract.ErrUnavailable: rebalancing, retry); never stale
// data presented as current. cause is why the local read failed.
func (o *Owners) NotLocal(key string, cause error) error {
	p := topology.PartitionOf(key, o.parts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	owner, err := o.Lookup(ctx, p)
	switch {
	case err != nil:
		return fmt.Errorf("%w: looking up the owner of partition %d: %v", contract.ErrUnavailable, p, err)
	case owner == "" || owner == o.self:
		return fmt.Errorf("%w: partition %d is moving between instances (%v)", contract.ErrUnavailable, p, cause)
	}
	return &contract.NotOwnerError{Key: key, Partition: p, Owner: owner}
}
