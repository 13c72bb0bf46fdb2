package reconcile

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/config"
)

// Topic is the name of the runs' topic under a deployment's prefix: one
// partition (runs are few), compacted, key the run id, value the run as
// JSON; a deleted run is a tombstone.
func Topic(prefix string) string { return prefix + "recon.reports" }

// maxRunBytes bounds a run's record (topic max.message.bytes and the
// producer's batch); a run keeps at most maxRowsKept rows of each kind.
const maxRunBytes = 8 << 20 // 8 MiB

// store keeps the runs in memory and, with a Kafka client, on the runs'
// topic: every instance reads the whole topic from the start (no consumer
// group), so any instance answers for every run, and a restart reads them
// back.
type store struct {
	keep    int
	topic   string
	cl      *kgo.Client // nil: in memory only
	log     *slog.Logger
	changed func(runs []*Run) // called with the runs, newest first, after each change

	mu   sync.Mutex
	runs map[string]*Run
}

func newStore(keep int, log *slog.Logger, changed func([]*Run)) *store {
	return &store{keep: keep, log: log, changed: changed, runs: map[string]*Run{}}
}

// open connects the store to Kafka: it creates the topic when missing and
// reads it to its end, so the runs kept are known before open returns.
func (s *store) open(ctx context.Context, k config.Kafka) error {
	security, err := k.FranzOpts()
	if err != nil {
		return err
	}
	s.topic = Topic(prefixOf(k))
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(k.Brokers...), kgo.ClientID("stocksync-reconcile"),
		kgo.ConsumeTopics(s.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100 * time.Millisecond), kgo.ProducerBatchMaxBytes(maxRunBytes),
		kgo.ProducerBatchCompression(kgo.ZstdCompression(), kgo.NoCompression()), kgo.FetchMaxPartitionBytes(maxRunBytes)},
		security...)...)
	if err != nil {
		return fmt.Errorf("reconcile: kafka client for %s: %w", s.topic, err)
	}
	adm := kadm.NewClient(cl)
	compact, maxBytes := "compact", fmt.Sprint(maxRunBytes)
	_, err = adm.CreateTopic(ctx, 1, k.Replication, map[string]*string{"cleanup.policy": &compact, "max.message.bytes": &maxBytes}, s.topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		cl.Close()
		return fmt.Errorf("reconcile: create topic %s (is kafka.replication right for the cluster?): %w", s.topic, err)
	}
	var ends kadm.ListedOffsets
	for attempt := 0; attempt < 20; attempt++ { // a topic just created takes a moment to be served
		if ends, err = adm.ListEndOffsets(ctx, s.topic); err == nil {
			err = ends.Error()
		}
		if !errors.Is(err, kerr.UnknownTopicOrPartition) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		cl.Close()
		return fmt.Errorf("reconcile: end offsets of %s: %w", s.topic, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			cl.Close()
			return err
		}
		fs.EachError(func(t string, p int32, err error) {
			s.log.Warn("reconcile: reading the runs", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			s.record(r)
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
		})
	}
	s.cl = cl
	return nil
}

func prefixOf(k config.Kafka) string {
	if k.TopicPrefix == "" {
		return "stocksync."
	}
	return k.TopicPrefix
}

// follow applies the runs other instances write until ctx ends.
func (s *store) follow(ctx context.Context) {
	if s.cl == nil {
		<-ctx.Done()
		return
	}
	for {
		fs := s.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			s.log.Warn("reconcile: reading the runs", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(s.record)
	}
}

func (s *store) close() {
	if s.cl != nil {
		s.cl.Close()
	}
}

// record applies one record of the topic.
func (s *store) record(r *kgo.Record) {
	if r.Value == nil {
		s.mu.Lock()
		delete(s.runs, string(r.Key))
		s.mu.Unlock()
		s.notify()
		return
	}
	var run Run
	if err := json.Unmarshal(r.Value, &run); err != nil || run.ID == "" {
		s.log.Warn("reconcile: a record of the runs' topic is not a run; skipped", "offset", r.Offset, "err", err)
		return
	}
	s.apply(&run)
}

// apply keeps run unless a newer copy (higher Rev) is kept.
func (s *store) apply(run *Run) {
	s.mu.Lock()
	if old := s.runs[run.ID]; old == nil || old.Rev <= run.Rev {
		s.runs[run.ID] = run
	}
	s.mu.Unlock()
	s.notify()
}

func (s *store) notify() {
	if s.changed != nil {
		s.changed(s.sorted())
	}
}

// put writes run (its Rev bumped) durably, then keeps it, and deletes the
// runs past keep.
func (s *store) put(ctx context.Context, run *Run) error {
	run.Rev++
	run.tally()
	if s.cl != nil {
		value, err := json.Marshal(run)
		if err != nil {
			return err
		}
		if err := s.cl.ProduceSync(ctx, &kgo.Record{Topic: s.topic, Key: []byte(run.ID), Value: value}).FirstErr(); err != nil {
			return fmt.Errorf("reconcile: keeping run %s on %s: %w", run.ID, s.topic, err)
		}
	}
	s.apply(run.clone())
	return s.prune(ctx)
}

func (s *store) prune(ctx context.Context) error {
	runs := s.sorted()
	if len(runs) <= s.keep {
		return nil
	}
	for _, old := range runs[s.keep:] {
		if s.cl != nil {
			if err := s.cl.ProduceSync(ctx, &kgo.Record{Topic: s.topic, Key: []byte(old.ID)}).FirstErr(); err != nil {
				return fmt.Errorf("reconcile: deleting run %s from %s: %w", old.ID, s.topic, err)
			}
		}
		s.mu.Lock()
		delete(s.runs, old.ID)
		s.mu.Unlock()
	}
	s.notify()
	return nil
}

// get returns a copy of the run.
func (s *store) get(id string) (*Run, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[id]
	if !ok {
		return nil, false
	}
	return r.clone(), true
}

// sorted returns the runs kept, newest first.
func (s *store) sorted() []*Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Run, 0, len(s.runs))
	for _, r := range s.runs {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *Run) int { return cmp.Or(b.StartedAt.Compare(a.StartedAt), strings.Compare(b.ID, a.ID)) })
	return out
}
