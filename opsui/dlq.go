package opsui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/processors"
)

// DeadLetter is one message of the DLQ topic, as the console shows it.
type DeadLetter struct {
	ID string `json:"id"` // "<partition>-<offset>" of the DLQ topic
	processors.DeadLetter
	Class    string    `json:"class"`                 // the reason up to its first colon: what the filter groups by
	Replayed string    `json:"replayed_at,omitempty"` // when this instance replayed it
	written  time.Time // the DLQ record's timestamp: the listing's order
}

// DeadLetterPage is the answer of GET /v1/dlq.
type DeadLetterPage struct {
	Classes []ClassCount `json:"classes"` // over every message scanned, most first
	Items   []DeadLetter `json:"items"`   // of the asked class, newest first
	Total   int          `json:"total"`   // messages of the asked class scanned
	Scanned int          `json:"scanned"` // the newest messages read, at most dlqScan
}

// ClassCount is how many scanned messages share a class.
type ClassCount struct {
	Class string `json:"class"`
	Count int    `json:"count"`
}

// Replayed is the outcome of replaying one message.
type Replayed struct {
	ID     string `json:"id"`
	To     string `json:"to"` // the topic it was sent to again, or "channel <name>" for a marketplace refusal
	Error  string `json:"error,omitempty"`
	Status string `json:"status"` // replayed | failed
}

// dlqScan bounds the messages a listing reads: the newest of each partition.
const dlqScan = 10_000

type deadLetters struct {
	cfg    Config
	client *kgo.Client
	adm    *kadm.Client
	scan   cache[[]DeadLetter]

	mu       sync.Mutex
	replayed map[string]string // id → when
}

// DeadLetters lists the newest DLQ messages of a class ("" for all), at most limit.
func (c *Console) DeadLetters(ctx context.Context, class string, limit int) (DeadLetterPage, error) {
	all, err := c.dlq.scan.get(ctx, c.cfg.Now(), c.dlq.read)
	if err != nil {
		return DeadLetterPage{}, err
	}
	page := DeadLetterPage{Scanned: len(all), Items: []DeadLetter{}, Classes: []ClassCount{}}
	counts := map[string]int{}
	for _, d := range all {
		counts[d.Class]++
		if class != "" && d.Class != class {
			continue
		}
		page.Total++
		if len(page.Items) < limit {
			page.Items = append(page.Items, c.dlq.mark(d))
		}
	}
	for k, n := range counts {
		page.Classes = append(page.Classes, ClassCount{k, n})
	}
	slices.SortFunc(page.Classes, func(a, b ClassCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Class, b.Class)
	})
	return page, nil
}

// DeadLetter reads one message by id.
func (c *Console) DeadLetter(ctx context.Context, id string) (DeadLetter, error) {
	d, err := c.dlq.one(ctx, id)
	return c.dlq.mark(d), err
}

// Replay sends each message again: to the topic it came from (one batch
// for all of them), or, for a marketplace's refusal, releases its channel's
// parked values for another push. Each id has its own outcome.
func (c *Console) Replay(ctx context.Context, ids []string) []Replayed {
	known := map[string]DeadLetter{}
	c.dlq.scan.mu.Lock()
	for _, d := range c.dlq.scan.val {
		known[d.ID] = d
	}
	c.dlq.scan.mu.Unlock()
	out := make([]Replayed, len(ids))
	channels := map[string]error{} // a channel is released once however many of its refusals are replayed
	var recs []*kgo.Record
	var recIdx []int
	for i, id := range ids {
		out[i] = Replayed{ID: id}
		d, ok := known[id]
		var err error
		if !ok {
			d, err = c.dlq.one(ctx, id)
		}
		switch ch, refused := c.dlq.refusedChannel(d); {
		case err != nil:
		case refused:
			out[i].To = "channel " + ch
			var done bool
			if err, done = channels[ch]; !done {
				err = c.cfg.Engine.ReplayChannelDLQ(ctx, ch)
				channels[ch] = err
			}
		case d.Topic == "":
			err = fmt.Errorf("dead letter %s names no source topic: it cannot be replayed", id)
		default:
			out[i].To = d.Topic
			recs = append(recs, &kgo.Record{Topic: d.Topic, Key: []byte(d.Key), Value: []byte(d.Value),
				Headers: []kgo.RecordHeader{{Key: "stocksync-replayed-from", Value: []byte(string(c.cfg.Names.DLQ) + "/" + id)}}})
			recIdx = append(recIdx, i)
			continue
		}
		c.dlq.settle(&out[i], err)
	}
	for j, res := range c.client.ProduceSync(ctx, recs...) {
		var err error
		if res.Err != nil {
			err = fmt.Errorf("%w: sending it to %s: %v", contract.ErrUnavailable, res.Record.Topic, res.Err)
		}
		c.dlq.settle(&out[recIdx[j]], err)
	}
	return out
}

