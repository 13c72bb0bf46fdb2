package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/client"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/internal/topics"
	"github.com/stocksync/stocksync/topology"
)

// Transports of order commands to stocksync.
const (
	OverKafka = "kafka" // client.NewKafka: orders.commands → orders.results
	OverHTTP  = "http"  // client.NewHTTP: POST /v1/orders/{id}/…
)

// StocksyncConfig configures stocksync as a system under test.
type StocksyncConfig struct {
	// Brokers of the Kafka cluster. Required.
	Brokers []string
	// Transport of order commands: OverKafka (default) or OverHTTP.
	Transport string
	// Partitions of every topic. Default 12, as examples/stocksync.yaml.
	Partitions int32
	// Dir holds the engine's tables and config. Required.
	Dir string
	// Backend is the engine's engine.backend, as $STOCKSYNC_ENGINE is
	// written (goka or v1, txloop or v2). Default "": the config's default.
	Backend string
	// Command runs the engine as a child process: its argv, to which
	// --config FILE --http ADDR are appended (e.g. `stocksync serve
	// --insecure-open` or `stocksync-bench engine`). Empty: the engine
	// runs inside this process (its CPU and memory then count as the
	// generator's) and CPUProfile applies.
	Command []string
	// CPUProfile receives a pprof CPU profile of an in-process engine.
	CPUProfile string
	// Instances of the engine, each a child process (Command required
	// past 1); with the new engine's default warm standbys any instance
	// answers reads. Default 1.
	Instances int
	// Name is the system's row in the results. Default "stocksync".
	Name string
	// Broker is the broker's process, counted with the system; 0 for none.
	Broker Process
	// Logger for an in-process engine; default warnings to stderr.
	Logger *slog.Logger
	// Log receives how long the catalogue took to apply; nil for none.
	Log io.Writer
	// ChannelsWait bounds how long Load waits for the channels to push
	// the catalogue to the marketplaces. Default 5m.
	ChannelsWait time.Duration
}

// Stocksync drives one stocksync instance through the Go client package,
// and feeds stock to it on stock.feed as an ERP or WMS connector would.
type Stocksync struct {
	cfg    StocksyncConfig
	names  topology.Names
	url    string
	orders interface {
		Reserve(ctx context.Context, orderID string, lines []contract.Line, channel string, ttl time.Duration) (contract.OrderResult, error)
		Confirm(ctx context.Context, orderID string) (contract.OrderResult, error)
		Release(ctx context.Context, orderID string) (contract.OrderResult, error)
		Ship(ctx context.Context, orderID string) (contract.OrderResult, error)
		Close() error
	}
	feed  *kgo.Client
	reg   *prometheus.Registry // in-process engine
	child *exec.Cmd
	args  []string    // the child's, after cfg.Command[0]
	peers []*exec.Cmd // more instances (Instances)
	// peerURLs are the more instances' HTTP addresses: the requests to
	// the broker are summed over every instance (the latency histograms
	// are instance 0's).
	peerURLs []string
	stop     context.CancelFunc
	done     chan error
}

