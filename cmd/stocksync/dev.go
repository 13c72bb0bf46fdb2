package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/examples"
	"github.com/stocksync/stocksync/instance"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func runDev(ctx context.Context, log *slog.Logger, getenv env, stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	defaultHTTP := getenv(envHTTP)
	if defaultHTTP == "" {
		defaultHTTP = "127.0.0.1:8080"
	}
	httpAddr := fs.String("http", defaultHTTP, "HTTP listen address, default $"+envHTTP+" else 127.0.0.1:8080 (loopback: dev runs without auth)")
	data := fs.String("data", "stocksync-dev-data", "directory for the embedded Kafka's log and the tables; reuse it to keep stock across restarts")
	kafkaPort := fs.Int("kafka-port", 29092, "port of the embedded Kafka on 127.0.0.1 (0 picks a free one)")
	skus := fs.Int("skus", 5000, "demo catalogue size, seeded once per data directory")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if host, _, err := net.SplitHostPort(*httpAddr); err != nil || !net.ParseIP(host).IsLoopback() {
		return fmt.Errorf("dev runs without auth, so --http (or $%s) must be a loopback address such as 127.0.0.1:8080, not %q", envHTTP, *httpAddr)
	}
	settings, err := config.Parse(examples.Config)
	if err != nil {
		return fmt.Errorf("embedded example config: %w", err)
	}
	cluster, err := kfake.NewCluster(
		kfake.Ports(*kafkaPort),
		kfake.DataDir(filepath.Join(*data, "kafka")),
		kfake.WithLogger(kfake.BasicLogger(os.Stderr, kfake.LogLevelWarn)),
	)
	if err != nil {
		return fmt.Errorf("start the embedded Kafka on 127.0.0.1:%d (in use? pass --kafka-port 0): %w", *kafkaPort, err)
	}
	defer cluster.Close()
	settings.Kafka.Brokers = cluster.ListenAddrs()
	settings.HTTP.Addr = *httpAddr
	settings.DataDir = filepath.Join(*data, "engine")
	if err := backendFromEnv(getenv, settings); err != nil {
		return err
	}
	log.Warn("dev: the API is open, without auth; it listens on loopback only", "http", *httpAddr)
	gate := &demoGate{}
	gate.set("dev: the demo catalogue is not applied yet")
	return run(ctx, log, settings, nil, gate.err, func(in *instance.Instance) {
		addr, eng := strings.TrimPrefix(in.URL(), "http://"), in.Engine()
		var marketplaces string
		for _, c := range settings.Channels {
			var url string
			if m := in.Mocks()[c.Name]; m != nil {
				url = m.URL()
			}
			marketplaces += fmt.Sprintf("\n            %-12s %-12s %s", c.Name, c.Marketplace, url)
		}
		go func() {
			if err := seedDemo(ctx, log, eng, gate, *data, *skus); err != nil {
				gate.set("dev: applying the demo catalogue failed (see the log); restart stocksync dev: " + err.Error())
				log.Error("dev: seeding the demo catalogue failed; /readyz stays 503", "err", err)
				return
			}
			gate.set("")
			fmt.Fprintf(stdout, `
stocksync dev is running.
  API:      http://%[1]s/v1/stock/SKU-00001   (see README.md for the routes)
  Orders:   curl -X POST http://%[1]s/v1/orders/o-1/reserve -d '{"lines":[{"sku":"SKU-00001","qty":2}],"channel":"web","ttl_s":60}'
  Metrics:  http://%[1]s/metrics
  Health:   http://%[1]s/readyz
  Channels: http://%[1]s/v1/channels   (each pushes to a mock marketplace:)%[4]s
  Ops UI:   http://%[1]s/ops/
  Kafka:    %[2]s (embedded; kcat -b %[2]s -L)
  Data:     %[3]s (start again with the same --data to keep the stock)
Stop with Ctrl-C.
`, addr, settings.Kafka.Brokers[0], *data, marketplaces)
		}()
	})
}

// seedDemo gives a new data directory a demo catalogue: n SKUs, each with a
// snapshot at every location. It runs once per data directory.
func seedDemo(ctx context.Context, log *slog.Logger, eng instance.Engine, gate *demoGate, dir string, n int) error {
	marker := filepath.Join(dir, "demo-seeded")
	if _, err := os.Stat(marker); err == nil {
		return waitReady(ctx, eng)
	}
	if err := waitReady(ctx, eng); err != nil {
		return err
	}
	locs := eng.Locations()
	total := n * len(locs)
	log.Info("dev: seeding the demo catalogue", "skus", n, "locations", len(locs), "snapshots", total)
	var sent int
	start := time.Now()
	for i := 1; i <= n; i++ {
		sku := fmt.Sprintf("SKU-%05d", i)
		for j, l := range locs {
			onHand := int64((i*7+j*13)%50 + 5)
			v, _ := json.Marshal(contract.FeedMessage{Type: contract.Snapshot, SKU: sku, Location: l.Name,
				OnHand: &onHand, Source: "demo", Version: 1})
			eng.Producer().Produce(ctx, &kgo.Record{Topic: string(eng.Names().StockFeed), Key: []byte(sku), Value: v}, nil)
			sent++
		}
		if i%1000 == 0 || i == n {
			log.Info("dev: seeding", "sent", strconv.Itoa(sent)+"/"+strconv.Itoa(total))
			gate.set(fmt.Sprintf("dev: applying the demo catalogue (%d/%d snapshots sent)", sent, total))
		}
	}
	if err := eng.Producer().Flush(ctx); err != nil {
		return err
	}
	gate.set(fmt.Sprintf("dev: applying the demo catalogue (%d snapshots sent, waiting for the last to be applied)", total))
	// Wait until the engine has applied the whole catalogue: a user's first
	// command would otherwise queue behind it.
	for {
		last, err := eng.Stock(ctx, fmt.Sprintf("SKU-%05d", n))
		if err == nil && len(last.Locations) == len(locs) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	log.Info("dev: demo catalogue applied", "snapshots", total, "took", time.Since(start).Round(time.Millisecond))
	return os.WriteFile(marker, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644)
}

func waitReady(ctx context.Context, eng instance.Engine) error {
	for eng.Ready() != nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// demoGate holds /readyz at 503 while dev applies its demo catalogue: a
// user's first command would otherwise queue behind thousands of snapshots.
type demoGate struct{ msg atomic.Pointer[string] }

// set closes the gate with msg as the 503's message; "" opens it.
func (g *demoGate) set(msg string) { g.msg.Store(&msg) }

func (g *demoGate) err() error {
	if m := g.msg.Load(); m != nil && *m != "" {
		return errors.New(*m)
	}
	return nil
}
