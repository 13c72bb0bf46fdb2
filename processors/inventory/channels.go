package inventory

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/internal/txloop"
	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/processors"
	"github.com/stocksync/stocksync/sinks"
	"github.com/stocksync/stocksync/state"
)

// Channels: the projection is computed in the cycle where the stock changed
// (no stock.changes → channels hop); each SKU's push state (what each
// channel should show, what its marketplace acknowledged) is a key of its
// own beside the SKU's ledger; new values reach the pushers in process once
// the cycle committed; the pushers' verdicts come back in process: a
// refusal is written with the next cycle, an acknowledgement a second
// later (Config.AckWriteDelay), conflated per SKU.

const channelsPrefix = "\x00c" // a SKU's push state, at the SKU's partition

func channelsKey(sku string) string { return channelsPrefix + sku }

// offer is a value to hand to a channel's pusher after the commit.
type offer struct {
	part    int32
	channel string
	update  marketplace.Update
}

// Verdict hands a pusher's verdict to the processor (sinks.Config.Send); it
// is recorded with the next cycle. It waits while the queue is full (the
// pushers outrun the loop, as when a catalogue's first sync meets a
// marketplace without limits): false only once ctx ends.
func (p *Processor) Verdict(ctx context.Context, v sinks.Verdict) bool {
	select {
	case p.verdicts <- v:
		return true
	case <-ctx.Done():
		return false
	}
}

// requeue puts back a verdict an aborted cycle had taken. The loop must
// not wait on its own queue: when it is full the pusher lets the value go,
// and the refill that follows an abort (Ready marks every partition
// behind) offers it again.
func (p *Processor) requeue(v sinks.Verdict) {
	select {
	case p.verdicts <- v:
	default:
		if pu := p.cfg.Pushers[v.Channel]; pu != nil {
			pu.Dropped(v.SKU, v.Version)
		}
	}
}

func (p *Processor) channelsState(c *txloop.Cycle, part int32, sku string) (*processors.ChannelsState, error) {
	if st, ok := p.cur.chans[sku]; ok {
		return st, nil
	}
	var st *processors.ChannelsState
	if cached, ok := p.chanCache[sku]; ok {
		st = cached // the cycle's own now, as a ledger is (Processor.ledger)
		delete(p.chanCache, sku)
	} else {
		raw, err := c.Get(part, channelsKey(sku))
		if err != nil {
			return nil, err
		}
		st = &processors.ChannelsState{}
		if raw != nil {
			if st, err = processors.DecodeChannelsState(raw); err != nil {
				return nil, fmt.Errorf("inventory: push state of SKU %q: %w", sku, err)
			}
		}
	}
	if st.Sinks == nil {
		st.Sinks = map[string]*processors.SinkState{}
	}
	p.cur.chans[sku] = st
	return st, nil
}

// project records the channels whose value moved for a SKU changed in this
// cycle: a new version, channel.stock, and an offer to each pusher.
func (p *Processor) project(c *txloop.Cycle, sku string, e *skuEntry) error {
	now := p.cfg.Catalog.ChannelValues(e.ledger)
	var moved []int
	for i := range now {
		if now[i] != e.ats[i] {
			moved = append(moved, i)
		}
	}
	if len(moved) == 0 {
		return nil
	}
	st, err := p.channelsState(c, e.part, sku)
	if err != nil {
		return err
	}
	st.Seq, st.At = e.ledger.Seq, e.at
	p.publish(c, e.part, sku, st, moved, now, e.at)
	return nil
}