// NewStocksync starts an instance on a topic prefix of its own, waits until
// it is ready, and connects the clients.
func NewStocksync(ctx context.Context, cfg StocksyncConfig) (*Stocksync, error) {
	if len(cfg.Brokers) == 0 || cfg.Dir == "" {
		return nil, errors.New("bench: StocksyncConfig.Brokers and Dir are required")
	}
	cfg.Transport = or(cfg.Transport, OverKafka)
	cfg.Partitions = or(cfg.Partitions, 12)
	cfg.Name = or(cfg.Name, "stocksync")
	prefix := fmt.Sprintf("bench-%x.", time.Now().UnixNano()/1e6%(1<<32))
	port, err := freePort(0)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	settings, yamlDoc, err := EngineSettings(cfg.Brokers, prefix, cfg.Partitions, filepath.Join(cfg.Dir, "data"), addr, cfg.Backend)
	if err != nil {
		return nil, err
	}
	if cfg.Instances > 1 && len(cfg.Command) == 0 {
		return nil, errors.New("bench: several instances run as child processes: set Command")
	}
	s := &Stocksync{cfg: cfg, names: topology.New(prefix), url: "http://" + addr, done: make(chan error, 1)}
	if err := s.createTopics(ctx); err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.Background())
	s.stop = stop
	if len(cfg.Command) == 0 {
		s.reg = prometheus.NewRegistry()
		go func() {
			s.done <- RunEngine(runCtx, EngineConfig{Settings: settings, Registry: s.reg, CPUProfile: cfg.CPUProfile, Logger: cfg.Logger})
		}()
	} else {
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			return nil, err
		}
		file := filepath.Join(cfg.Dir, "stocksync.yaml")
		if err := os.WriteFile(file, yamlDoc, 0o644); err != nil {
			return nil, err
		}
		s.args = append(cfg.Command[1:len(cfg.Command):len(cfg.Command)], "--config", file, "--http", addr)
	}
	if err := s.start(ctx); err != nil {
		s.Close()
		return nil, err
	}
	for i := 1; i < cfg.Instances; i++ {
		if err := s.startPeer(ctx, prefix, i); err != nil {
			s.Close()
			return nil, err
		}
	}
	switch cfg.Transport {
	case OverKafka:
		s.orders, err = client.NewKafka(ctx, client.KafkaConfig{Brokers: cfg.Brokers, TopicPrefix: prefix, Timeout: 30 * time.Second,
			Logger: slog.New(slog.DiscardHandler)})
	case OverHTTP:
		s.orders, err = client.NewHTTP(client.HTTPConfig{BaseURL: s.url, Timeout: 30 * time.Second,
			HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, MaxConnsPerHost: 0}}})
	default:
		err = fmt.Errorf("bench: transport %q is not %s or %s", cfg.Transport, OverKafka, OverHTTP)
	}
	if err == nil {
		s.feed, err = kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.ProducerLinger(time.Millisecond),
			kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), kgo.MaxBufferedRecords(1<<20))
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// startPeer starts instance i (> 0) on the same topics and waits until it
// answers ready; the group then spreads the partitions over the instances.
func (s *Stocksync) startPeer(ctx context.Context, prefix string, i int) error {
	port, err := freePort(0)
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	_, doc, err := EngineSettings(s.cfg.Brokers, prefix, s.cfg.Partitions, filepath.Join(s.cfg.Dir, fmt.Sprintf("data-%d", i)), addr, s.cfg.Backend)
	if err != nil {
		return err
	}
	file := filepath.Join(s.cfg.Dir, fmt.Sprintf("stocksync-%d.yaml", i))
	if err := os.WriteFile(file, doc, 0o644); err != nil {
		return err
	}
	logName := fmt.Sprintf("engine-%d.log", i)
	done := make(chan error, 1)
	cmd, err := s.spawn(append(s.cfg.Command[1:len(s.cfg.Command):len(s.cfg.Command)], "--config", file, "--http", addr), logName, done)
	if err != nil {
		return err
	}
	s.peers = append(s.peers, cmd)
	if err := waitReady(ctx, "http://"+addr, done, func() string { return s.logTail(logName) }); err != nil {
		return fmt.Errorf("instance %d: %w", i, err)
	}
	s.peerURLs = append(s.peerURLs, "http://"+addr)
	return s.waitReady(ctx) // the first instance, after the rebalance
}

// start starts the engine's child (if it runs as one) and waits until it is
// ready. freePort's port is free when chosen, not when the child binds it:
// should another process take it meanwhile, the child starts again on
// another.
func (s *Stocksync) start(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		var err error
		child := len(s.cfg.Command) > 0
		if child {
			err = s.startChild()
		}
		if err == nil {
			err = s.waitReady(ctx)
		}
		if err == nil || !child || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return err
		}
		port, perr := freePort(0)
		if perr != nil {
			return errors.Join(err, perr)
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		s.args[len(s.args)-1], s.url, s.done = addr, "http://"+addr, make(chan error, 1)
	}
}

func (s *Stocksync) startChild() (err error) {
	s.child, err = s.spawn(s.args, "engine.log", s.done)
	return err
}

