package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/stocksync/stocksync/admin"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/repartition"
	"github.com/stocksync/stocksync/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// runAdmin prints the deployment's topics against the config, the owner of
// every partition and the consumer lag; it exits non-zero when a topic does
// not match the config.
func runAdmin(ctx context.Context, getenv env, out io.Writer, args []string) error {
	if len(args) > 0 && args[0] == "repartition" {
		return runRepartition(ctx, getenv, out, args[1:])
	}
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	var o overrides
	fs.StringVar(&o.config, "config", "", "configuration file of the deployment; default $"+envConfig+"; required")
	fs.StringVar(&o.brokers, "brokers", "", "comma-separated Kafka brokers; default $"+envBrokers+", else kafka.brokers")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	settings, err := loadSettings("admin", getenv, o)
	if err != nil {
		return err
	}
	security, err := settings.Kafka.FranzOpts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(settings.Kafka.Brokers...)}, security...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	report, err := admin.Inspect(ctx, kadm.NewClient(cl), topology.New(settings.Kafka.TopicPrefix), settings.Kafka.Partitions, settings.Engine.Backend)
	report.Print(out)
	if err != nil {
		return fmt.Errorf("admin: %w (brokers %v)", err, settings.Kafka.Brokers)
	}
	if !report.Healthy() {
		return fmt.Errorf("admin: some topics do not match the config (see PROBLEM above and docs/operations.md)")
	}
	return nil
}

// runRepartition grows the new engine's partitions (docs/operations.md,
// "Growing the partitions"), printing its progress.
func runRepartition(ctx context.Context, getenv env, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("admin repartition", flag.ContinueOnError)
	var o overrides
	fs.StringVar(&o.config, "config", "", "configuration file of the deployment; default $"+envConfig+"; required")
	fs.StringVar(&o.brokers, "brokers", "", "comma-separated Kafka brokers; default $"+envBrokers+", else kafka.brokers")
	to := fs.Int("to", 0, "the partition count to grow to; required")
	abort := fs.Bool("abort", false, "give up a repartition whose topics have not grown: the old partitions serve again")
	fenceTimeout := fs.Duration("fence-timeout", 2*time.Minute, "how long the instances may take to stop and drain before the run gives up")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *to <= 0 {
		return &flagError{fs: fs, err: fmt.Errorf("--to is required (the new partition count)")}
	}
	settings, err := loadSettings("admin", getenv, o)
	if err != nil {
		return err
	}
	if settings.Engine.Backend != config.BackendTxloop {
		return fmt.Errorf("admin repartition: only the new engine (engine.backend: txloop) can grow its partitions; the goka engine's are fixed (docs/operations.md, \"Partition planning\")")
	}
	security, err := settings.Kafka.FranzOpts()
	if err != nil {
		return err
	}
	return repartition.Run(ctx, repartition.Config{Brokers: settings.Kafka.Brokers, Opts: security,
		Names: topology.New(settings.Kafka.TopicPrefix), Configured: settings.Kafka.Partitions, To: int32(*to),
		Replication: settings.Kafka.Replication, Abort: *abort, FenceTimeout: *fenceTimeout, Progress: out})
}