// publish records new values of the moved channels in a SKU's push state:
// a new version, channel.stock, and an offer to each pusher. moved and
// values index the catalogue's channels (Catalog.ChannelValues).
func (p *Processor) publish(c *txloop.Cycle, part int32, sku string, st *processors.ChannelsState, moved []int, values []int64, at int64) {
	st.Rules = p.rules
	if len(moved) > 0 {
		st.Version++
	}
	channels := p.cfg.Catalog.Channels()
	for _, i := range moved {
		ch, value := channels[i], values[i]
		s := st.Sinks[ch]
		if s == nil {
			s = &processors.SinkState{}
			st.Sinks[ch] = s
		}
		s.Want, s.WantVersion, s.WantAt, s.Parked = value, st.Version, at, ""
		c.Emit(&kgo.Record{Topic: string(p.cfg.Names.ChannelStock), Key: []byte(sku),
			Value: must(contract.Marshal(contract.ChannelStock{Channel: ch, SKU: sku, Available: value, Version: st.Version}))})
		p.offers = append(p.offers, offer{part: part, channel: ch, update: marketplace.Update{SKU: sku, Available: value, Version: st.Version}})
	}
	p.putChannels(c, part, sku, st)
}

// rulesBatch bounds the push states a cycle checks against changed rules.
const rulesBatch = 2_000

// recheckRules recomputes, after a restore, the channel values that were
// computed under other channel rules (a share, a safety stock or a
// channel's locations changed in the config): a few thousand push states a
// cycle, from where the last cycle stopped.
// scanPushStates reads up to limit push states of a partition after
// cursor and lists the SKUs whose state match selects. It returns the
// cursor to go on from, and whether the scan reached the partition's last
// push state.
func (p *Processor) scanPushStates(st *state.Partition, cursor []byte, limit int, match func(*processors.ChannelsState) bool) (skus []string, next []byte, end bool, err error) {
	scanned, end := 0, true
	err = st.ScanAfter([]byte(channelsPrefix), cursor, func(k, v []byte) bool {
		if scanned >= limit {
			end = false
			return false
		}
		scanned++
		cursor = append(cursor[:0], k...)
		sku := string(k[len(channelsPrefix):])
		if cs, err := p.pushState(sku, v); err == nil && match(cs) {
			skus = append(skus, sku)
		}
		return true
	})
	return skus, cursor, end, err
}

func (p *Processor) recheckRules(c *txloop.Cycle, now time.Time) error {
	for part, cursor := range p.rulesCursor {
		st := c.Store(part)
		if st == nil {
			delete(p.rulesCursor, part)
			continue
		}
		stale, cursor, end, err := p.scanPushStates(st, cursor, rulesBatch, func(cs *processors.ChannelsState) bool {
			return cs.Rules != p.rules
		})
		if err != nil {
			return err
		}
		for _, sku := range stale {
			if err := p.reproject(c, part, sku, now); err != nil {
				return err
			}
		}
		if end {
			delete(p.rulesCursor, part)
		} else {
			p.rulesCursor[part] = cursor
		}
	}
	return nil
}

// reproject computes a SKU's channel values anew and publishes those that
// differ from what its push state wants.
func (p *Processor) reproject(c *txloop.Cycle, part int32, sku string, now time.Time) error {
	e, err := p.ledger(c, sku)
	if err != nil {
		return err
	}
	st, err := p.channelsState(c, part, sku)
	if err != nil {
		return err
	}
	values := p.cfg.Catalog.ChannelValues(e.ledger)
	var moved []int
	for i, ch := range p.cfg.Catalog.Channels() {
		if s := st.Sinks[ch]; s == nil || s.Want != values[i] {
			moved = append(moved, i)
		}
	}
	p.publish(c, part, sku, st, moved, values, now.UnixMilli())
	return nil
}

// putChannels writes a SKU's push state; flush caches it once the cycle
// commits. The write carries every acknowledgement recorded so far.
func (p *Processor) putChannels(c *txloop.Cycle, part int32, sku string, st *processors.ChannelsState) {
	c.Put(part, channelsKey(sku), st.AppendBinary(nil))
	delete(p.unwritten, sku)
}

// unwrittenAck is a SKU whose push state has acknowledgements its
// changelog lacks.
type unwrittenAck struct {
	part int32
	due  int64 // unix ms
}

// ackLater records that a SKU's push state has an acknowledgement to write,
// Config.AckWriteDelay from now.
func (p *Processor) ackLater(part int32, sku string, now time.Time) {
	if _, ok := p.unwritten[sku]; ok {
		return
	}
	due := now.Add(p.cfg.AckWriteDelay).UnixMilli()
	p.unwritten[sku] = unwrittenAck{part: part, due: due}
	p.unwrittenAt.push(sku, due)
}

