// Package admin inspects a running stocksync deployment for SREs: whether the
// topics match the configuration, which instance owns which partition of each
// group, and how far behind each partition is (consumer lag). Inspect does it
// once, for `stocksync admin`; a LagCollector exports the lag as a metric.
//
// Metrics of a LagCollector, registered on LagCollectorConfig.Registry:
//
//	stocksync_consumer_lag{group,topic,partition}     gauge: messages of the partition the group has not committed
//	stocksync_consumer_lag_refresh_errors_total{group} counter of failed refreshes (the last good values stay)
//
// Every instance exports the lag of every partition, not only of those it
// owns: aggregate with max by (group, topic, partition).
package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/internal/owners"
	"github.com/stocksync/stocksync/internal/topics"
	"github.com/stocksync/stocksync/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Report is the state of one deployment.
type Report struct {
	Topics []Topic
	Groups []Group
}

// Topic is one topic and whether it matches the configuration.
type Topic struct {
	Name       string
	Partitions int32
	Compacted  bool
	Problem    string // empty when the topic is as the config asks
}

// Group is one processor group: its members and the lag of its partitions.
type Group struct {
	Name    string
	State   string // Stable, PreparingRebalance, Empty, Dead …
	Members []Member
	Lag     []PartitionLag // of the group's input topics, sorted by topic and partition
}

// Member is one instance in a group.
type Member struct {
	ClientID   string
	Host       string
	URL        string // advertised HTTP API, from the member metadata (goka) or the client id (txloop)
	Partitions []int32
}

// PartitionLag is how many messages of one input partition the group has not
// yet committed.
type PartitionLag struct {
	Topic     string
	Partition int32
	Owner     string // ClientID of the member that owns it, "" if none
	Committed int64
	End       int64
	Lag       int64
}

// Inspect builds the report. partitions is the configured count; backend
// the configured engine.backend, whose groups it describes. The new
// engine's count is its inputs' (topics.Generation: a repartition grows
// them, and only them): other topics are not held to it.
func Inspect(ctx context.Context, adm *kadm.Client, names topology.Names, partitions int32, backend string) (Report, error) {
	var r Report
	var errs []error
	counted := func(string) bool { return true }
	if backend == config.BackendTxloop {
		n, p, err := topics.Generation(ctx, adm, names, partitions)
		if err != nil {
			errs = append(errs, err)
		}
		names, partitions = n, p
		inputs := Inputs(names, backend)[0].Topics
		counted = func(topic string) bool { return slices.Contains(inputs, topic) }
	}
	tables := map[string]bool{}
	var all []string
	for _, t := range names.Tables() {
		tables[string(t)] = true
		all = append(all, string(t))
	}
	for _, s := range names.Streams() {
		all = append(all, string(s))
	}
	details, err := adm.ListTopics(ctx, all...)
	if err != nil {
		return r, fmt.Errorf("list topics: %w", err)
	}
	configs, err := adm.DescribeTopicConfigs(ctx, all...)
	if err != nil {
		errs = append(errs, fmt.Errorf("describe topic configs: %w", err))
	}
	compacted := map[string]bool{}
	for _, rc := range configs {
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" && c.Value != nil && slices.Contains([]string{"compact", "compact,delete", "delete,compact"}, *c.Value) {
				compacted[rc.Name] = true
			}
		}
	}
	for _, name := range all {
		t := Topic{Name: name, Compacted: compacted[name]}
		d, ok := details[name]
		switch {
		case !ok || d.Err != nil:
			t.Problem = "missing (the engine creates it on start)"
		default:
			t.Partitions = int32(len(d.Partitions))
			if t.Partitions != partitions && counted(name) {
				t.Problem = fmt.Sprintf("has %d partitions, the config asks for %d", t.Partitions, partitions)
			} else if tables[name] && !t.Compacted {
				t.Problem = "a table's changelog must have cleanup.policy=compact"
			}
		}
		r.Topics = append(r.Topics, t)
	}
	for _, in := range Inputs(names, backend) {
		g, err := inspectGroup(ctx, adm, in.Group, in.Topics)
		if err != nil {
			errs = append(errs, err)
		}
		r.Groups = append(r.Groups, g)
	}
	return r, errors.Join(errs...)
}

