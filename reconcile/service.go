// Package reconcile runs reconciliations of ERP exports against a live
// engine: package recon's rule, read through the engine's API interface
// (Stock, SubmitFeed) so that it works on either engine while orders keep
// flowing. It fixes small drift as audited adjusts, reports the rest for an
// operator to apply or dismiss, keeps every run on the compacted topic
// <prefix>recon.reports (any instance lists them; they survive restarts),
// and runs an export on a schedule.
//
// The cut is per SKU: one read of a SKU's ledger gives every location's
// on_hand, reserved, committed and snapshot versions at one moment
// (docs/reconciliation.md, "The cut").
//
// Metrics, registered on Config.Registry, are those of the newest finished
// run any instance kept, so every instance shows the same figures:
//
//	stocksync_reconcile_drift_rate                   share of the compared rows that drifted
//	stocksync_reconcile_rows                         rows looked at
//	stocksync_reconcile_drifted_units                Σ |drift|
//	stocksync_reconcile_fixed                        drifts fixed as adjusts
//	stocksync_reconcile_reported                     drifts reported to an operator
//	stocksync_reconcile_open                         reported rows not yet applied or dismissed, over the runs kept
//	stocksync_reconcile_last_run_timestamp_seconds   when the newest finished run ended
//	stocksync_reconcile_runs_total{status}           runs this instance ended: done, failed
package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/recon"
)

// Engine is what a run reads and writes: an instance's engine has it.
type Engine interface {
	Stock(ctx context.Context, sku string) (contract.StockView, error)
	SubmitFeed(ctx context.Context, msg contract.FeedMessage) (contract.FeedAnswer, error)
	Locations() []contract.LocationInfo
}

// Peers reaches the instance that owns a SKU when the engine answers
// *contract.NotOwnerError (the API passes one that carries the caller's
// token). Without it, such a SKU fails the run.
type Peers interface {
	Stock(ctx context.Context, owner, sku string) (contract.StockView, error)
	SubmitFeed(ctx context.Context, owner string, msg contract.FeedMessage) (contract.FeedAnswer, error)
}

// Config configures the service.
type Config struct {
	Engine Engine // required
	// Kafka keeps the runs on <topic_prefix>recon.reports; default nil:
	// in memory only (tests).
	Kafka *config.Kafka
	// Settings are the thresholds, the runs kept and the schedule
	// (config.Reconcile; its Defaults are applied).
	Settings config.Reconcile
	// Instance names this instance in its runs; a run it left running when
	// it stopped is marked failed when it starts again. Required.
	Instance string
	Registry prometheus.Registerer // required
	Logger   *slog.Logger          // default slog.Default()
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Service runs reconciliations and keeps their reports.
type Service struct {
	cfg     Config
	store   *store
	metrics *metrics
	log     *slog.Logger

	ctx     atomic.Pointer[context.Context] // Run's: runs outlive their request
	busy    sync.Mutex                      // one run at a time on this instance
	started chan struct{}                   // closed once Run opened the store
}

// New checks cfg and returns a service; Run starts it.
func New(cfg Config) (*Service, error) {
	cfg.Settings.Defaults()
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var errs []error
	if cfg.Engine == nil {
		errs = append(errs, errors.New("reconcile: Config.Engine is required"))
	}
	if cfg.Registry == nil {
		errs = append(errs, errors.New("reconcile: Config.Registry is required"))
	}
	if cfg.Instance == "" {
		errs = append(errs, errors.New("reconcile: Config.Instance is required"))
	}
	th := recon.Config{RunID: "check", Thresholds: recon.Thresholds{MaxAbs: cfg.Settings.MaxAbs, MaxRel: cfg.Settings.MaxRel}}
	if err := th.Fill(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, metrics: m, log: cfg.Logger, started: make(chan struct{})}
	s.store = newStore(cfg.Settings.Keep, cfg.Logger, m.show)
	return s, nil
}

// Run opens the runs' topic, marks this instance's interrupted runs
// failed, then follows the topic and runs the schedule until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	if s.cfg.Kafka != nil {
		for {
			err := s.store.open(ctx, *s.cfg.Kafka)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			s.log.Warn("reconcile: waiting for Kafka to keep the runs", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(500 * time.Millisecond):
			}
		}
		defer s.store.close()
	}
	for _, r := range s.store.sorted() {
		if r.Status == Running && r.Instance == s.cfg.Instance {
			r = r.clone()
			s.end(ctx, r, errors.New("the instance stopped during the run: run it again"))
		}
	}
	s.ctx.Store(&ctx)
	close(s.started)
	go s.schedule(ctx)
	s.store.follow(ctx)
	s.busy.Lock() // a run going on ends with ctx; wait for it
	s.busy.Unlock()
	return nil
}

// List returns up to limit runs, newest first, without their rows.
func (s *Service) List(limit int) []Run {
	out := []Run{}
	for _, r := range s.store.sorted() {
		if len(out) == limit {
			break
		}
		out = append(out, r.Summary())
	}
	return out
}

// Get returns the run with its rows, or ErrNotFound.
func (s *Service) Get(id string) (Run, error) {
	r, ok := s.store.get(id)
	if !ok {
		return Run{}, fmt.Errorf("%w: no run %q is kept", ErrNotFound, id)
	}
	return *r, nil
}

// newID names a run by its start.
func newID(at time.Time) string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return "rc-" + at.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// end finishes a run: done, or failed with err.
func (s *Service) end(ctx context.Context, r *Run, err error) {
	now := s.cfg.Now().UTC()
	r.FinishedAt = &now
	r.Status = Done
	if err != nil {
		r.Status, r.Error = Failed, err.Error()
	}
	s.metrics.runs.WithLabelValues(r.Status).Inc()
	// The run's context may be over (the instance stops): keeping its end
	// still needs a moment of Kafka.
	keep, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if perr := s.store.put(keep, r); perr != nil {
		s.log.Error("reconcile: the run ended but could not be kept", "run", r.ID, "status", r.Status, "err", perr)
		return
	}
	s.log.Info("reconcile: run ended", "run", r.ID, "status", r.Status, "rows", r.Rows, "drifted", r.Drifted,
		"fixed", r.FixedN, "reported", r.ReportedN, "drift_rate", r.DriftRate, "err", r.Error)
}

// locations are the configured locations' names.
func (s *Service) locations() []string {
	var out []string
	for _, l := range s.cfg.Engine.Locations() {
		out = append(out, l.Name)
	}
	slices.Sort(out)
	return out
}