// spawn starts an engine process of cfg.Command with args, its output
// appended to logName in Dir; done gets its exit.
func (s *Stocksync) spawn(args []string, logName string, done chan<- error) (*exec.Cmd, error) {
	logf, err := os.OpenFile(filepath.Join(s.cfg.Dir, logName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.cfg.Command[0], args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "STOCKSYNC_LOG_LEVEL=warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("bench: start %v: %w", s.cfg.Command, err)
	}
	go func() { done <- cmd.Wait(); logf.Close() }()
	return cmd, nil
}

// Rebuild stops the engine's child process, removes its data directory
// and starts it again on the same topics: the time until it is ready is a
// cold rebuild of an instance from the changelogs. It also returns the
// new process's peak resident memory (VmHWM) at that moment and settle
// later, pushers and all.
func (s *Stocksync) Rebuild(ctx context.Context, settle time.Duration) (took time.Duration, peakReady, peakSettled int64, err error) {
	if s.child == nil {
		return 0, 0, 0, errors.New("bench: a rebuild needs the engine in a child process (--engine self or a command)")
	}
	_ = s.child.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.child.Process.Kill()
		<-s.done
	}
	if err := os.RemoveAll(filepath.Join(s.cfg.Dir, "data")); err != nil {
		return 0, 0, 0, err
	}
	began := time.Now()
	if err := s.startChild(); err != nil {
		return 0, 0, 0, err
	}
	if err := s.waitReady(ctx); err != nil {
		return 0, 0, 0, err
	}
	took = time.Since(began)
	peakReady = vmHWM(s.child.Process.Pid)
	select {
	case <-ctx.Done():
	case <-time.After(settle):
	}
	return took, peakReady, vmHWM(s.child.Process.Pid), nil
}

func (s *Stocksync) waitReady(ctx context.Context) error {
	return waitReady(ctx, s.url, s.done, func() string { return s.logTail("engine.log") })
}

