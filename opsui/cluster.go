package opsui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/stocksync/stocksync/admin"
	"github.com/stocksync/stocksync/contract"
)

// ClusterView is the answer of GET /v1/ops/cluster.
type ClusterView struct {
	Instance  string         `json:"instance"` // the instance that answered
	At        string         `json:"at"`
	Instances []InstanceView `json:"instances"`
	Groups    []GroupView    `json:"groups"`
}

// InstanceView is one member of the engine's groups.
type InstanceView struct {
	Name       string             `json:"name"` // advertised URL, else client id
	Host       string             `json:"host"`
	Self       bool               `json:"self"`
	Ready      *bool              `json:"ready,omitempty"` // nil: not asked (no URL to ask)
	Status     string             `json:"status,omitempty"`
	Partitions map[string][]int32 `json:"partitions"` // by group
}

// GroupView is one consumer group.
type GroupView struct {
	Name  string `json:"name"`
	State string `json:"state"`
	// Rebalances this instance went through in the group since it started
	// (stocksync_rebalances_total); absent where the engine does not count them.
	Rebalances *float64        `json:"rebalances,omitempty"`
	Lag        int64           `json:"lag"`
	Partitions []PartitionView `json:"partitions"`
}

// PartitionView is the lag of one input partition.
type PartitionView struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Owner     string `json:"owner"`
	Lag       int64  `json:"lag"`
}

// Cluster describes the engine's groups (two requests per group to the
// brokers, and one /readyz per other instance), at most every 2 s.
func (c *Console) Cluster(ctx context.Context) (ClusterView, error) {
	return c.cluster.get(ctx, c.cfg.Now(), c.describe)
}

func (c *Console) describe(ctx context.Context) (ClusterView, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	view := ClusterView{Instance: c.cfg.Instance, At: c.cfg.Now().UTC().Format(time.RFC3339)}
	rebalances := c.rebalances()
	byName := map[string]*InstanceView{}
	var errs []error
	for _, in := range c.cfg.Engine.ConsumerGroups() {
		g, err := admin.InspectGroup(ctx, c.adm, in)
		if err != nil {
			errs = append(errs, err)
		}
		gv := GroupView{Name: g.Name, State: g.State, Partitions: []PartitionView{}}
		if n, ok := rebalances[g.Name]; ok {
			gv.Rebalances = &n
		}
		for _, l := range g.Lag {
			gv.Lag += l.Lag
			gv.Partitions = append(gv.Partitions, PartitionView{Topic: l.Topic, Partition: l.Partition, Owner: l.Owner, Lag: l.Lag})
		}
		view.Groups = append(view.Groups, gv)
		for _, m := range g.Members {
			name := m.URL
			if name == "" {
				name = m.ClientID
			}
			iv := byName[name]
			if iv == nil {
				iv = &InstanceView{Name: name, Host: m.Host, Partitions: map[string][]int32{}, Self: m.URL != "" && m.URL == c.cfg.Instance}
				byName[name] = iv
			}
			iv.Partitions[g.Name] = m.Partitions
		}
	}
	if len(view.Groups) > 0 && len(errs) == len(view.Groups) { // the brokers did not answer: a 503, not a 500
		return view, fmt.Errorf("%w: describing the groups: %v", contract.ErrUnavailable, errors.Join(errs...))
	}
	for _, iv := range byName {
		view.Instances = append(view.Instances, *iv)
	}
	var wg sync.WaitGroup // the slice is complete first: an append while a peer's answer is written would race
	for i := range view.Instances {
		iv := &view.Instances[i]
		if iv.Self || iv.Name == "" || iv.Name == iv.Host || !hasScheme(iv.Name) {
			continue
		}
		wg.Go(func() {
			ok, status := c.peerReady(ctx, iv.Name)
			iv.Ready, iv.Status = &ok, status
		})
	}
	wg.Wait()
	self := c.cfg.Engine.Ready()
	found := false
	for i := range view.Instances {
		if view.Instances[i].Name == c.cfg.Instance {
			view.Instances[i].Self, found = true, true
		}
	}
	if !found { // single instance without an advertised URL, or not in a group yet
		view.Instances = append(view.Instances, InstanceView{Name: c.cfg.Instance, Self: true, Partitions: map[string][]int32{}})
	}
	for i := range view.Instances {
		if view.Instances[i].Self {
			ok := self == nil
			view.Instances[i].Ready = &ok
			if self != nil {
				view.Instances[i].Status = self.Error()
			}
		}
	}
	slices.SortFunc(view.Instances, func(a, b InstanceView) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return view, nil
}

func hasScheme(url string) bool {
	return len(url) > 7 && (url[:7] == "http://" || (len(url) > 8 && url[:8] == "https://"))
}

// peerReady asks another instance's /readyz.
func (c *Console) peerReady(ctx context.Context, url string) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
	if err != nil {
		return false, err.Error()
	}
	res, err := c.cfg.Peers.Do(req)
	if err != nil {
		return false, "did not answer: " + err.Error()
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK, res.Status
}

// rebalances reads this instance's stocksync_rebalances_total by group.
func (c *Console) rebalances() map[string]float64 {
	out := map[string]float64{}
	mfs, _ := c.cfg.Gatherer.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "stocksync_rebalances_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[label(m, "group")] += m.GetCounter().GetValue()
		}
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, p := range m.GetLabel() {
		if p.GetName() == name {
			return p.GetValue()
		}
	}
	return ""
}