// settle records one replay's outcome.
func (q *deadLetters) settle(r *Replayed, err error) {
	if err != nil {
		r.Status, r.Error = "failed", err.Error()
		return
	}
	r.Status = "replayed"
	q.mu.Lock()
	q.replayed[r.ID] = q.cfg.Now().UTC().Format(time.RFC3339)
	q.mu.Unlock()
}

func (q *deadLetters) mark(d DeadLetter) DeadLetter {
	q.mu.Lock()
	defer q.mu.Unlock()
	d.Replayed = q.replayed[d.ID]
	return d
}

// refusedChannel names the channel of a marketplace's refusal: the old
// engine parks the verdict from sink.verdicts, the new one names
// "marketplace:<channel>".
func (q *deadLetters) refusedChannel(d DeadLetter) (string, bool) {
	if ch, ok := strings.CutPrefix(d.Topic, "marketplace:"); ok {
		return ch, true
	}
	if d.Topic != string(q.cfg.Names.SinkVerdicts) {
		return "", false
	}
	var v struct {
		Channel string `json:"channel"`
	}
	if json.Unmarshal([]byte(d.Value), &v) != nil || v.Channel == "" {
		return "", false
	}
	return v.Channel, true
}

// read scans the newest dlqScan messages over the DLQ's partitions, newest first.
func (q *deadLetters) read(ctx context.Context) ([]DeadLetter, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	topic := string(q.cfg.Names.DLQ)
	starts, err := q.adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("%w: start offsets of %s: %v", contract.ErrUnavailable, topic, err)
	}
	ends, err := q.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("%w: end offsets of %s: %v", contract.ErrUnavailable, topic, err)
	}
	parts := max(len(ends[topic]), 1)
	from := map[int32]kgo.Offset{}
	until := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		start, _ := starts.Lookup(o.Topic, o.Partition)
		first := max(start.Offset, o.Offset-int64(dlqScan/parts))
		if o.Err == nil && o.Offset > first {
			from[o.Partition], until[o.Partition] = kgo.NewOffset().At(first), o.Offset
		}
	})
	recs, err := q.consume(ctx, from, until)
	out := make([]DeadLetter, 0, len(recs))
	for _, r := range recs {
		out = append(out, decode(r))
	}
	slices.SortFunc(out, func(a, b DeadLetter) int { return b.written.Compare(a.written) })
	return out, err
}

// one reads the message with id "<partition>-<offset>".
func (q *deadLetters) one(ctx context.Context, id string) (DeadLetter, error) {
	ps, os, ok := strings.Cut(id, "-")
	p, err1 := strconv.ParseInt(ps, 10, 32)
	o, err2 := strconv.ParseInt(os, 10, 64)
	if !ok || err1 != nil || err2 != nil || p < 0 || o < 0 {
		return DeadLetter{}, &contract.InvalidError{Field: "id", Reason: fmt.Sprintf("%q is not <partition>-<offset> of the DLQ", id)}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	recs, err := q.consume(ctx, map[int32]kgo.Offset{int32(p): kgo.NewOffset().At(o)}, map[int32]int64{int32(p): o + 1})
	for _, r := range recs {
		if r.Offset == o {
			return decode(r), nil
		}
	}
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w: no message %s in %s (it may have been deleted by retention)", contract.ErrNotFound, id, q.cfg.Names.DLQ)
	}
	return DeadLetter{}, err
}

// consume reads each partition from its offset until the offset before
// until, with a client of its own that lives for this read.
func (q *deadLetters) consume(ctx context.Context, from map[int32]kgo.Offset, until map[int32]int64) ([]*kgo.Record, error) {
	if len(from) == 0 {
		return nil, nil
	}
	topic := string(q.cfg.Names.DLQ)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(q.cfg.Brokers...), kgo.ClientID("stocksync-console-dlq"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}), kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.FetchIsolationLevel(kgo.ReadCommitted())}, q.cfg.Opts...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var recs []*kgo.Record
	left := len(until)
	// A transactional producer leaves markers that are never delivered, so
	// a partition may end short of until: a quiet poll ends the read too.
	for left > 0 {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fetches := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return recs, fmt.Errorf("%w: reading %s: %v", contract.ErrUnavailable, topic, ctx.Err())
		}
		got := 0
		fetches.EachRecord(func(r *kgo.Record) {
			got++
			end, ok := until[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			recs = append(recs, r)
			if r.Offset == end-1 {
				delete(until, r.Partition)
				left--
			}
		})
		if got == 0 && pctx.Err() != nil {
			break
		}
	}
	return recs, nil
}

func decode(r *kgo.Record) DeadLetter {
	d := DeadLetter{ID: fmt.Sprintf("%d-%d", r.Partition, r.Offset), written: r.Timestamp}
	if err := json.Unmarshal(r.Value, &d.DeadLetter); err != nil {
		d.Reason, d.Value = "not a dead letter: "+err.Error(), string(r.Value)
	}
	if d.At == "" {
		d.At = r.Timestamp.UTC().Format(time.RFC3339Nano)
	}
	d.Class, _, _ = strings.Cut(d.Reason, ":")
	return d
}
