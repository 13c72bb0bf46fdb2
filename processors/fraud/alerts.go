package fraud

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/config"
)

// The labels an analyst gives an alert.
const (
	LabelFraud = "fraud"
	LabelLegit = "legit"
)

// labelMsg is a message of <prefix>fraud.labels, key the alert id; the
// topic is compacted, so the last label of each alert is kept for tuning.
type labelMsg struct {
	ID    string    `json:"id"`
	Label string    `json:"label"`
	At    time.Time `json:"at"`
}

// alertStore keeps the newest alerts for GET /v1/fraud/alerts. Every
// instance reads the whole alerts and labels topics from the start (no
// consumer group), so any instance answers for all of them.
type alertStore struct {
	max     int
	metrics *Metrics

	log *slog.Logger

	mu      sync.Mutex
	byID    map[string]*Alert
	order   []string            // ids, oldest first
	pending map[string]labelMsg // labels read before their alert
}

func newAlertStore(max int, m *Metrics, log *slog.Logger) *alertStore {
	return &alertStore{max: max, metrics: m, log: log, byID: map[string]*Alert{}, pending: map[string]labelMsg{}}
}

func (st *alertStore) run(ctx context.Context, k config.Kafka, n Names) error {
	security, err := k.FranzOpts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(k.Brokers...), kgo.ClientID("stocksync-fraud-alerts"),
		kgo.ConsumeTopics(string(n.Alerts), string(n.Labels)), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(50 * time.Millisecond)}, security...)...)
	if err != nil {
		return fmt.Errorf("alerts consumer: %w", err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			// franz-go retries on its own; a lasting error shows here again.
			st.log.Warn("fraud: reading alerts and labels", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			switch r.Topic {
			case string(n.Alerts):
				var a Alert
				if json.Unmarshal(r.Value, &a) == nil && a.ID != "" {
					st.add(&a)
				}
			case string(n.Labels):
				var l labelMsg
				if json.Unmarshal(r.Value, &l) == nil && l.ID != "" {
					st.label(l)
				}
			}
		})
	}
}

// add keeps a; an alert replayed with the same id replaces nothing.
func (st *alertStore) add(a *Alert) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.byID[a.ID] != nil {
		return
	}
	if l, ok := st.pending[a.ID]; ok {
		a.Label, a.LabelledAt = l.Label, &l.At
		delete(st.pending, a.ID)
	}
	st.byID[a.ID] = a
	st.order = append(st.order, a.ID)
	if len(st.order) > st.max {
		delete(st.byID, st.order[0])
		st.order = st.order[1:]
	}
}

func (st *alertStore) label(l labelMsg) {
	st.mu.Lock()
	defer st.mu.Unlock()
	a := st.byID[l.ID]
	if a == nil {
		st.pending[l.ID] = l
		return
	}
	a.Label, a.LabelledAt = l.Label, &l.At
}

// AlertFilter selects alerts; zero fields select all.
type AlertFilter struct {
	EntityType, EntityID, Label string
	Limit                       int // default 100
}

// list returns copies of the matching alerts, newest first.
func (st *alertStore) list(f AlertFilter) []Alert {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := []Alert{}
	for _, id := range slices.Backward(st.order) {
		a := st.byID[id]
		if (f.EntityType != "" && a.EntityType != f.EntityType) || (f.EntityID != "" && a.EntityID != f.EntityID) ||
			(f.Label != "" && a.Label != f.Label) {
			continue
		}
		out = append(out, *a)
		if len(out) == f.Limit {
			break
		}
	}
	return out
}

func (st *alertStore) get(id string) (Alert, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	a := st.byID[id]
	if a == nil {
		return Alert{}, false
	}
	return *a, true
}

// Alerts returns the newest alerts this instance read that match f.
func (s *Service) Alerts(f AlertFilter) []Alert {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	return s.alerts.list(f)
}

// Label records an analyst's label (LabelFraud or LabelLegit) of an alert
// on the labels topic and returns the alert with it; ErrUnknownAlert when
// this instance has no alert with the id.
func (s *Service) Label(ctx context.Context, id, label string) (Alert, error) {
	a, ok := s.alerts.get(id)
	if !ok {
		return Alert{}, fmt.Errorf("%w %q", ErrUnknownAlert, id)
	}
	l := labelMsg{ID: id, Label: label, At: s.sc.now().UTC()}
	b, _ := json.Marshal(l)
	rec := &kgo.Record{Topic: string(s.names.Labels), Key: []byte(id), Value: b}
	if err := s.producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return Alert{}, fmt.Errorf("fraud: record the label of alert %s: %w", id, err)
	}
	s.alerts.label(l)
	for _, r := range a.Reasons {
		s.metrics.Labels.WithLabelValues(r.Rule, label).Inc()
	}
	a.Label, a.LabelledAt = label, &l.At
	return a, nil
}
