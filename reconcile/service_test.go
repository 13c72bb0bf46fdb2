package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/recon"
)

// fakeEngine holds per SKU one location's quantities and applies adjusts
// once per id, as the engines do.
type fakeEngine struct {
	mu      sync.Mutex
	stock   map[string]map[string]*contract.LocationView
	applied map[string]bool
	adjusts []contract.FeedMessage
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{stock: map[string]map[string]*contract.LocationView{}, applied: map[string]bool{}}
}

func (e *fakeEngine) set(sku, loc string, onHand, reserved, committed int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stock[sku] == nil {
		e.stock[sku] = map[string]*contract.LocationView{}
	}
	e.stock[sku][loc] = &contract.LocationView{Location: loc, OnHand: onHand, Reserved: reserved, Committed: committed,
		Versions: map[string]int64{"erp": 1}}
}

func (e *fakeEngine) onHand(sku, loc string) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stock[sku][loc].OnHand
}

func (e *fakeEngine) Stock(_ context.Context, sku string) (contract.StockView, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	locs, ok := e.stock[sku]
	if !ok {
		return contract.StockView{}, contract.ErrNotFound
	}
	v := contract.StockView{SKU: sku}
	for _, l := range locs {
		v.Locations = append(v.Locations, *l)
	}
	return v, nil
}

func (e *fakeEngine) SubmitFeed(_ context.Context, m contract.FeedMessage) (contract.FeedAnswer, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m.Type != contract.Adjust {
		return contract.FeedAnswer{}, fmt.Errorf("fake: %s", m.Type)
	}
	if e.applied[m.ID] {
		return contract.FeedAnswer{Status: "applied", Ignored: true}, nil
	}
	e.applied[m.ID] = true
	e.adjusts = append(e.adjusts, m)
	if e.stock[m.SKU] == nil {
		e.stock[m.SKU] = map[string]*contract.LocationView{}
	}
	if e.stock[m.SKU][m.Location] == nil {
		e.stock[m.SKU][m.Location] = &contract.LocationView{Location: m.Location}
	}
	e.stock[m.SKU][m.Location].OnHand += m.Delta
	return contract.FeedAnswer{Status: "applied"}, nil
}

func (e *fakeEngine) Locations() []contract.LocationInfo {
	return []contract.LocationInfo{{Name: "msk-1", Kind: "warehouse"}, {Name: "spb-1", Kind: "store"}}
}

