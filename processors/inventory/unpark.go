package inventory

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/internal/txloop"
	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/processors"
	"github.com/stocksync/stocksync/state"
	"github.com/stocksync/stocksync/topology"
)

// The DLQ replay of a channel (docs/design.md, "Channels"): a value the
// marketplace refused for good is parked in its SKU's push state. A replay
// is an unpark message to every partition of engine.messages; whoever owns
// a partition reads it in a cycle and releases the partition's parked
// values of the channel, a bounded batch of push states a cycle from a
// cursor kept in the partition's store (so a takeover or an abort resumes
// it): parked becomes pending, and the newest wanted value is offered to
// the pusher. A value projected since the refusal is already pending; one
// refused after the replay was read stays parked.

const unparkPrefix = "\x00u" // a channel's unpark in progress at a partition: the last push state key released

func unparkKey(channel string) string { return unparkPrefix + channel }

// unparkScan bounds the push states one cycle reads for one channel's
// unpark at one partition.
const unparkScan = 20_000

// unparkCursor is the value of an unpark's key.
type unparkCursor struct {
	After []byte `json:"after,omitempty"` // the last push state key released; none yet when empty
}

// UnparkRecords replay a channel's DLQ: an unpark message for each
// partition of engine.messages, keyed so it lands there.
func UnparkRecords(names topology.Names, partitions int32, channel string) []*kgo.Record {
	value := mustJSON(message{Kind: msgUnpark, Channel: channel})
	var recs []*kgo.Record
	for _, key := range topology.PartitionKeys("unpark:"+channel+":", partitions) {
		recs = append(recs, &kgo.Record{Topic: string(names.EngineMessages), Key: []byte(key), Value: value})
	}
	return recs
}

// startUnpark begins (or begins again) releasing a channel's parked values
// at the message's partition.
func (p *Processor) startUnpark(c *txloop.Cycle, r *kgo.Record, channel string) {
	if !slices.Contains(p.cfg.Catalog.Channels(), channel) {
		p.deadLetter(c, r, fmt.Sprintf("unpark of channel %q, which is not configured (configured: %v)", channel, p.cfg.Catalog.Channels()))
		return
	}
	if p.unparks[r.Partition] == nil {
		p.unparks[r.Partition] = map[string][]byte{}
	}
	p.unparks[r.Partition][channel] = nil
	c.Put(r.Partition, unparkKey(channel), mustJSON(unparkCursor{}))
	p.log.Info("replaying a channel's DLQ: releasing its parked values", "channel", channel, "partition", r.Partition)
}

// unpark goes on with the unparks in progress: a batch of push states
// each, releasing the parked ones; the cursor is kept in the store until
// the partition's last push state was read.
func (p *Processor) unpark(c *txloop.Cycle) error {
	for part, channels := range p.unparks {
		st := c.Store(part)
		if st == nil {
			delete(p.unparks, part)
			continue
		}
		for ch, cursor := range channels {
			parked, cursor, end, err := p.scanPushStates(st, cursor, unparkScan, func(cs *processors.ChannelsState) bool {
				return cs.Sinks[ch] != nil && cs.Sinks[ch].Parked != ""
			})
			if err != nil {
				return fmt.Errorf("inventory: releasing the parked values of channel %s at partition %d: %w", ch, part, err)
			}
			for _, sku := range parked {
				if err := p.release(c, part, ch, sku); err != nil {
					return err
				}
			}
			if end {
				delete(channels, ch)
				c.Put(part, unparkKey(ch), nil)
				continue
			}
			channels[ch] = cursor
			c.Put(part, unparkKey(ch), mustJSON(unparkCursor{After: cursor}))
		}
	}
	return nil
}

// release makes a SKU's parked value of a channel pending again, as the
// cycle sees it, and offers it to the pusher once the cycle commits.
func (p *Processor) release(c *txloop.Cycle, part int32, channel, sku string) error {
	st, err := p.channelsState(c, part, sku)
	if err != nil {
		return err
	}
	s := st.Sinks[channel]
	if s == nil || s.Parked == "" || s.WantVersion <= s.AckedVersion {
		return nil
	}
	s.Parked = ""
	p.putChannels(c, part, sku, st)
	p.offers = append(p.offers, offer{part: part, channel: channel, update: marketplace.Update{SKU: sku, Available: s.Want, Version: s.WantVersion}})
	return nil
}

// loadUnparks reads the unparks in progress at a restored partition.
func (p *Processor) loadUnparks(part int32, st *state.Partition) {
	channels := map[string][]byte{}
	err := st.Scan([]byte(unparkPrefix), func(k, v []byte) bool {
		var u unparkCursor
		if json.Unmarshal(v, &u) == nil {
			channels[string(k[len(unparkPrefix):])] = u.After
		}
		return true
	})
	if err != nil {
		p.log.Error("reading the DLQ replays in progress at a restored partition; they go on after the next restore", "partition", part, "err", err)
	}
	p.unparks[part] = channels
}
