package reconcile_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/stocksync/stocksync/bench"
	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/engine"
	"github.com/stocksync/stocksync/enginev2"
	"github.com/stocksync/stocksync/reconcile"
)

// TestOnBothEngines: the same export against the goka engine and the new
// one, each on kfake: the small drift is fixed once (a second run fixes
// nothing), the large one reported, the stale row (the engine holds a
// newer snapshot from the ERP) left alone.
func TestOnBothEngines(t *testing.T) {
	if testing.Short() {
		t.Skip("engines on kfake: skipped under -short")
	}
	type readyEngine interface {
		reconcile.Engine
		Ready() error
	}
	engines := map[string]func(t *testing.T, prefix string) readyEngine{
		"engine": func(t *testing.T, prefix string) readyEngine {
			s := settings(t, prefix)
			e, err := engine.New(engine.Config{Settings: s, Registry: prometheus.NewRegistry(), Logger: quiet, InstanceID: prefix})
			if err != nil {
				t.Fatal(err)
			}
			run(t, e.Run)
			return e
		},
		"enginev2": func(t *testing.T, prefix string) readyEngine {
			s := settings(t, prefix)
			e, err := enginev2.New(enginev2.Config{Settings: s, Registry: prometheus.NewRegistry(), Logger: quiet, InstanceID: prefix})
			if err != nil {
				t.Fatal(err)
			}
			run(t, e.Run)
			return e
		},
	}
	for name, start := range engines {
		t.Run(name, func(t *testing.T) {
			eng := start(t, "rc-"+name+".")
			ctx := context.Background()
			deadline := time.Now().Add(60 * time.Second)
			for eng.Ready() != nil && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			for sku, version := range map[string]int64{"A": 10, "B": 10, "C": 10, "S": 99} {
				n := int64(100)
				ans, err := eng.SubmitFeed(ctx, contract.FeedMessage{Type: contract.Snapshot, SKU: sku, Location: "msk-wh-1", OnHand: &n, Source: "erp", Version: version})
				if err != nil || ans.Status != "applied" {
					t.Fatalf("seed %s: %+v %v", sku, ans, err)
				}
			}
			svc, err := reconcile.New(reconcile.Config{Engine: eng, Instance: name, Registry: prometheus.NewRegistry(), Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			run(t, svc.Run)
			export := "sku,location,on_hand,version\nA,msk-wh-1,97,20\nB,msk-wh-1,150,20\nC,msk-wh-1,100,20\nS,msk-wh-1,50,20\n"
			first := finish(t, svc, export)
			if first.FixedN != 1 || first.ReportedN != 1 || first.InSync != 1 || first.Stale != 1 {
				t.Fatalf("first run: %+v", first.Counts)
			}
			if v, err := eng.Stock(ctx, "A"); err != nil || v.OnHand != 97 {
				t.Fatalf("A after the fix: %+v %v", v, err)
			}
			second := finish(t, svc, export)
			if second.FixedN != 0 || second.InSync != 2 || second.ReportedN != 1 {
				t.Fatalf("second run: %+v", second.Counts)
			}
			if v, _ := eng.Stock(ctx, "A"); v.OnHand != 97 {
				t.Fatalf("A after a second run: %d, want 97 (fixed once)", v.OnHand)
			}
		})
	}
}

var quiet = slog.New(slog.DiscardHandler)

func settings(t *testing.T, prefix string) *config.Config {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s, _, err := bench.EngineSettings(c.ListenAddrs(), prefix, 2, t.TempDir(), "127.0.0.1:0", "" /* backend: the config default */)
	if err != nil {
		t.Fatal(err)
	}
	s.Channels = nil // no marketplaces: reconciliation reads and adjusts stock only
	return s
}

// run runs f until the test ends.
func run(t *testing.T, f func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func finish(t *testing.T, s *reconcile.Service, body string) reconcile.Run {
	t.Helper()
	var run reconcile.Run
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if run, err = s.Start(context.Background(), reconcile.Input{Body: strings.NewReader(body)}); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	for deadline := time.Now().Add(30 * time.Second); run.Status == reconcile.Running && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if run, err = s.Get(run.ID); err != nil {
			t.Fatal(err)
		}
	}
	if run.Status != reconcile.Done {
		t.Fatalf("run: %s %s", run.Status, run.Error)
	}
	return run
}
