package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/contract"
)

// ModeRecord is a value of the compacted channels.control topic, keyed by
// channel: the mode an operator last set for the channel.
type ModeRecord struct {
	Mode contract.ChannelMode `json:"mode"`
	At   string               `json:"at"` // RFC 3339, when it was set
}

// Modes keeps each channel's mode as channels.control last set it and
// applies it to the channel's pusher. Every instance reads all of the
// topic, so a mode set through one instance holds on every one.
type Modes struct {
	topic    string
	apply    func(channel string, manual bool) bool
	log      *slog.Logger
	mu       sync.Mutex
	by       map[string]contract.ChannelMode
	other    map[string]func(value []byte) // records of other keys on the topic (Also)
	caughtUp chan struct{}
}

// NewModes returns the modes kept on topic (channels.control). apply
// switches a channel's pusher to manual or back, and reports false for a
// channel this instance does not have.
func NewModes(topic string, apply func(channel string, manual bool) bool, log *slog.Logger) *Modes {
	return &Modes{topic: topic, apply: apply, log: log, by: map[string]contract.ChannelMode{}, other: map[string]func([]byte){},
		caughtUp: make(chan struct{})}
}

// Also hands the records of key, which is no channel's name, to fn
// instead (the new engine's repartition state, repartition.ControlKey).
// Call it before Run.
func (m *Modes) Also(key string, fn func(value []byte)) { m.other[key] = fn }

// CaughtUp is closed once Run has applied the topic up to its end as of
// Run's start.
func (m *Modes) CaughtUp() <-chan struct{} { return m.caughtUp }

// Run reads the topic from its start through a client of its own, made
// with opts (brokers and security), and applies each record until ctx
// ends. A record that is not a ModeRecord of a channel here is logged and
// skipped.
func (m *Modes) Run(ctx context.Context, opts ...kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.ConsumeTopics(m.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())},
		opts...)...)
	if err != nil {
		return fmt.Errorf("kafka client for %s: %w", m.topic, err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, m.topic)
	if err != nil {
		return fmt.Errorf("end offsets of %s: %w", m.topic, err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	if len(left) == 0 {
		close(m.caughtUp)
	}
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
				if len(left) == 0 {
					defer close(m.caughtUp) // once this record is applied
				}
			}
			if fn := m.other[string(r.Key)]; fn != nil {
				fn(r.Value)
				return
			}
			if err := m.take(string(r.Key), r.Value); err != nil {
				m.log.Warn("ignoring a channel control record", "key", string(r.Key), "err", err)
			}
		})
	}
}

func (m *Modes) take(channel string, value []byte) error {
	var rec ModeRecord
	if err := json.Unmarshal(value, &rec); err != nil {
		return err
	}
	if err := rec.Mode.Validate(); err != nil {
		return err
	}
	if !m.apply(channel, rec.Mode == contract.ModeManual) {
		return errors.New("no such channel on this instance")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.by[channel] = rec.Mode
	return nil
}

// Mode is the channel's mode: contract.ModeAuto until the topic sets
// another.
func (m *Modes) Mode(channel string) contract.ChannelMode {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v := m.by[channel]; v != "" {
		return v
	}
	return contract.ModeAuto
}

// Set records mode for channel on the topic through producer, for every
// instance, and waits until this one applied it. Errors: a
// *contract.InvalidError for a mode the contract does not know;
// contract.ErrUnavailable when Kafka did not take the record;
// contract.ErrTimeout when ctx ended before this instance applied it.
func (m *Modes) Set(ctx context.Context, producer *kgo.Client, channel string, mode contract.ChannelMode) error {
	if err := mode.Validate(); err != nil {
		return err
	}
	value, _ := json.Marshal(ModeRecord{Mode: mode, At: time.Now().UTC().Format(time.RFC3339)})
	if err := producer.ProduceSync(ctx, &kgo.Record{Topic: m.topic, Key: []byte(channel), Value: value}).FirstErr(); err != nil {
		return fmt.Errorf("%w: recording the mode in Kafka: %v", contract.ErrUnavailable, err)
	}
	for m.Mode(channel) != mode {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: the mode was recorded but not yet applied here", contract.ErrTimeout)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}
