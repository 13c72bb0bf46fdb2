package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/internal/txloop"
	"github.com/stocksync/stocksync/state"
	"github.com/stocksync/stocksync/topology"
)

// The floor is the order path with deciding made free: a member of the
// transactional loop (internal/txloop) on stocksync's own topics, fed by
// the same client and broker, whose handler decides against a few Go maps
// instead of the engine's ledgers, orders and push states. It writes what
// the engine writes for a decided order, conflated per cycle as the engine
// conflates: the order to the changelog, and for each SKU the cycle
// changed its ledger to the changelog, a stock change and a channel value;
// the answer to orders.results. So the broker, the generator, the loop's
// client and its stores do the work they do for stocksync, and the CPU
// per order it measures is what stocksync's transport costs before any
// decision: the floor under issue 11's CPU goal.
//
// It is a measuring device, not an engine: its stock lives in memory (a
// restart forgets it), it knows no expiry, channels or routing rules, and
// it runs as one member. It decides correctly for the load generator's
// check (a reserve is accepted only against available stock), and a cycle
// the broker aborts is undone in memory too.

// FloorConfig runs the floor on a stocksync configuration's brokers,
// topics, partitions and data directory.
type FloorConfig struct {
	Settings *config.Config
	Logger   *slog.Logger // default warnings to stderr
}

// RunFloor runs the floor until ctx ends, serving on Settings.HTTP.Addr
// what the bench's Stocksync system reads: /readyz, GET /v1/stock/{sku},
// GET /v1/channels (none) and /metrics (the loop's).
func RunFloor(ctx context.Context, cfg FloorConfig) error {
	s := cfg.Settings
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	names := topology.New(s.Kafka.TopicPrefix)
	if err := createTopics(ctx, s.Kafka.Brokers, names, s.Kafka.Partitions); err != nil { // run on its own, it has none yet
		return err
	}
	reg := prometheus.NewRegistry()
	f := newFloor(names, s.Kafka.Partitions)
	loop, err := txloop.New(txloop.Config{Brokers: s.Kafka.Brokers, Group: string(names.Engine),
		TransactionalID: names.Prefix + "floor",
		Inputs:          []string{string(names.OrderCommands), string(names.StockFeed)},
		Changelog:       string(names.EngineTable()), Partitions: s.Kafka.Partitions,
		Dir: filepath.Join(s.DataDir, "floor"), Handler: f, Logger: log, Metrics: txloop.NewMetrics(reg)})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("bench: floor: %w", err)
	}
	srv := &http.Server{Handler: f.routes(reg)}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	err = loop.Run(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// floor is the loop's handler. mu guards the maps against the HTTP reads.
type floor struct {
	names      topology.Names
	partitions int32

	mu     sync.Mutex
	ready  map[int32]bool
	rows   map[string][]*floorRow // by SKU, in the order their locations came
	orders map[string]*floorOrder
	// The cycle's: what it changed (conflated at Tick), and how to undo
	// its decisions should its transaction abort.
	changed map[string]int32 // SKU → partition
	undo    []func()
}

type floorRow struct {
	location     string
	onHand, held int64
	version      int64 // of the last snapshot applied: an older one is dropped, as the engine drops it
}

type floorOrder struct {
	state string // a contract.Status*
	lines []contract.Line
}

func newFloor(names topology.Names, partitions int32) *floor {
	return &floor{names: names, partitions: partitions, ready: map[int32]bool{}, rows: map[string][]*floorRow{},
		orders: map[string]*floorOrder{}, changed: map[string]int32{}}
}

// ledgerValue stands for a ledger in the changelog: about the engine's
// size for a SKU with one location.
var ledgerValue = []byte(strings.Repeat("l", 60))

func (f *floor) Process(c *txloop.Cycle, recs []*kgo.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range recs {
		switch r.Topic {
		case string(f.names.StockFeed):
			var m contract.FeedMessage
			if json.Unmarshal(r.Value, &m) == nil {
				f.feed(r.Partition, m)
			}
		case string(f.names.OrderCommands):
			cmd, err := contract.DecodeOrderCommand(r.Value)
			if err != nil {
				continue // the bench's generator sends valid commands
			}
			res := f.decide(r.Partition, cmd)
			c.Put(r.Partition, "o/"+cmd.OrderID, r.Value)
			rec := &kgo.Record{Topic: string(f.names.OrderResults), Key: []byte(cmd.OrderID), Value: marshal(res)}
			if res.RequestID != "" {
				rec.Headers = []kgo.RecordHeader{{Key: contract.HeaderRequestID, Value: []byte(res.RequestID)}}
			}
			c.Emit(rec)
		}
	}
	return nil
}

func (f *floor) row(sku, location string) *floorRow {
	for _, r := range f.rows[sku] {
		if r.location == location {
			return r
		}
	}
	r := &floorRow{location: location}
	f.rows[sku] = append(f.rows[sku], r)
	return r
}

func (f *floor) feed(part int32, m contract.FeedMessage) {
	r := f.row(m.SKU, m.Location)
	was := *r
	switch {
	case m.Type == contract.Snapshot && m.OnHand != nil && m.Version > r.version:
		r.onHand, r.version = *m.OnHand, m.Version
	case m.Type == contract.Adjust:
		r.onHand += m.Delta
	default:
		return
	}
	f.undo = append(f.undo, func() { *r = was })
	if r.onHand != was.onHand { // the engine writes nothing for a snapshot that changes nothing
		f.changed[m.SKU] = part
	}
}

// hold moves units held on the rows of lines (placed lines: each names its
// location), undoably.
func (f *floor) hold(part int32, lines []contract.Line, held, onHand int64) {
	for _, l := range lines {
		r := f.row(l.SKU, l.Location)
		r.held += held * l.Qty
		r.onHand += onHand * l.Qty
		f.changed[l.SKU] = part
	}
	f.undo = append(f.undo, func() {
		for _, l := range lines {
			r := f.row(l.SKU, l.Location)
			r.held -= held * l.Qty
			r.onHand -= onHand * l.Qty
		}
	})
}

func (f *floor) decide(part int32, cmd contract.OrderCommand) *contract.OrderResult {
	res := &contract.OrderResult{OrderID: cmd.OrderID, RequestID: cmd.RequestID, Type: cmd.Type}
	refuse := func(kind string) *contract.OrderResult {
		res.Status, res.Error = contract.StatusRejected, &contract.Reason{Type: kind}
		return res
	}
	o := f.orders[cmd.OrderID]
	if cmd.Type == contract.Reserve {
		if o != nil {
			return refuse(contract.ErrConflict)
		}
		placed := make([]contract.Line, 0, len(cmd.Lines))
		for _, l := range cmd.Lines {
			var at *floorRow
			for _, r := range f.rows[l.SKU] {
				if r.onHand-r.held >= l.Qty {
					at = r
					break
				}
			}
			if at == nil {
				return refuse(contract.ErrInsufficientStock)
			}
			placed = append(placed, contract.Line{SKU: l.SKU, Qty: l.Qty, Location: at.location})
		}
		f.hold(part, placed, 1, 0)
		f.setOrder(cmd.OrderID, &floorOrder{state: contract.StatusReserved, lines: placed})
		res.Status, res.Lines = contract.StatusReserved, placed
		res.ExpiresAt = time.Now().Add(time.Duration(cmd.TTLS) * time.Second).UTC().Format(time.RFC3339)
		return res
	}
	if o == nil {
		return refuse(contract.ErrUnknownOrder)
	}
	next := map[string]struct{ from, to string }{
		contract.Confirm: {contract.StatusReserved, contract.StatusConfirmed},
		contract.Release: {contract.StatusReserved, contract.StatusReleased},
		contract.Ship:    {contract.StatusConfirmed, contract.StatusShipped},
	}[cmd.Type]
	if o.state != next.from && !(cmd.Type == contract.Release && o.state == contract.StatusConfirmed) {
		return refuse(contract.ErrInvalidTransition)
	}
	switch cmd.Type {
	case contract.Release:
		f.hold(part, o.lines, -1, 0)
	case contract.Ship:
		f.hold(part, o.lines, -1, -1)
	}
	f.setOrder(cmd.OrderID, &floorOrder{state: next.to, lines: o.lines})
	res.Status, res.Lines = next.to, o.lines
	return res
}

func (f *floor) setOrder(id string, o *floorOrder) {
	was, ok := f.orders[id]
	f.orders[id] = o
	f.undo = append(f.undo, func() {
		if ok {
			f.orders[id] = was
		} else {
			delete(f.orders, id)
		}
	})
}

// Tick writes, once per SKU the cycle changed, what the engine writes.
func (f *floor) Tick(c *txloop.Cycle, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for sku, part := range f.changed {
		if !c.Owned(part) {
			continue
		}
		v := f.view(sku)
		c.Put(part, sku, ledgerValue)
		c.Emit(&kgo.Record{Topic: string(f.names.StockChanges), Key: []byte(sku), Value: marshal(v)})
		c.Emit(&kgo.Record{Topic: string(f.names.ChannelStock), Key: []byte(sku),
			Value: marshal(contract.ChannelStock{Channel: "web", SKU: sku, Available: v.Available})})
	}
	clear(f.changed)
	return nil
}

func (f *floor) Committed(*txloop.Cycle) {
	f.mu.Lock()
	f.undo = f.undo[:0]
	f.mu.Unlock()
}

func (f *floor) Aborted(*txloop.Cycle) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.undo) - 1; i >= 0; i-- {
		f.undo[i]()
	}
	f.undo = f.undo[:0]
	clear(f.changed)
}