// InspectGroup reports one group: its state, its members with their
// partitions, and the lag of its inputs (the ops console's cluster view).
func InspectGroup(ctx context.Context, adm *kadm.Client, in GroupInputs) (Group, error) {
	return inspectGroup(ctx, adm, in.Group, in.Topics)
}

func inspectGroup(ctx context.Context, adm *kadm.Client, group string, inputs []string) (Group, error) {
	g := Group{Name: group}
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return g, fmt.Errorf("describe group %s: %w", group, err)
	}
	owner := map[string]map[int32]string{}
	if d, ok := described[group]; ok && d.Err == nil {
		g.State = d.State
		for _, m := range d.Members {
			// The txloop engine's members name their URL as the client id
			// (franz-go's balancer keeps the metadata's user data); goka's
			// put it in the user data.
			mem := Member{ClientID: m.ClientID, Host: m.ClientHost, URL: owners.FromClientID(m)}
			if mem.URL == "" {
				mem.URL = owners.FromUserData(m)
			}
			if a, ok := m.Assigned.AsConsumer(); ok {
				for _, t := range a.Topics {
					if owner[t.Topic] == nil {
						owner[t.Topic] = map[int32]string{}
					}
					for _, p := range t.Partitions {
						owner[t.Topic][p] = m.ClientID
						if t.Topic == inputs[0] {
							mem.Partitions = append(mem.Partitions, p)
						}
					}
				}
			}
			slices.Sort(mem.Partitions)
			g.Members = append(g.Members, mem)
		}
	}
	lag, err := Lag(ctx, adm, group, inputs)
	for i := range lag {
		lag[i].Owner = owner[lag[i].Topic][lag[i].Partition]
	}
	g.Lag = lag
	return g, err
}

// GroupInputs is one processor group and its input topics: the topics whose
// lag says how far behind the group is.
type GroupInputs struct {
	Group  string
	Topics []string
}

// Inputs lists the processor groups of names with their input topics, of
// the engine backend (config.BackendGoka, or config.BackendTxloop; "" is
// config.BackendDefault).
func Inputs(names topology.Names, backend string) []GroupInputs {
	if backend == "" {
		backend = config.BackendDefault
	}
	if backend == config.BackendTxloop {
		return []GroupInputs{{Group: string(names.Engine), Topics: []string{string(names.OrderCommands), string(names.StockFeed), string(names.EngineMessages)}}}
	}
	return []GroupInputs{
		{Group: string(names.Inventory), Topics: []string{string(names.StockFeed), string(names.StockCommands)}},
		{Group: string(names.Orders), Topics: []string{string(names.OrderCommands), string(names.StockReplies)}},
		{Group: string(names.Channels), Topics: []string{string(names.StockChanges), string(names.SinkVerdicts)}},
	}
}

// Lag is the lag of group on every partition of topics, sorted by topic and
// partition, without owners: the end offset minus the group's committed
// offset (0 when it has committed none), never below 0.
func Lag(ctx context.Context, adm *kadm.Client, group string, topics []string) ([]PartitionLag, error) {
	committed, err := adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		committed, err = nil, nil // a group that never committed: everything is lag
	}
	if err != nil {
		return nil, fmt.Errorf("fetch committed offsets of %s: %w", group, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %v: %w", topics, err)
	}
	var lag []PartitionLag
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			return // a missing topic: Inspect reports it with the topics
		}
		pl := PartitionLag{Topic: o.Topic, Partition: o.Partition, End: o.Offset}
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.Err == nil {
			pl.Committed = c.At
		}
		pl.Lag = max(pl.End-pl.Committed, 0)
		lag = append(lag, pl)
	})
	slices.SortFunc(lag, func(a, b PartitionLag) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	return lag, nil
}
