package bench

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stocksync/stocksync/config"
)

// TestSmoke runs every system for a couple of seconds at a low rate with
// both workloads on a small catalogue, and checks that the harness works:
// commands are answered, every accepted reserve names its locations, and
// the checker finds no oversold unit. It asserts no timing. PostgreSQL
// and Redis are skipped with the reason when their binaries are missing;
// stocksync runs on kfake, and on the real broker of STOCKSYNC_TEST_BROKERS
// when it is set.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the smoke run starts servers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	systems := []struct {
		name  string
		start func(t *testing.T) System
	}{
		{"postgres", func(t *testing.T) System {
			dir := t.TempDir()
			srv, err := StartPostgres(ctx, PostgresConfig{Dir: filepath.Join(dir, "pg")})
			skipIfMissing(t, err)
			t.Cleanup(func() { srv.Stop() })
			sys, err := NewPostgres(ctx, PostgresSystemConfig{Server: srv, Conns: 8})
			if err != nil {
				t.Fatal(err)
			}
			return sys
		}},
		{"redis", func(t *testing.T) System {
			srv, err := StartRedis(ctx, RedisConfig{Dir: t.TempDir()})
			skipIfMissing(t, err)
			t.Cleanup(func() { srv.Stop() })
			sys, err := NewRedis(ctx, RedisSystemConfig{Server: srv})
			if err != nil {
				t.Fatal(err)
			}
			return sys
		}},
		{"stocksync-kfake", func(t *testing.T) System {
			return startStocksync(t, ctx, kfakeBrokers(t, ctx), OverKafka)
		}},
		{"stocksync-kfake-http", func(t *testing.T) System {
			return startStocksync(t, ctx, kfakeBrokers(t, ctx), OverHTTP)
		}},
		{"stocksync-kafka", func(t *testing.T) System {
			v := strings.TrimSpace(os.Getenv("STOCKSYNC_TEST_BROKERS"))
			if v == "" {
				t.Skip("STOCKSYNC_TEST_BROKERS not set: stocksync on the real broker skipped (scripts/kafka.sh up)")
			}
			return startStocksync(t, ctx, strings.Split(v, ","), OverKafka)
		}},
	}
	for _, s := range systems {
		t.Run(s.name, func(t *testing.T) {
			sys := s.start(t)
			defer sys.Close()
			// One system serves the three: stocksync keeps a row's first
			// load (version 1) and the steady day's snapshots after it, so
			// the multi-line run follows the flash sale, whose catalogue
			// is the same, and the steady day comes last.
			for _, kind := range []string{FlashSale, MultiLine, SteadyDay} {
				wl := WorkloadConfig{Kind: kind, SKUs: 2000, HotSKUs: 20, HotStock: 5, Seed: 7}
				cat, err := wl.Catalogue()
				if err != nil {
					t.Fatal(err)
				}
				if err := sys.Load(ctx, cat); err != nil {
					t.Fatalf("%s: load: %v", kind, err)
				}
				res, err := RunLoad(ctx, sys, LoadConfig{Workload: wl, Rate: 150, Duration: 2 * time.Second, Progress: testWriter{t}})
				if err != nil {
					t.Fatalf("%s: %v", kind, err)
				}
				v := res.Verdict
				t.Logf("%s %s: sent %d answered %d errors %d; held %d units, sold out %d rows, oversold %d; p50 %.1fms",
					s.name, kind, res.Sent, res.Answered, res.Errors, v.HeldUnits, v.SoldOut, v.OversoldUnits, res.P50*1000)
				if res.Answered == 0 {
					t.Errorf("%s: no command answered; first errors: %v", kind, res.FirstErrors)
				}
				if v.HeldUnits == 0 {
					t.Errorf("%s: no reserve accepted", kind)
				}
				if v.OversoldUnits != 0 {
					t.Errorf("%s: %d units oversold: %v", kind, v.OversoldUnits, v.Violations)
				}
				if v.Malformed != 0 {
					t.Errorf("%s: %d accepted reserves without a location for every line", kind, v.Malformed)
				}
				// The loop counts its requests (the goka engine does not).
				goka, _ := config.ParseBackend(os.Getenv(config.EnvBackend))
				if _, counts := sys.(RequestCounters); counts && goka != config.BackendGoka && res.Requests["EndTxn"] == 0 {
					t.Errorf("%s: no EndTxn request counted during the load; requests: %v", kind, res.Requests)
				}
				if kind == FlashSale && v.SoldOut == 0 {
					t.Errorf("flash: no hot row sold out (the workload should sell out its hot SKUs)")
				}
			}
		})
	}
}

func skipIfMissing(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, ErrNotInstalled) {
		t.Skipf("%v (CI installs it: apt-get install postgresql redis-server)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func kfakeBrokers(t *testing.T, ctx context.Context) []string {
	kctx, stop := context.WithCancel(ctx)
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- RunKfake(kctx, 0, func(a string) { addr <- a }) }()
	t.Cleanup(func() { stop(); <-done })
	select {
	case a := <-addr:
		return []string{a}
	case err := <-done:
		t.Fatalf("kfake: %v", err)
	}
	return nil
}

func startStocksync(t *testing.T, ctx context.Context, brokers []string, transport string) System {
	sys, err := NewStocksync(ctx, StocksyncConfig{Brokers: brokers, Transport: transport, Partitions: 4, Dir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return sys
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