// logTail is the end of an engine's log in Dir.
func (s *Stocksync) logTail(name string) string {
	b, _ := os.ReadFile(filepath.Join(s.cfg.Dir, name))
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// waitReady polls url's /readyz for up to 120 s; done reports the engine
// stopping, logTail what it said before it did.
func waitReady(ctx context.Context, url string, done <-chan error, logTail func() string) error {
	deadline := time.Now().Add(120 * time.Second)
	last := "no answer"
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			return fmt.Errorf("bench: stocksync stopped before it was ready: %v; its log ends:\n%s", err, logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			last = err.Error()
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = strings.TrimSpace(string(b))
	}
	return fmt.Errorf("bench: stocksync not ready within 120s: %s", last)
}

func (s *Stocksync) Name() string { return s.cfg.Name }

// Processes are the engine's child process and the broker.
func (s *Stocksync) Processes() []Process {
	var ps []Process
	if s.child != nil {
		ps = append(ps, Process{Name: "stocksync", PID: s.child.Process.Pid})
	}
	for _, p := range s.peers {
		ps = append(ps, Process{Name: "stocksync", PID: p.Process.Pid})
	}
	if s.cfg.Broker.PID != 0 {
		ps = append(ps, s.cfg.Broker)
	}
	return ps
}

func (s *Stocksync) Close() error {
	if s.orders != nil {
		s.orders.Close()
	}
	for _, p := range s.peers {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	if s.child != nil && s.child.Process != nil {
		_ = s.child.Process.Signal(syscall.SIGTERM)
	} else {
		s.stop()
	}
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		if s.child != nil {
			_ = s.child.Process.Kill()
		}
	}
	s.stop()
	if s.feed == nil {
		return nil
	}
	defer s.feed.Close()
	return deleteTopics(s.feed, s.names.Prefix)
}

func (s *Stocksync) Reserve(ctx context.Context, orderID string, lines []contract.Line, channel string, ttl time.Duration) (contract.OrderResult, error) {
	return s.orders.Reserve(ctx, orderID, lines, channel, ttl)
}

func (s *Stocksync) Confirm(ctx context.Context, orderID string) (contract.OrderResult, error) {
	return s.orders.Confirm(ctx, orderID)
}

func (s *Stocksync) Release(ctx context.Context, orderID string) (contract.OrderResult, error) {
	return s.orders.Release(ctx, orderID)
}

func (s *Stocksync) Ship(ctx context.Context, orderID string) (contract.OrderResult, error) {
	return s.orders.Ship(ctx, orderID)
}

func (s *Stocksync) record(msg contract.FeedMessage) *kgo.Record {
	v, _ := json.Marshal(msg)
	return &kgo.Record{Topic: string(s.names.StockFeed), Key: []byte(msg.SKU), Value: v}
}

// Snapshot produces an ERP snapshot to stock.feed; it returns once the
// broker has it (acks=all), as a connector would.
func (s *Stocksync) Snapshot(ctx context.Context, k Key, onHand, version int64) error {
	return s.feed.ProduceSync(ctx, s.record(contract.FeedMessage{Type: contract.Snapshot, SKU: k.SKU, Location: k.Location,
		OnHand: &onHand, Source: "erp", Version: version})).FirstErr()
}

// Adjust produces a WMS adjustment to stock.feed.
func (s *Stocksync) Adjust(ctx context.Context, k Key, delta int64, id string) error {
	return s.feed.ProduceSync(ctx, s.record(contract.FeedMessage{Type: contract.Adjust, SKU: k.SKU, Location: k.Location,
		Delta: delta, Reason: "wms-count", ID: id})).FirstErr()
}

// Load produces a version-1 ERP snapshot of every row to stock.feed, waits
// until the inventory applied the last one of each partition (a partition
// is applied in order), then until every channel acknowledged them.
func (s *Stocksync) Load(ctx context.Context, cat *Catalogue) error {
	last := map[int32]Key{}
	var lastOnHand = map[int32]int64{}
	var mu sync.Mutex
	var perr error
	err := cat.Each(func(k Key, onHand int64) error {
		v := onHand
		s.feed.Produce(ctx, s.record(contract.FeedMessage{Type: contract.Snapshot, SKU: k.SKU, Location: k.Location,
			OnHand: &v, Source: "erp", Version: 1}), func(_ *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil && perr == nil {
				perr = err
			}
		})
		p := topology.PartitionOf(k.SKU, s.cfg.Partitions)
		last[p], lastOnHand[p] = k, onHand
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	if err := s.feed.Flush(ctx); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if perr != nil {
		return fmt.Errorf("bench: producing the catalogue: %w", perr)
	}
	began := time.Now()
	for p, k := range last {
		if err := s.waitStock(ctx, k, lastOnHand[p]); err != nil {
			return err
		}
	}
	applied := time.Now()
	wctx, cancel := context.WithTimeout(ctx, or(s.cfg.ChannelsWait, 5*time.Minute))
	defer cancel()
	pending, err := s.waitChannels(wctx)
	if err != nil && ctx.Err() != nil {
		return err
	}
	if s.cfg.Log != nil {
		fmt.Fprintf(s.cfg.Log, "   stocksync: catalogue produced, applied by the inventory %s later; channels drained %s after that (%d values still pending)\n",
			applied.Sub(began).Round(time.Millisecond), time.Since(applied).Round(time.Millisecond), pending)
	}
	return nil
}

// waitStock waits until the API shows a row's on-hand.
func (s *Stocksync) waitStock(ctx context.Context, k Key, onHand int64) error {
	for {
		var v contract.StockView
		if err := getJSON(ctx, s.url+"/v1/stock/"+k.SKU, &v); err == nil {
			for _, l := range v.Locations {
				if l.Location == k.Location && l.OnHand == onHand {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: waiting for the catalogue to be applied: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitChannels waits until no channel has values pending (10 quiet
// checks in a row), so the load's e2e latency does not inherit the load's
// backlog.
func (s *Stocksync) waitChannels(ctx context.Context) (int64, error) {
	quiet := 0
	var pending int64
	for quiet < 10 {
		var chans []contract.ChannelInfo
		if err := getJSON(ctx, s.url+"/v1/channels", &chans); err != nil {
			return pending, err
		}
		pending = 0
		for _, c := range chans {
			pending += c.Pending
		}
		if pending == 0 {
			quiet++
		} else {
			quiet = 0
		}
		select {
		case <-ctx.Done():
			return pending, fmt.Errorf("bench: waiting for the channels to push the catalogue: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return 0, nil
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

const (
	e2eMetric     = "stocksync_sink_e2e_latency_seconds"
	firstMetric   = "stocksync_sink_first_latency_seconds"
	decideMetric  = "stocksync_reserve_latency_seconds"
	decidedPrefix = "decide:" // ChannelLatency's key of the engine's reserve latency by status
)

// ChannelLatency reads stocksync_sink_e2e_latency_seconds{channel}, and
// stocksync_reserve_latency_seconds{status} (order command produced →
// answer emitted, inside the engine) under "decide:<status>", and the new
// engine's stocksync_engine_cycle_commit_seconds under "cycle: commit" and
// stocksync_engine_cycle_stage_seconds{stage} under "cycle: <stage>": from
// the registry of an in-process engine, else from its /metrics.
func (s *Stocksync) ChannelLatency(ctx context.Context) (map[string]Histogram, error) {
	out, err := s.histograms(ctx, e2eMetric, "channel", "")
	if err != nil {
		return nil, err
	}
	dec, err := s.histograms(ctx, decideMetric, "status", decidedPrefix)
	for k, v := range dec {
		out[k] = v
	}
	// The new engine's transactions: their count against the decided
	// orders is the orders per transaction, what the broker's work
	// depends on.
	cyc, _ := s.histograms(ctx, "stocksync_engine_cycle_commit_seconds", "", "cycle: commit")
	for k, v := range cyc {
		out[k] = v
	}
	// Where a loaded cycle's time goes (wait, fresh, decide, produce, end,
	// apply): the loop is serial, so the slowest stage is every order's.
	stages, _ := s.histograms(ctx, "stocksync_engine_cycle_stage_seconds", "stage", "cycle: ")
	for k, v := range stages {
		out[k] = v
	}
	return out, err
}

func (s *Stocksync) histograms(ctx context.Context, name, label, prefix string) (map[string]Histogram, error) {
	if s.reg != nil {
		return gatherHistograms(s.reg, name, label, prefix)
	}
	body, err := metrics(ctx, s.url)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	hs, err := parseHistograms(body, name, label)
	out := map[string]Histogram{}
	for k, v := range hs {
		out[prefix+k] = v
	}
	return out, err
}

// requestsMetric counts the engine loop's requests to the broker by kind.
const requestsMetric = "stocksync_engine_kafka_requests_total"

// KafkaRequests reads stocksync_engine_kafka_requests_total{request}: the
// new engine's loop's requests to the broker by kind (none on goka).
func (s *Stocksync) KafkaRequests(ctx context.Context) (map[string]float64, error) {
	if s.reg != nil {
		out := map[string]float64{}
		err := gatherSeries(s.reg, requestsMetric, "request", func(kind string, m *dto.Metric) {
			out[kind] = m.GetCounter().GetValue()
		})
		return out, err
	}
	out := map[string]float64{}
	for _, url := range append([]string{s.url}, s.peerURLs...) {
		body, err := metrics(ctx, url)
		if err != nil {
			return nil, err
		}
		counts, err := parseCounters(body, requestsMetric, "request")
		body.Close()
		if err != nil {
			return nil, err
		}
		for kind, n := range counts {
			out[kind] += n
		}
	}
	return out, nil
}

// metrics is an instance's /metrics in the Prometheus text format.
func metrics(ctx context.Context, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s/metrics: %s", url, resp.Status)
	}
	return resp.Body, nil
}

// parseCounters reads one counter family, by one label, from the
// Prometheus text format.
func parseCounters(r io.Reader, name, label string) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name+"{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "}")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(value + " 0")[0], 64)
		if err != nil {
			continue
		}
		out[parseLabels(labels)[label]] = v
	}
	return out, sc.Err()
}

// gatherHistograms reads one histogram family, by one label (prefixed),
// from an in-process registry.
func gatherHistograms(reg prometheus.Gatherer, name, label, prefix string) (map[string]Histogram, error) {
	out := map[string]Histogram{}
	err := gatherSeries(reg, name, label, func(value string, m *dto.Metric) {
		h := m.GetHistogram()
		var hist Histogram
		for _, b := range h.GetBucket() {
			hist.Bounds = append(hist.Bounds, b.GetUpperBound())
			hist.Counts = append(hist.Counts, b.GetCumulativeCount())
		}
		hist.Count, hist.Sum = h.GetSampleCount(), h.GetSampleSum()
		out[prefix+value] = hist
	})
	return out, err
}

// gatherSeries calls each with every series of one metric family of an
// in-process registry and the series' value of one label.
func gatherSeries(reg prometheus.Gatherer, name, label string, each func(value string, m *dto.Metric)) error {
	mfs, err := reg.Gather()
	if err != nil {
		return err
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var value string
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					value = l.GetValue()
				}
			}
			each(value, m)
		}
	}
	return nil
}

// parseHistograms reads one histogram family, by one label, from the
// Prometheus text format.
func parseHistograms(r io.Reader, name, label string) (map[string]Histogram, error) {
	out := map[string]Histogram{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		var suffix, value string
		labels := map[string]string{}
		i := strings.IndexByte(rest, '{')
		j := strings.LastIndexByte(rest, '}')
		switch {
		case i < 0: // no labels: "name_count 12"
			suffix, value, _ = strings.Cut(rest, " ")
		case j < i:
			continue
		default:
			suffix, labels, value = rest[:i], parseLabels(rest[i+1:j]), strings.TrimSpace(rest[j+1:])
		}
		if strings.TrimSpace(value) == "" {
			continue
		}
		val, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			continue
		}
		key := labels[label]
		h := out[key]
		switch suffix {
		case "_bucket":
			le, err := strconv.ParseFloat(labels["le"], 64)
			if err != nil || math.IsInf(le, 1) {
				continue
			}
			h.Bounds = append(h.Bounds, le)
			h.Counts = append(h.Counts, uint64(val))
		case "_count":
			h.Count = uint64(val)
		case "_sum":
			h.Sum = val
		}
		out[key] = h
	}
	for k, h := range out {
		idx := make([]int, len(h.Bounds))
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(a, b int) bool { return h.Bounds[idx[a]] < h.Bounds[idx[b]] })
		nb, nc := make([]float64, len(idx)), make([]uint64, len(idx))
		for i, x := range idx {
			nb[i], nc[i] = h.Bounds[x], h.Counts[x]
		}
		h.Bounds, h.Counts = nb, nc
		out[k] = h
	}
	return out, sc.Err()
}

func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			out[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return out
}

// createTopics creates the instance's topics as the engine would and waits
// until the broker's metadata lists them all. The engine's own ensureTopics
// returns when CreateTopics answers, and goka's check right after can miss
// a topic the broker has not yet propagated ("topic … does not exist but
// the manager is configured with NoCreate"), seen on Kafka 4.1.
func (s *Stocksync) createTopics(ctx context.Context) error {
	return createTopics(ctx, s.cfg.Brokers, s.names, s.cfg.Partitions)
}

// createTopics creates an instance's streams and compacted tables with
// replication 1 (the new engine's table as the engine creates it), unless
// they exist, and waits until the metadata shows them.
func createTopics(ctx context.Context, brokers []string, names topology.Names, partitions int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var all []string
	for _, t := range names.Streams() {
		all = append(all, string(t))
		if _, err := adm.CreateTopic(ctx, partitions, 1, map[string]*string{"retention.ms": kadm.StringPtr("604800000")}, string(t)); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("bench: create topic %s: %w", t, err)
		}
	}
	tables := map[string]map[string]*string{string(names.EngineTable()): topics.TableConfigs()}
	for _, t := range names.Tables() {
		tables[string(t)] = map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	}
	for t, configs := range tables {
		all = append(all, t)
		if _, err := adm.CreateTopic(ctx, partitions, 1, configs, t); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("bench: create topic %s: %w", t, err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		md, err := adm.ListTopics(ctx, all...)
		ready := err == nil
		for _, t := range all {
			if d, ok := md[t]; !ok || d.Err != nil || len(d.Partitions) != int(partitions) {
				ready = false
			}
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: topics of %s not visible in the metadata after 30s", names.OrderCommands)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
