package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/stock"
	"github.com/stocksync/stocksync/topology"
)

// Direct reconciles f without a running instance (stocksync reconcile
// --config): it reads the default engine's inventory table from its
// changelog up to the end offsets it finds at the start (the cut: every
// partition at one offset), sends the fixes to stock.feed and keeps the run
// on recon.reports like an instance would, so every instance shows it.
//
// The engine applies the fixes after the run has ended (the run counts them
// as fixed once they are durably on stock.feed); an adjust id the table
// already holds is not sent again.
func Direct(ctx context.Context, settings *config.Config, f File, log *slog.Logger) (Run, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if f.Format == "" {
		f.Format = FormatOf(f.Path)
	}
	eng, err := openTable(ctx, settings)
	if err != nil {
		return Run{}, err
	}
	defer eng.cl.Close()
	host, _ := os.Hostname()
	s, err := New(Config{Engine: eng, Kafka: &settings.Kafka, Settings: settings.Reconcile, Instance: "cli@" + host,
		Registry: prometheus.NewRegistry(), Logger: log})
	if err != nil {
		return Run{}, err
	}
	file, err := os.Open(f.Path)
	if err != nil {
		return Run{}, fmt.Errorf("reconcile: %w", err)
	}
	defer file.Close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	defer func() { stop(); <-done }()
	select {
	case <-s.started:
	case err := <-done:
		return Run{}, fmt.Errorf("reconcile: %v", err)
	case <-ctx.Done():
		return Run{}, ctx.Err()
	}
	run, err := s.Start(ctx, Input{Body: file, Format: f.Format, Source: f.Source, Version: f.Version, Locations: f.Locations})
	if err != nil {
		return Run{}, err
	}
	for run.Status == Running {
		select {
		case <-ctx.Done():
			return run, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if run, err = s.Get(run.ID); err != nil {
			return run, err
		}
	}
	if run.Status == Failed {
		return run, fmt.Errorf("reconcile: run %s failed: %s", run.ID, run.Error)
	}
	return run, nil
}

// tableEngine is the Engine of Direct: the inventory table read to the cut,
// and stock.feed.
type tableEngine struct {
	cl      *kgo.Client
	feed    string
	catalog *stock.Catalog
	locs    []contract.LocationInfo

	mu      sync.Mutex
	ledgers map[string][]byte // SKU → the ledger, encoded
}

func openTable(ctx context.Context, s *config.Config) (*tableEngine, error) {
	names := topology.New(s.Kafka.TopicPrefix)
	// The goka engine's inventory table holds ledgers only; the new engine's
	// table holds them under the SKU too, beside keys of its own that start
	// with a zero byte (orders, directory entries, push states), and is
	// written in transactions: read committed, markers kept to know where
	// a partition ends.
	table := string(names.InventoryTable())
	if s.Engine.Backend == config.BackendTxloop {
		table = string(names.EngineTable())
	}
	security, err := s.Kafka.FranzOpts()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.Kafka.Brokers...), kgo.ClientID("stocksync-reconcile"),
		kgo.ConsumeTopics(table), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil))}, security...)...)
	if err != nil {
		return nil, fmt.Errorf("reconcile: kafka client: %w", err)
	}
	e := &tableEngine{cl: cl, feed: string(names.StockFeed), ledgers: map[string][]byte{}}
	var locs []string
	for _, l := range s.Locations {
		locs = append(locs, l.Name)
		e.locs = append(e.locs, contract.LocationInfo{Name: l.Name, Kind: l.Kind})
	}
	e.catalog = stock.NewCatalog(locs, nil)
	// The cut: each partition's last stable offset (its end, for a table
	// written without transactions).
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, table)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("reconcile: the end offsets of %s (has stocksync serve run with this config?): %w", table, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			cl.Close()
			return nil, err
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if !ok || r.Offset >= end {
				return // past the cut
			}
			if r.Offset+1 >= end {
				delete(want, r.Partition)
			}
			if r.Attrs.IsControl() || len(r.Key) > 0 && r.Key[0] == 0 {
				return // a transaction marker, or not a ledger
			}
			if r.Value == nil {
				delete(e.ledgers, string(r.Key))
			} else {
				e.ledgers[string(r.Key)] = r.Value
			}
		})
	}
	cl.PauseFetchTopics(table)
	return e, nil
}

func (e *tableEngine) ledger(sku string) (*stock.SKU, error) {
	e.mu.Lock()
	raw := e.ledgers[sku]
	e.mu.Unlock()
	if raw == nil {
		return nil, nil
	}
	s, err := stock.UnmarshalSKU(raw)
	if err != nil {
		return nil, fmt.Errorf("ledger of SKU %q: %w", sku, err)
	}
	return &s, nil
}

func (e *tableEngine) Stock(_ context.Context, sku string) (contract.StockView, error) {
	s, err := e.ledger(sku)
	switch {
	case err != nil:
		return contract.StockView{}, err
	case s == nil:
		return contract.StockView{}, fmt.Errorf("%w: SKU %q has no stock record", contract.ErrNotFound, sku)
	}
	return e.catalog.View(sku, s), nil
}

// SubmitFeed sends msg to stock.feed unless the table at the cut holds it.
func (e *tableEngine) SubmitFeed(ctx context.Context, msg contract.FeedMessage) (contract.FeedAnswer, error) {
	s, err := e.ledger(msg.SKU)
	if err != nil {
		return contract.FeedAnswer{}, err
	}
	if s.Applied(msg) {
		return contract.FeedAnswer{Status: contract.FeedApplied, Ignored: true}, nil
	}
	value, err := json.Marshal(msg)
	if err != nil {
		return contract.FeedAnswer{}, err
	}
	if err := e.cl.ProduceSync(ctx, &kgo.Record{Topic: e.feed, Key: []byte(msg.SKU), Value: value}).FirstErr(); err != nil {
		return contract.FeedAnswer{}, fmt.Errorf("%w: writing to %s: %v", contract.ErrUnavailable, e.feed, err)
	}
	return contract.FeedAnswer{Status: contract.FeedAccepted}, nil
}

func (e *tableEngine) Locations() []contract.LocationInfo { return e.locs }