// writeAcks writes the push states whose acknowledgements have waited
// Config.AckWriteDelay. The cache keeps such states (keep), but an aborted
// cycle drops those it took: their acknowledgements are lost, and the
// refill that follows an abort (Aborted marks every partition behind)
// pushes their values again, whose acknowledgements are then recorded.
func (p *Processor) writeAcks(c *txloop.Cycle, now time.Time) error {
	for _, sku := range p.unwrittenAt.due(now.UnixMilli()) {
		u, ok := p.unwritten[sku]
		if !ok || u.due > now.UnixMilli() { // written meanwhile, or acknowledged again since
			continue
		}
		_, cached := p.chanCache[sku]
		if !c.Owned(u.part) || !cached && p.cur.chans[sku] == nil {
			delete(p.unwritten, sku)
			continue
		}
		st, err := p.channelsState(c, u.part, sku)
		if err != nil {
			return err
		}
		p.putChannels(c, u.part, sku, st)
	}
	return nil
}

// recordVerdicts records the pushers' verdicts that came since the last
// cycle: an acknowledgement moves what the marketplace shows (written
// within Config.AckWriteDelay), a refusal parks the value in the DLQ
// (written now).
func (p *Processor) recordVerdicts(c *txloop.Cycle, now time.Time) error {
	for range cap(p.verdicts) {
		var v sinks.Verdict
		select {
		case v = <-p.verdicts:
		default:
			return nil
		}
		part := p.partition(v.SKU)
		if p.cfg.Pushers[v.Channel] == nil {
			continue
		}
		if !c.Owned(part) {
			// The partition moved on (its new owner pushes again) or is
			// being restored (marked behind: refill offers its values
			// again). The pusher lets the value go either way; else it
			// would wait for this acknowledgement forever.
			p.settled = append(p.settled, v)
			continue
		}
		st, err := p.channelsState(c, part, v.SKU)
		if err != nil {
			return err
		}
		// The push state is the cached one, not a copy: an acknowledgement
		// lives there until writeAcks writes it.
		s, known := st.Sinks[v.Channel]
		if !known {
			s = &processors.SinkState{}
		}
		switch {
		case v.OK && v.Version > s.AckedVersion:
			first := s.AckedVersion == 0
			s.Acked, s.AckedVersion, s.AckedAt = v.Available, v.Version, v.At
			if v.Version == s.WantVersion && p.cfg.SinkMetrics != nil {
				p.cfg.SinkMetrics.ObserveAck(v.Channel, first, float64(v.At-s.WantAt)/1000)
			}
		case v.OK: // a value pushed again (a refill, a takeover) whose acknowledgement is recorded: the pusher lets it go
			p.settled = append(p.settled, v)
			continue
		case !v.OK && v.Version >= s.WantVersion && s.Parked == "":
			s.Parked = v.Reason
			dl := processors.DeadLetter{Topic: "marketplace:" + v.Channel, Key: v.SKU, Value: string(mustJSON(v)),
				Reason: fmt.Sprintf("channel %s: the marketplace refused SKU %q: %s", v.Channel, v.SKU, v.Reason),
				At:     time.UnixMilli(v.At).UTC().Format(time.RFC3339Nano)}
			c.Emit(&kgo.Record{Topic: string(p.cfg.Names.DLQ), Key: []byte(v.SKU), Value: mustJSON(dl)})
			if p.cfg.SinkMetrics != nil {
				p.cfg.SinkMetrics.DLQ.WithLabelValues(v.Channel).Inc()
			}
		default:
			continue
		}
		if !known {
			st.Sinks[v.Channel] = s
		}
		if v.OK { // written later, or sooner with the SKU's next value
			p.ackLater(part, v.SKU, now)
		} else {
			p.putChannels(c, part, v.SKU, st)
		}
		p.settled = append(p.settled, v)
	}
	return nil
}