func startService(t *testing.T, eng Engine, k *config.Kafka, reg *prometheus.Registry) *Service {
	t.Helper()
	s, err := New(Config{Engine: eng, Kafka: k, Instance: "test", Registry: reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-s.started:
	case <-time.After(30 * time.Second):
		t.Fatal("the service did not start")
	}
	return s
}

// finish starts a run of body and waits until it ends.
func finish(t *testing.T, s *Service, body string) Run {
	t.Helper()
	run, err := s.Start(context.Background(), Input{Body: strings.NewReader(body)})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if run.Status != Running {
		t.Fatalf("started run: %+v", run)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		got, err := s.Get(run.ID)
		if err == nil && got.Status != Running {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("run %s did not end", run.ID)
	return Run{}
}

const export = `sku,location,on_hand
A,msk-1,102
B,msk-1,60
C,msk-1,x
D,msk-1,10
E,nowhere,1
`

// TestRunFixesOnceAndReports: small drift is fixed once, even when the
// same export runs again; large drift is reported until an operator
// applies it; the figures and the metrics show it.
func TestRunFixesOnceAndReports(t *testing.T) {
	eng := newFakeEngine()
	eng.set("A", "msk-1", 100, 5, 0) // +2: fixed
	eng.set("B", "msk-1", 10, 0, 0)  // +50: reported
	eng.set("D", "msk-1", 10, 0, 4)  // in sync
	reg := prometheus.NewRegistry()
	s := startService(t, eng, nil, reg)

	run := finish(t, s, export)
	if run.Status != Done || run.Rows != 4 || run.InSync != 1 || run.FixedN != 1 || run.ReportedN != 2 || run.Bad != 1 || run.Open != 2 {
		t.Fatalf("run: %+v", run)
	}
	if run.DriftRate != 0.75 || run.DriftedUnits != 52 || len(run.Fixed) != 1 || run.Fixed[0].FixID != recon.AdjustID(run.Export, "A", "msk-1") {
		t.Fatalf("run: %+v", run)
	}
	if eng.onHand("A", "msk-1") != 102 || eng.onHand("B", "msk-1") != 10 {
		t.Fatalf("A %d, B %d", eng.onHand("A", "msk-1"), eng.onHand("B", "msk-1"))
	}
	if got := testutil.ToFloat64(s.metrics.driftRate); got != 0.75 {
		t.Errorf("drift rate metric %g", got)
	}

	// The same export again: A is in sync now; nothing is fixed twice.
	again := finish(t, s, export)
	if again.FixedN != 0 || again.InSync != 2 || again.ReportedN != 2 || len(eng.adjusts) != 1 {
		t.Fatalf("second run: %+v, adjusts %v", again.Counts, eng.adjusts)
	}

	// The operator applies B's drift (twice: once), dismisses E.
	for range 2 {
		row, err := s.Decide(context.Background(), Decision{Run: run.ID, SKU: "B", Location: "msk-1", Apply: true})
		if err != nil || row.Decision != Applied {
			t.Fatalf("apply B: %+v %v", row, err)
		}
	}
	if eng.onHand("B", "msk-1") != 60 || len(eng.adjusts) != 2 || eng.adjusts[1].Reason != "reconcile" {
		t.Fatalf("B %d, adjusts %+v", eng.onHand("B", "msk-1"), eng.adjusts)
	}
	if _, err := s.Decide(context.Background(), Decision{Run: run.ID, SKU: "B", Location: "msk-1"}); !errors.Is(err, ErrDecided) {
		t.Errorf("dismiss an applied row: %v", err)
	}
	if _, err := s.Decide(context.Background(), Decision{Run: run.ID, SKU: "E", Location: "nowhere", Apply: true}); !errors.Is(err, ErrNothingToApply) {
		t.Errorf("apply an unknown location: %v", err)
	}
	if _, err := s.Decide(context.Background(), Decision{Run: run.ID, SKU: "E", Location: "nowhere"}); err != nil {
		t.Errorf("dismiss E: %v", err)
	}
	got, _ := s.Get(run.ID)
	if got.Open != 0 || got.Applied != 1 || got.Dismissed != 1 {
		t.Errorf("decisions: open %d applied %d dismissed %d", got.Open, got.Applied, got.Dismissed)
	}
	third := finish(t, s, "sku,location,on_hand\nA,msk-1,102\nB,msk-1,60\nD,msk-1,10\n")
	if third.Drifted != 0 || third.DriftRate != 0 {
		t.Errorf("after the fixes: %+v", third.Counts)
	}
	if list := s.List(2); len(list) != 2 || list[0].ID != third.ID || list[0].Reported != nil {
		t.Errorf("list: %+v", list)
	}
}

// TestRunsSurviveRestart: the runs and their decisions are on the topic; a
// new service (another instance, or after a restart) reads them back.
func TestRunsSurviveRestart(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	k := &config.Kafka{Brokers: c.ListenAddrs(), TopicPrefix: "t.", Replication: 1}
	eng := newFakeEngine()
	eng.set("B", "msk-1", 10, 0, 0)
	s := startService(t, eng, k, prometheus.NewRegistry())
	run := finish(t, s, "sku,location,on_hand\nB,msk-1,60\n")
	if _, err := s.Decide(context.Background(), Decision{Run: run.ID, SKU: "B", Location: "msk-1"}); err != nil {
		t.Fatal(err)
	}

	other := startService(t, eng, k, prometheus.NewRegistry())
	got, err := other.Get(run.ID)
	if err != nil || got.Status != Done || got.ReportedN != 1 || got.Dismissed != 1 || got.Reported[0].Decision != Dismissed {
		t.Fatalf("read back: %+v %v", got, err)
	}
}

// TestScheduledRun: a slot runs the configured file once under the slot's
// id, with the file's modification time as the rows' version; the same
// slot again (another instance, a restart) starts nothing.
func TestScheduledRun(t *testing.T) {
	file := filepath.Join(t.TempDir(), "stock.csv")
	if err := os.WriteFile(file, []byte("sku,location,on_hand\nA,msk-1,100\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mtime := time.Unix(1764547200, 0)
	if err := os.Chtimes(file, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	eng := newFakeEngine()
	eng.set("A", "msk-1", 100, 0, 0) // version 1 from erp: the file's 1764547200 is newer
	s, err := New(Config{Engine: eng, Instance: "test", Registry: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler),
		Settings: config.Reconcile{Schedule: config.ReconcileSchedule{Every: config.Duration{Duration: time.Hour}, File: file}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-s.started
	slot := time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)
	if err := s.runFile(ctx, slot); err != nil {
		t.Fatal(err)
	}
	var run Run
	for deadline := time.Now().Add(10 * time.Second); run.Status != Done && time.Now().Before(deadline); {
		run, _ = s.Get("rc-20261201T130000Z-schedule")
		time.Sleep(5 * time.Millisecond)
	}
	if run.Trigger != TriggerSchedule || run.InSync != 1 || run.Stale != 0 {
		t.Fatalf("scheduled run: %+v", run)
	}
	if err := s.runFile(ctx, slot); err != nil || len(s.List(10)) != 1 {
		t.Fatalf("the same slot again: %v, %d runs", err, len(s.List(10)))
	}
}
