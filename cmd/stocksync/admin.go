package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/stocksync/stocksync/admin"
	"github.com/stocksync/stocksync/topology"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// runAdmin prints the deployment's topics against the config, the owner of
// every partition and the consumer lag; it exits non-zero when a topic does
// not match the config.
func runAdmin(ctx context.Context, getenv env, out io.Writer, args []string) error {
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
