package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/contract"
)

// Processing guarantees of the Kafka Streams peer.
const (
	AtLeastOnce   = "at_least_once"
	ExactlyOnceV2 = "exactly_once_v2"
)

// KStreamsConfig configures the Kafka Streams peer (bench/peers/kstreams)
// as a system under test.
type KStreamsConfig struct {
	// Brokers of the Kafka cluster. Required.
	Brokers []string
	// Jar is the peer's jar (BuildKStreams). Required.
	Jar string
	// Guarantee is AtLeastOnce (default) or ExactlyOnceV2.
	Guarantee string
	// Partitions of every topic. Default 12.
	Partitions int32
	// Threads are the peer's stream threads. Default 2, the machine's cores.
	Threads int
	// CommitInterval is Kafka Streams' commit.interval.ms; 0 keeps its
	// default (30 s at-least-once, 100 ms exactly-once). Under exactly-once
	// it bounds how soon a hop's records can be read.
	CommitInterval time.Duration
	// Dir holds the peer's RocksDB stores and its log. Required.
	Dir string
	// Name is the system's row in the results. Default "kstreams".
	Name string
	// Broker is the broker's process, counted with the system; 0 for none.
	Broker Process
	// Log receives how long the catalogue took to apply; nil for none.
	Log io.Writer
}

// KStreams drives one Kafka Streams peer, a JVM child process, through
// its topics: orders over orderClient, stock over stock.feed.
type KStreams struct {
	cfg    KStreamsConfig
	prefix string
	orders *orderClient
	feed   *kgo.Client
	child  *exec.Cmd
	done   chan error
}

// BuildKStreams builds the peer's jar with Maven in dir (the module,
// bench/peers/kstreams) unless it is newer than the module's sources, and
// returns its path. Maven fetches what it lacks from Maven Central.
func BuildKStreams(ctx context.Context, dir string, log io.Writer) (string, error) {
	jar := filepath.Join(dir, "target", "kstreams-peer.jar")
	if fresh, err := newerThanSources(jar, dir); err != nil || fresh {
		return jar, err
	}
	if log != nil {
		fmt.Fprintf(log, "   kstreams: building %s with Maven\n", jar)
	}
	cmd := exec.CommandContext(ctx, "mvn", "-q", "-B", "package")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("bench: mvn package in %s: %w; is Maven installed (apt-get install maven)? It said:\n%s", dir, err, out)
	}
	return jar, nil
}

// newerThanSources reports whether jar exists and is newer than the pom
// and every file under src/.
func newerThanSources(jar, dir string) (bool, error) {
	st, err := os.Stat(jar)
	if err != nil {
		return false, nil
	}
	newer := true
	check := func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if info, err := d.Info(); err == nil && !d.IsDir() && info.ModTime().After(st.ModTime()) {
			newer = false
		}
		return nil
	}
	if err := filepath.WalkDir(filepath.Join(dir, "pom.xml"), check); err != nil {
		return false, fmt.Errorf("bench: %s is not the Kafka Streams peer's module: %w", dir, err)
	}
	return newer, filepath.WalkDir(filepath.Join(dir, "src"), check)
}

// NewKStreams creates the peer's topics on a prefix of its own, starts the
// peer and waits until its stream threads run.
func NewKStreams(ctx context.Context, cfg KStreamsConfig) (*KStreams, error) {
	if len(cfg.Brokers) == 0 || cfg.Jar == "" || cfg.Dir == "" {
		return nil, errors.New("bench: KStreamsConfig.Brokers, Jar and Dir are required")
	}
	cfg.Guarantee = or(cfg.Guarantee, AtLeastOnce)
	cfg.Partitions = or(cfg.Partitions, 12)
	cfg.Threads = or(cfg.Threads, 2)
	cfg.Name = or(cfg.Name, "kstreams")
	k := &KStreams{cfg: cfg, prefix: fmt.Sprintf("bench-ks-%x.", time.Now().UnixNano()/1e6%(1<<32)), done: make(chan error, 1)}
	var err error
	// The feed client first: Close deletes the topics through it, so a
	// failed start leaves none behind.
	k.feed, err = kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.ProducerLinger(time.Millisecond),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), kgo.MaxBufferedRecords(1<<20))
	if err != nil {
		return nil, err
	}
	if err = k.createTopics(ctx); err == nil {
		if err = k.start(ctx); err == nil {
			k.orders, err = newOrderClient(ctx, cfg.Brokers, k.prefix, 30*time.Second, slog.New(slog.DiscardHandler))
		}
	}
	if err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

