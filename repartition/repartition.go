// Package repartition grows the new engine's partitions from N to M while
// orders flow: `stocksync admin repartition --to M` (docs/operations.md,
// "Growing the partitions"). It copies the engine table, placed by the new
// count, into the new generation's table while the old generation serves;
// fences the old generation's intake, lets the messages between partitions
// drain and copies the rest; then grows the input topics and tells the
// instances to switch. Until the topics grow, a failure or an --abort
// leaves the old partitioning serving; after that, running the tool again
// finishes the switch.
package repartition

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/internal/topics"
	"github.com/stocksync/stocksync/topology"
)

// Config is one run of the tool.
type Config struct {
	Brokers     []string       // required
	Opts        []kgo.Opt      // TLS, SASL
	Names       topology.Names // the deployment's (topology.New(prefix)); required
	Configured  int32          // kafka.partitions of the config; required
	To          int32          // the partition count to grow to; required
	Replication int16          // of the new table; default 1
	// Abort gives up a repartition whose topics have not grown: the
	// instances take their intake again on the old partitioning.
	Abort bool
	// FenceTimeout bounds the pause: how long the fenced instances may take
	// to drain before the run gives up (and the old partitioning serves
	// again); default 2m.
	FenceTimeout time.Duration
	Progress     io.Writer // default io.Discard
}

// Inputs are the engine's input topics of a deployment: what grows.
func Inputs(n topology.Names) []string {
	return []string{string(n.OrderCommands), string(n.StockFeed), string(n.EngineMessages)}
}

