package repartition

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/topology"
)

// ControlKey is the key of a repartition's state, on partition 0 of the compacted control
// topic (<prefix>channels.control), which every instance reads whole. No
// channel name holds a control character, so it meets no channel's mode.
const ControlKey = "\x00repartition"

// Phases of a repartition, as the control record says them.
const (
	PhaseFence  = "fence"  // instances stop their intake; the messages between partitions drain
	PhaseSwitch = "switch" // the topics have grown: instances run the new generation
	PhaseAbort  = "abort"  // given up before the topics grew: instances take their intake again
)

// Control is the value of ControlKey.
type Control struct {
	ID    string `json:"id"` // one run of the tool: its fence markers carry it
	From  int32  `json:"from"`
	To    int32  `json:"to"`
	Phase string `json:"phase"`
	At    string `json:"at"`
}

// ParseControl decodes a control record's value.
func ParseControl(v []byte) (Control, error) {
	var c Control
	if err := json.Unmarshal(v, &c); err != nil {
		return c, fmt.Errorf("repartition: control record: %w", err)
	}
	return c, nil
}

func writeControl(ctx context.Context, cl *kgo.Client, names topology.Names, c Control) error {
	c.At = time.Now().UTC().Format(time.RFC3339Nano)
	v, _ := json.Marshal(c)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: string(names.ChannelControl), Partition: 0, Key: []byte(ControlKey), Value: v}).FirstErr(); err != nil {
		return fmt.Errorf("writing the %s record to %s: %w", c.Phase, names.ChannelControl, err)
	}
	return nil
}

// ReadControl reads the control topic to its end and returns the last
// repartition record, nil when there is none.
func ReadControl(ctx context.Context, brokers []string, opts []kgo.Opt, names topology.Names) (*Control, error) {
	topic := string(names.ChannelControl)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("repartition: end offsets of %s: %w", topic, err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	var last *Control
	for len(left) > 0 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("repartition: reading %s: %w", topic, ctx.Err())
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if string(r.Key) == ControlKey {
				if c, err := ParseControl(r.Value); err == nil && r.Value != nil {
					last = &c
				} else {
					last = nil
				}
			}
			if r.Offset+1 >= left[r.Partition] {
				delete(left, r.Partition)
			}
		})
	}
	return last, nil
}