// start runs the JVM and waits for the peer's RUNNING line.
func (k *KStreams) start(ctx context.Context) error {
	logFile := filepath.Join(k.cfg.Dir, "kstreams.log")
	if err := os.MkdirAll(k.cfg.Dir, 0o755); err != nil {
		return err
	}
	logf, err := os.Create(logFile)
	if err != nil {
		return err
	}
	args := []string{"-Xms512m", "-Xmx1g", "-XX:+UseG1GC", "-jar", k.cfg.Jar,
		"--brokers", strings.Join(k.cfg.Brokers, ","), "--prefix", k.prefix, "--guarantee", k.cfg.Guarantee,
		"--state-dir", filepath.Join(k.cfg.Dir, "state"), "--threads", fmt.Sprint(k.cfg.Threads)}
	if k.cfg.CommitInterval > 0 {
		args = append(args, "--commit-interval-ms", fmt.Sprint(k.cfg.CommitInterval.Milliseconds()))
	}
	k.child = exec.Command("java", args...)
	k.child.Stderr = logf
	k.child.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdout, err := k.child.StdoutPipe()
	if err != nil {
		logf.Close()
		return err
	}
	if err := k.child.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("bench: start the Kafka Streams peer (java -jar %s): %w", k.cfg.Jar, err)
	}
	running := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		var once sync.Once
		for sc.Scan() {
			if sc.Text() == "RUNNING" { // again after each rebalance
				once.Do(func() { close(running) })
			}
		}
	}()
	go func() { k.done <- k.child.Wait(); logf.Close() }()
	select {
	case <-running:
		return nil
	case err := <-k.done:
		b, _ := os.ReadFile(logFile)
		if len(b) > 4096 {
			b = b[len(b)-4096:]
		}
		k.done <- err
		return fmt.Errorf("bench: the Kafka Streams peer stopped before it ran: %v; its log ends:\n%s", err, b)
	case <-time.After(120 * time.Second):
		return fmt.Errorf("bench: the Kafka Streams peer not running within 120s; see %s", logFile)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (k *KStreams) topics() []string {
	var out []string
	for _, t := range []string{"orders.commands", "orders.results", "stock.feed", "kstreams.line-requests", "kstreams.line-answers"} {
		out = append(out, k.prefix+t)
	}
	return out
}

// createTopics creates the topics the peer reads and writes; Kafka Streams
// creates its own repartition and changelog topics.
func (k *KStreams) createTopics(ctx context.Context) error {
	adm := kadm.NewClient(k.feed)
	for _, t := range k.topics() {
		if _, err := adm.CreateTopic(ctx, k.cfg.Partitions, 1, map[string]*string{"retention.ms": kadm.StringPtr("604800000")}, t); err != nil {
			return fmt.Errorf("bench: create topic %s: %w", t, err)
		}
	}
	return nil
}

func (k *KStreams) Name() string { return k.cfg.Name }

// Processes are the peer's JVM and the broker.
func (k *KStreams) Processes() []Process {
	var ps []Process
	if k.child != nil && k.child.Process != nil {
		ps = append(ps, Process{Name: "kstreams", PID: k.child.Process.Pid})
	}
	if k.cfg.Broker.PID != 0 {
		ps = append(ps, k.cfg.Broker)
	}
	return ps
}

// Close stops the clients and the peer (SIGTERM: it closes its streams),
// then deletes every topic under its prefix, its internal ones included:
// the broker may be shared.
func (k *KStreams) Close() error {
	if k.orders != nil {
		k.orders.Close()
		k.orders = nil
	}
	if k.child != nil && k.child.Process != nil {
		_ = k.child.Process.Signal(syscall.SIGTERM)
		select {
		case <-k.done:
		case <-time.After(30 * time.Second):
			_ = k.child.Process.Kill()
			<-k.done
		}
		k.child = nil
	}
	if k.feed == nil {
		return nil
	}
	defer func() { k.feed.Close(); k.feed = nil }()
	return deleteTopics(k.feed, k.prefix)
}

// deleteTopics deletes the topics of a run's prefix once its system
// stopped: a broker kept for many runs otherwise holds thousands of their
// partitions, and the later runs paid for them (3,400 partitions after a
// day of runs; docs in bench/README.md).
func deleteTopics(cl *kgo.Client, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	all, err := adm.ListTopics(ctx)
	if err != nil {
		return fmt.Errorf("bench: list topics to delete those of %s: %w", prefix, err)
	}
	var mine []string
	for _, t := range all.Names() {
		if strings.HasPrefix(t, prefix) {
			mine = append(mine, t)
		}
	}
	if _, err := adm.DeleteTopics(ctx, mine...); err != nil {
		return fmt.Errorf("bench: delete the topics of %s: %w", prefix, err)
	}
	return nil
}

func (k *KStreams) Reserve(ctx context.Context, orderID string, lines []contract.Line, channel string, ttl time.Duration) (contract.OrderResult, error) {
	return k.orders.Reserve(ctx, orderID, lines, channel, ttl)
}

func (k *KStreams) Confirm(ctx context.Context, orderID string) (contract.OrderResult, error) {
	return k.orders.Confirm(ctx, orderID)
}

func (k *KStreams) Release(ctx context.Context, orderID string) (contract.OrderResult, error) {
	return k.orders.Release(ctx, orderID)
}

func (k *KStreams) Ship(ctx context.Context, orderID string) (contract.OrderResult, error) {
	return k.orders.Ship(ctx, orderID)
}

func (k *KStreams) record(msg contract.FeedMessage) *kgo.Record {
	v, _ := json.Marshal(msg)
	return &kgo.Record{Topic: k.prefix + "stock.feed", Key: []byte(msg.SKU), Value: v}
}

// Snapshot produces an ERP snapshot to stock.feed (acks=all).
func (k *KStreams) Snapshot(ctx context.Context, key Key, onHand, version int64) error {
	return k.feed.ProduceSync(ctx, k.record(contract.FeedMessage{Type: contract.Snapshot, SKU: key.SKU, Location: key.Location,
		OnHand: &onHand, Source: "erp", Version: version})).FirstErr()
}

// Adjust produces a WMS adjustment to stock.feed.
func (k *KStreams) Adjust(ctx context.Context, key Key, delta int64, id string) error {
	return k.feed.ProduceSync(ctx, k.record(contract.FeedMessage{Type: contract.Adjust, SKU: key.SKU, Location: key.Location,
		Delta: delta, Reason: "wms-count", ID: id})).FirstErr()
}

// Load produces a version-1 ERP snapshot of every row to stock.feed and
// waits until the peer committed its offsets past all of them: the peer has
// no query API, and a committed offset means the records before it were
// applied (with at-least-once that takes up to commit.interval.ms, 30 s).
func (k *KStreams) Load(ctx context.Context, cat *Catalogue) error {
	var mu sync.Mutex
	var perr error
	err := cat.Each(func(key Key, onHand int64) error {
		v := onHand
		k.feed.Produce(ctx, k.record(contract.FeedMessage{Type: contract.Snapshot, SKU: key.SKU, Location: key.Location,
			OnHand: &v, Source: "erp", Version: 1}), func(_ *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil && perr == nil {
				perr = err
			}
		})
		return ctx.Err()
	})
	if err == nil {
		err = k.feed.Flush(ctx)
	}
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if perr != nil {
		return fmt.Errorf("bench: producing the catalogue: %w", perr)
	}
	began := time.Now()
	if err := k.waitCommitted(ctx, k.prefix+"stock.feed"); err != nil {
		return err
	}
	if k.cfg.Log != nil {
		fmt.Fprintf(k.cfg.Log, "   %s: catalogue produced, committed by the peer %s later\n", k.cfg.Name, time.Since(began).Round(time.Millisecond))
	}
	return nil
}

// waitCommitted waits until the peer's group committed the end of topic.
func (k *KStreams) waitCommitted(ctx context.Context, topic string) error {
	adm := kadm.NewClient(k.feed)
	group := k.prefix + "kstreams" // application.id
	for {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			return fmt.Errorf("bench: end offsets of %s: %w", topic, err)
		}
		committed, err := adm.FetchOffsets(ctx, group)
		if err == nil {
			behind := false
			ends.Each(func(o kadm.ListedOffset) {
				c, ok := committed.Lookup(topic, o.Partition)
				if !ok || c.At < o.Offset {
					behind = true
				}
			})
			if !behind {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: waiting for the peer to apply the catalogue: %w", ctx.Err())
		case err := <-k.done:
			k.done <- err
			return fmt.Errorf("bench: the Kafka Streams peer stopped while loading: %v; see %s", err, filepath.Join(k.cfg.Dir, "kstreams.log"))
		case <-time.After(200 * time.Millisecond):
		}
	}
}