func (f *floor) Ready(part int32, _ *state.Partition) {
	f.mu.Lock()
	f.ready[part] = true
	f.mu.Unlock()
}

func (f *floor) Gone(part int32) {
	f.mu.Lock()
	delete(f.ready, part)
	f.mu.Unlock()
}

func (f *floor) view(sku string) contract.StockView {
	v := contract.StockView{SKU: sku, Locations: []contract.LocationView{}}
	for _, r := range f.rows[sku] {
		v.Locations = append(v.Locations, contract.LocationView{Location: r.location, OnHand: r.onHand, Reserved: r.held,
			Available: r.onHand - r.held})
		v.OnHand, v.Reserved, v.Available = v.OnHand+r.onHand, v.Reserved+r.held, v.Available+r.onHand-r.held
	}
	return v
}

func (f *floor) routes(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		n := int32(len(f.ready))
		f.mu.Unlock()
		if n < f.partitions {
			http.Error(w, fmt.Sprintf("%d of %d partitions ready", n, f.partitions), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("GET /v1/stock/{sku}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		v := f.view(r.PathValue("sku"))
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(v)
	})
	mux.HandleFunc("GET /v1/channels", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "[]") })
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// marshal encodes a record as the engine does; the floor's records cannot
// fail to encode.
func marshal(v any) []byte {
	b, err := contract.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