// afterCommit tells the pushers what the committed cycle decided.
func (p *Processor) afterCommit() {
	for _, o := range p.offers {
		if pu := p.cfg.Pushers[o.channel]; pu != nil {
			pu.Offer(o.part, o.update)
		}
	}
	for _, v := range p.settled {
		if pu := p.cfg.Pushers[v.Channel]; pu != nil {
			if v.OK {
				pu.Acked(v.SKU, v.Version)
			} else {
				pu.Dropped(v.SKU, v.Version)
			}
		}
	}
	p.offers, p.settled = p.offers[:0], p.settled[:0]
}

// seedPushers tells the pushers a restored partition may hold values their
// marketplaces lack; refill offers them as the pushers have room.
func (p *Processor) seedPushers(part int32) {
	p.rulesCursor[part] = nil // and check its values against the rules
	for ch, pu := range p.cfg.Pushers {
		pu.MarkBehind(part)
		delete(p.sweeps[ch], part)
	}
}

// Refill bounds, per pusher and partition and cycle, the push states read
// and the values offered again.
const (
	refillScan  = 20_000
	refillOffer = 10_000
)

// refill offers the pushers that have room the pending values of the
// partitions they are behind on, reading the partitions' push states from
// where the last refill stopped. The stores are up to date with every
// committed cycle, so nothing offered is older than what a marketplace
// acknowledged.
func (p *Processor) refill(c *txloop.Cycle) {
	for ch, pu := range p.cfg.Pushers {
		marks, room := pu.Behind()
		for part, mark := range marks {
			st := c.Store(part)
			if st == nil || room <= 0 {
				continue
			}
			sweeps := p.sweeps[ch]
			if sweeps == nil {
				sweeps = map[int32]*sweep{}
				p.sweeps[ch] = sweeps
			}
			sw := sweeps[part]
			if sw == nil {
				// A value refused for room after this mark may lie behind
				// the cursor: it keeps the partition behind, for another
				// sweep.
				sw = &sweep{mark: mark}
				sweeps[part] = sw
			}
			scanned, offered, end := 0, 0, true
			err := st.ScanAfter([]byte(channelsPrefix), sw.cursor, func(k, v []byte) bool {
				if scanned >= refillScan || offered >= min(room, refillOffer) {
					end = false
					return false
				}
				scanned++
				sw.cursor = append(sw.cursor[:0], k...)
				sku := string(k[len(channelsPrefix):])
				cs, err := p.pushState(sku, v) // the cached state has the acknowledgements not yet written
				if err != nil {
					return true
				}
				if s := cs.Sinks[ch]; s != nil && s.Pending() {
					pu.Offer(part, marketplace.Update{SKU: sku, Available: s.Want, Version: s.WantVersion})
					offered++
				}
				return true
			})
			if err != nil {
				p.log.Error("reading pending channel values of a partition; trying again next cycle", "partition", part, "channel", ch, "err", err)
				continue
			}
			room -= offered
			if end {
				delete(sweeps, part)
				pu.CaughtUp(part, sw.mark)
			}
		}
	}
}

// sweep is a refill's pass over a partition's push states for one pusher:
// where it stands, and the pusher's mark when it began.
type sweep struct {
	cursor []byte
	mark   uint64
}

// pushState is a SKU's newest committed push state, with the
// acknowledgements not yet written: cached, else as stored.
func (p *Processor) pushState(sku string, stored []byte) (*processors.ChannelsState, error) {
	if st, ok := p.chanCache[sku]; ok {
		return st, nil
	}
	return processors.DecodeChannelsState(stored)
}

// ChannelStock reads a SKU's push state for one channel from a store.
func ChannelStock(st *state.Partition, channel, sku string) (*processors.SinkState, error) {
	raw, err := st.Get([]byte(channelsKey(sku)))
	if err != nil || raw == nil {
		return nil, err
	}
	cs, err := processors.DecodeChannelsState(raw)
	if err != nil {
		return nil, err
	}
	return cs.Sinks[channel], nil
}
