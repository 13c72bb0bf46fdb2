package repartition

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/internal/txloop"
	"github.com/stocksync/stocksync/topology"
)

// fence waits until every instance of the old generation has stopped its
// intake and the messages between partitions have drained, and copies the
// table's rest. Proof: each partition's fence marker is consumed in a
// committed cycle (the member reading one fences itself: txloop), within
// one membership of the group; then nothing moves on the inputs or the
// table from before the last copy pass to after it.
func fence(ctx context.Context, cl *kgo.Client, adm *kadm.Client, cfg Config, id string, old topology.Names, n int32,
	cp *copier, say func(string, ...any)) error {
	deadline := time.Now().Add(cfg.FenceTimeout)
	group, msgs, table := string(old.Engine), string(old.EngineMessages), string(old.EngineTable())
	in := Inputs(cfg.Names)
	wait := func() error {
		if time.Now().After(deadline) {
			return fmt.Errorf("%w (%s, --fence-timeout)", ErrFenceTimeout, cfg.FenceTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
			return nil
		}
	}
	for attempt := 1; ; attempt++ {
		state, ids, err := members(ctx, adm, group)
		if err != nil {
			return err
		}
		if state != "Stable" && state != "Empty" {
			if err := wait(); err != nil {
				return err
			}
			continue
		}
		marker := map[int32]int64{}
		if state == "Stable" {
			for p := range n {
				r := &kgo.Record{Topic: msgs, Partition: p, Key: []byte("fence"),
					Headers: []kgo.RecordHeader{{Key: txloop.FenceHeader, Value: []byte(id)}}}
				if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
					return fmt.Errorf("writing the fence marker to %s[%d]: %w", msgs, p, err)
				}
				marker[p] = r.Offset
			}
		}
		// Fenced and drained: every marker consumed, nothing left to read
		// (past the group's committed offset, only transaction markers).
		last := time.Time{}
		for {
			committed, ends, err := offsets(ctx, adm, group, msgs)
			if err != nil {
				return err
			}
			fencedN := 0
			for p := range n {
				if state == "Empty" || committed[msgs][p] > marker[p] {
					fencedN++
				}
			}
			inFlight := 0
			if fencedN == int(n) {
				mlso, err := adm.ListCommittedOffsets(ctx, msgs)
				if err != nil {
					return fmt.Errorf("stable offsets of %s: %w", msgs, err)
				}
				stable := map[int32]int64{}
				mlso.Each(func(o kadm.ListedOffset) {
					stable[o.Partition] = o.Offset
					if o.Offset != ends[msgs][o.Partition] {
						inFlight++ // a transaction writing messages is open
					}
				})
				err = scan(ctx, cfg.Brokers, cfg.Opts, msgs, committed[msgs], stable, func(r *kgo.Record) {
					if !r.Attrs.IsControl() {
						inFlight++
					}
				})
				if err != nil {
					return fmt.Errorf("reading the messages in flight: %w", err)
				}
			}
			_, tends, err := offsets(ctx, adm, group, table)
			if err != nil {
				return err
			}
			lso, err := adm.ListCommittedOffsets(ctx, table)
			if err != nil {
				return fmt.Errorf("stable offsets of %s: %w", table, err)
			}
			open := 0
			lso.Each(func(o kadm.ListedOffset) {
				if o.Offset != tends[table][o.Partition] {
					open++
				}
			})
			if time.Since(last) > time.Second {
				say("fence: %d/%d partitions fenced, %d messages between partitions in flight, %d table partitions in a transaction", fencedN, n, inFlight, open)
				last = time.Now()
			}
			if fencedN == int(n) && inFlight == 0 && open == 0 {
				break
			}
			if state == "Empty" && inFlight > 0 {
				return fmt.Errorf("no instance runs to drain the %d messages between partitions on %s: start the instances (they start fenced)", inFlight, msgs)
			}
			if err := wait(); err != nil {
				return err
			}
		}
		before, bends, err := offsets(ctx, adm, group, append(in, table)...)
		if err != nil {
			return err
		}
		read, wrote, waiting, err := cp.pass(ctx)
		if err != nil {
			return fmt.Errorf("copying the table's rest: %w", err)
		}
		if waiting > 0 {
			return fmt.Errorf("%d orders still wait for messages between partitions although they drained: a bug; nothing grew", waiting)
		}
		after, aends, err := offsets(ctx, adm, group, append(in, table)...)
		if err != nil {
			return err
		}
		state2, ids2, err := members(ctx, adm, group)
		if err != nil {
			return err
		}
		// The inputs' ends move (producers go on writing): only what the
		// group committed and the table's end must stand still.
		if ids2 == ids && state2 == state && sameOffsets(before, after) &&
			sameOffsets(map[string]map[int32]int64{table: bends[table]}, map[string]map[int32]int64{table: aends[table]}) {
			say("fence: settled (attempt %d); copied the rest: read %d records, wrote %d", attempt, read, wrote)
			return nil
		}
		say("fence: the group or the table moved meanwhile (attempt %d); fencing again", attempt)
		if err := wait(); err != nil {
			return err
		}
	}
}

func sameOffsets(a, b map[string]map[int32]int64) bool {
	for t, ps := range a {
		for p, o := range ps {
			if b[t][p] != o {
				return false
			}
		}
	}
	return true
}

// members is the group's state and its member ids, sorted.
func members(ctx context.Context, adm *kadm.Client, group string) (string, string, error) {
	d, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return "", "", fmt.Errorf("describing group %s: %w", group, err)
	}
	g := d[group]
	if g.Err != nil {
		return "", "", fmt.Errorf("describing group %s: %w", group, g.Err)
	}
	var ids []string
	for _, m := range g.Members {
		ids = append(ids, m.MemberID)
	}
	slices.Sort(ids)
	return g.State, strings.Join(ids, ","), nil
}

// offsets are a group's committed offsets and the end offsets of topics.
func offsets(ctx context.Context, adm *kadm.Client, group string, topics ...string) (committed, ends map[string]map[int32]int64, err error) {
	c, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return nil, nil, fmt.Errorf("committed offsets of %s: %w", group, err)
	}
	e, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, nil, fmt.Errorf("end offsets of %v: %w", topics, err)
	}
	committed, ends = map[string]map[int32]int64{}, map[string]map[int32]int64{}
	for _, t := range topics {
		committed[t], ends[t] = map[int32]int64{}, map[int32]int64{}
	}
	c.Each(func(o kadm.OffsetResponse) {
		if committed[o.Topic] != nil {
			committed[o.Topic][o.Partition] = o.At
		}
	})
	e.Each(func(o kadm.ListedOffset) { ends[o.Topic][o.Partition] = o.Offset })
	return committed, ends, nil
}