// Run runs (or resumes) the repartition, or aborts it.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Replication == 0 {
		cfg.Replication = 1
	}
	if cfg.FenceTimeout == 0 {
		cfg.FenceTimeout = 2 * time.Minute
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	say := func(format string, args ...any) {
		fmt.Fprintf(cfg.Progress, "%s  "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05.000")}, args...)...)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(5 * time.Millisecond)}, cfg.Opts...)...)
	if err != nil {
		return fmt.Errorf("repartition: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	old, n, err := topics.Generation(ctx, adm, cfg.Names, cfg.Configured)
	if err != nil {
		return fmt.Errorf("repartition: %w", err)
	}
	ctl, err := ReadControl(ctx, cfg.Brokers, cfg.Opts, cfg.Names)
	if err != nil {
		return err
	}
	neu := cfg.Names.AtPartitions(cfg.To)
	if cfg.Abort {
		return abort(ctx, cl, adm, cfg, ctl, n, neu, say)
	}
	switch {
	case n == cfg.To:
		if ctl != nil && ctl.To == cfg.To && ctl.Phase != PhaseSwitch { // stopped between growing and saying so
			return finish(ctx, cl, adm, cfg, *ctl, time.Now(), say)
		}
		say("done: %s has %d partitions, the engine runs in group %s", cfg.Names.OrderCommands, n, old.Engine)
		return nil
	case n > cfg.To:
		return fmt.Errorf("repartition: %s already has %d partitions; partitions only grow (asked for %d)", cfg.Names.OrderCommands, n, cfg.To)
	}
	id := fmt.Sprintf("%d-%d", cfg.To, time.Now().UnixNano())
	if ctl != nil && ctl.To == cfg.To && ctl.Phase == PhaseFence {
		id = ctl.ID // resumed while fenced
	}
	say("repartition %s from %d to %d partitions (run %s): table %s → %s", cfg.Names.Prefix, n, cfg.To, id, old.EngineTable(), neu.EngineTable())

	// 1. The new table, filled while the old partitioning serves.
	if err := createTable(ctx, cl, adm, string(neu.EngineTable()), cfg.To, cfg.Replication); err != nil {
		return fmt.Errorf("repartition: %w", err)
	}
	cp := newCopier(cl, cfg.Brokers, cfg.Opts, string(old.EngineTable()), n, string(neu.EngineTable()), cfg.To)
	had, err := cp.loadWritten(ctx)
	if err != nil {
		return fmt.Errorf("repartition: reading the new table back: %w", err)
	}
	if had > 0 {
		say("copy: resuming; the new table holds %d records of an earlier run", had)
	}
	for pass := 1; ; pass++ {
		began := time.Now()
		read, wrote, _, err := cp.pass(ctx)
		if err != nil {
			return fmt.Errorf("repartition: copying the table (pass %d): %w", pass, err)
		}
		say("copy pass %d: read %d records of the old table, wrote %d to the new one (%s)", pass, read, wrote, time.Since(began).Round(time.Millisecond))
		if read < 1000 || pass == 5 {
			break
		}
	}

	// 2. The fence: the pause begins.
	if err := writeControl(ctx, cl, cfg.Names, Control{ID: id, From: n, To: cfg.To, Phase: PhaseFence}); err != nil {
		return fmt.Errorf("repartition: %w", err)
	}
	fenced := time.Now()
	say("fence: the instances stop taking orders and feeds; the messages between partitions drain (should this tool die before the switch, run it again, or with --abort)")
	if err := fence(ctx, cl, adm, cfg, id, old, n, cp, say); err != nil {
		if aerr := writeControl(context.WithoutCancel(ctx), cl, cfg.Names, Control{ID: id, From: n, To: cfg.To, Phase: PhaseAbort}); aerr != nil {
			return fmt.Errorf("repartition: %w; and lifting the fence failed too (run with --abort): %w", err, aerr)
		}
		return fmt.Errorf("repartition: %w; the fence is lifted and the %d partitions serve again (run again to retry)", err, n)
	}

	// 3. The point of no return: the new group starts where the old one
	// stopped, the inputs grow, the instances switch.
	if err := handOver(ctx, adm, old, neu, cfg.Names); err != nil {
		if aerr := writeControl(context.WithoutCancel(ctx), cl, cfg.Names, Control{ID: id, From: n, To: cfg.To, Phase: PhaseAbort}); aerr != nil {
			return fmt.Errorf("repartition: %w; and lifting the fence failed too (run with --abort): %w", err, aerr)
		}
		return fmt.Errorf("repartition: %w; nothing grew, the fence is lifted and the %d partitions serve again (run again to retry)", err, n)
	}
	return finish(ctx, cl, adm, cfg, Control{ID: id, From: n, To: cfg.To}, fenced, say)
}

// finish grows the inputs that have not grown yet and tells the instances
// to switch. Once one input grew there is no way back: a failure here is
// finished by running the tool again.
func finish(ctx context.Context, cl *kgo.Client, adm *kadm.Client, cfg Config, c Control, fenced time.Time, say func(string, ...any)) error {
	td, err := adm.ListTopics(ctx, Inputs(cfg.Names)...)
	if err != nil {
		return fmt.Errorf("repartition: describing the inputs: %w (run again to finish)", err)
	}
	var grow []string
	for _, t := range Inputs(cfg.Names) {
		if len(td[t].Partitions) < int(cfg.To) {
			grow = append(grow, t)
		}
	}
	if len(grow) > 0 {
		res, err := adm.UpdatePartitions(ctx, int(cfg.To), grow...)
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			return fmt.Errorf("repartition: growing %v to %d partitions: %w (run again to finish)", grow, cfg.To, err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = topics.WaitLed(wctx, cl, Inputs(cfg.Names), cfg.To)
	cancel()
	if err != nil {
		return fmt.Errorf("repartition: %w (run again to finish)", err)
	}
	c.Phase = PhaseSwitch
	if err := writeControl(ctx, cl, cfg.Names, c); err != nil {
		return fmt.Errorf("repartition: %w (run again to finish)", err)
	}
	say("switch: %v have %d partitions; the instances switch to group %s (fenced %s ago)", Inputs(cfg.Names), cfg.To,
		cfg.Names.AtPartitions(cfg.To).Engine, time.Since(fenced).Round(time.Millisecond))
	return nil
}

func createTable(ctx context.Context, cl *kgo.Client, adm *kadm.Client, name string, partitions int32, replication int16) error {
	res, err := adm.CreateTopics(ctx, partitions, replication, topics.TableConfigs(), name)
	if err != nil {
		return fmt.Errorf("creating %s: %w", name, err)
	}
	for _, r := range res.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("creating %s: %w", r.Topic, r.Err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return topics.WaitLed(wctx, cl, []string{name}, partitions)
}

// handOver commits the old group's offsets of the inputs as the new
// group's: the new generation reads on where the old one stopped (the new
// partitions, empty so far, from their start).
func handOver(ctx context.Context, adm *kadm.Client, old, neu, base topology.Names) error {
	c, err := adm.FetchOffsets(ctx, string(old.Engine))
	if err != nil {
		return fmt.Errorf("committed offsets of %s: %w", old.Engine, err)
	}
	var to kadm.Offsets
	in := Inputs(base)
	c.Each(func(o kadm.OffsetResponse) {
		if slices.Contains(in, o.Topic) && o.Err == nil && o.At >= 0 {
			to.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.At, LeaderEpoch: -1})
		}
	})
	res, err := adm.CommitOffsets(ctx, string(neu.Engine), to)
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		return fmt.Errorf("committing the offsets of %s as %s's: %w", old.Engine, neu.Engine, err)
	}
	return nil
}

// abort lifts a fence whose topics have not grown, and deletes the new
// table and group.
func abort(ctx context.Context, cl *kgo.Client, adm *kadm.Client, cfg Config, ctl *Control, n int32, neu topology.Names, say func(string, ...any)) error {
	if n >= cfg.To {
		return fmt.Errorf("repartition: %s already has %d partitions: the switch cannot be undone; run without --abort to finish it", cfg.Names.OrderCommands, n)
	}
	id := ""
	if ctl != nil {
		id = ctl.ID
	}
	if err := writeControl(ctx, cl, cfg.Names, Control{ID: id, From: n, To: cfg.To, Phase: PhaseAbort}); err != nil {
		return fmt.Errorf("repartition: %w", err)
	}
	if _, err := adm.DeleteTopics(ctx, string(neu.EngineTable())); err != nil {
		say("abort: deleting %s failed (delete it by hand): %v", neu.EngineTable(), err)
	}
	if _, err := adm.DeleteGroups(ctx, string(neu.Engine)); err != nil {
		say("abort: deleting group %s failed: %v", neu.Engine, err)
	}
	say("abort: the fence is lifted; %d partitions serve", n)
	return nil
}
