package repartition

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/processors/inventory"
)

// copier keeps the old table and what the new one holds in memory, and
// brings the new one to the old one's content placed by the new count
// (inventory.Repartition). Each pass reads the old table from where the
// last one stopped and writes only the difference, so a pass is cheap once
// the first has run, and a copy stopped anywhere is resumed by a new
// copier: it reads the new table back first.
type copier struct {
	cl       *kgo.Client
	adm      *kadm.Client
	opts     []kgo.Opt
	brokers  []string
	from, to string // the old and the new table
	old      []map[string][]byte
	next     []int64 // of the old table, by partition
	written  []map[string][]byte
}

func newCopier(cl *kgo.Client, brokers []string, opts []kgo.Opt, from string, n int32, to string, m int32) *copier {
	c := &copier{cl: cl, adm: kadm.NewClient(cl), opts: opts, brokers: brokers, from: from, to: to,
		old: make([]map[string][]byte, n), next: make([]int64, n), written: make([]map[string][]byte, m)}
	for i := range c.old {
		c.old[i] = map[string][]byte{}
	}
	for i := range c.written {
		c.written[i] = map[string][]byte{}
	}
	return c
}

// read applies topic's committed records from next up to its stable end
// (the last stable offset as the pass begins) to into; it returns how many
// records it read.
func (c *copier) read(ctx context.Context, topic string, next []int64, into []map[string][]byte) (int, error) {
	lso, err := c.adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("stable end offsets of %s: %w", topic, err)
	}
	from, upTo := map[int32]int64{}, map[int32]int64{}
	for p := range next {
		o, ok := lso.Lookup(topic, int32(p))
		if !ok || o.Err != nil {
			return 0, fmt.Errorf("stable end offset of %s[%d]: %v", topic, p, o.Err)
		}
		from[int32(p)], upTo[int32(p)] = next[p], o.Offset
	}
	n := 0
	err = scan(ctx, c.brokers, c.opts, topic, from, upTo, func(r *kgo.Record) {
		next[r.Partition] = r.Offset + 1
		if r.Attrs.IsControl() {
			return
		}
		n++
		if r.Value == nil {
			delete(into[r.Partition], string(r.Key))
		} else {
			into[r.Partition][string(r.Key)] = r.Value
		}
	})
	return n, err
}

// scan hands fn every committed record of topic's partitions from from[p]
// up to upTo[p] (exclusive), transaction markers included.
func scan(ctx context.Context, brokers []string, opts []kgo.Opt, topic string, from, upTo map[int32]int64, fn func(*kgo.Record)) error {
	want := map[int32]kgo.Offset{}
	left := map[int32]int64{}
	for p, o := range from {
		if upTo[p] > o {
			want[p] = kgo.NewOffset().At(o)
			left[p] = upTo[p]
		}
	}
	if len(want) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: want}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(), kgo.FetchMaxWait(200 * time.Millisecond)}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for len(left) > 0 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("reading %s[%d]: %w", t, p, err) })
		if ferr != nil {
			return ferr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			end, open := left[r.Partition]
			if !open || r.Offset >= end {
				return
			}
			fn(r)
			if r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
	}
	return nil
}

// loadWritten reads the new table back: a resumed copy writes only what
// differs.
func (c *copier) loadWritten(ctx context.Context) (int, error) {
	return c.read(ctx, c.to, make([]int64, len(c.written)), c.written)
}

// pass reads the old table's new records and writes the difference to the
// new one. It returns the records read, the keys written, and how many
// orders wait for messages between partitions (inventory.Repartition).
func (c *copier) pass(ctx context.Context) (read, wrote, waiting int, err error) {
	read, err = c.read(ctx, c.from, c.next, c.old)
	if err != nil {
		return read, 0, 0, err
	}
	want, waiting, err := inventory.Repartition(c.old, int32(len(c.written)))
	if err != nil {
		return read, 0, 0, err
	}
	var mu sync.Mutex
	var perr error
	put := func(p int, k string, v []byte) {
		wrote++
		c.cl.Produce(ctx, &kgo.Record{Topic: c.to, Partition: int32(p), Key: []byte(k), Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				perr = err
				mu.Unlock()
			}
		})
		if v == nil {
			delete(c.written[p], k)
		} else {
			c.written[p][k] = v
		}
	}
	for p := range want {
		for k, v := range want[p] {
			if w, ok := c.written[p][k]; !ok || !bytes.Equal(w, v) {
				put(p, k, v)
			}
		}
		for k := range c.written[p] {
			if _, ok := want[p][k]; !ok {
				put(p, k, nil)
			}
		}
	}
	if err := c.cl.Flush(ctx); err != nil {
		return read, wrote, waiting, err
	}
	if perr != nil {
		return read, wrote, waiting, fmt.Errorf("writing %s: %w", c.to, perr)
	}
	return read, wrote, waiting, nil
}
