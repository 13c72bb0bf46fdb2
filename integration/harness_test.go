// Package integration runs stocksync end to end: a whole instance (engine,
// goka processors on Pebble, HTTP API) in this process, driven over real HTTP
// and real Kafka clients (franz-go, kcat). Every scenario runs on an embedded
// kfake cluster and, when STOCKSYNC_TEST_BROKERS names one, on a real Kafka
// broker (`make test-kafka`). `go test -short` skips the suite.
package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"gopkg.in/yaml.v3"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/examples"
	stocksync "github.com/stocksync/stocksync/instance"
	"github.com/stocksync/stocksync/topology"
)

const (
	brokersEnv  = "STOCKSYNC_TEST_BROKERS"
	logLevelEnv = "STOCKSYNC_TEST_LOG" // debug, info, warn: engine logs to stderr; default: kept, shown on failure
	partitions  = 4                    // of every topic: enough to spread keys, few for speed
	readyWithin = 60 * time.Second     // an instance must answer /readyz 200 within this
	stopWithin  = 30 * time.Second     // Run must return within this once cancelled
)

// runID makes this run's topic prefixes unique on a shared broker.
var runID = func() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

// backend is a Kafka cluster the suite runs against.
type backend struct {
	name    string // kfake | kafka
	brokers []string
	real    bool
}

// openKfake starts an embedded single-broker kfake cluster, persisted under
// the test's temporary directory, closed when t ends.
func openKfake(t *testing.T) *backend {
	dir := filepath.Join(t.TempDir(), "kfake")
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return &backend{name: "kfake", brokers: c.ListenAddrs()}
}

// openKafka returns the real broker named by STOCKSYNC_TEST_BROKERS, or skips.
func openKafka(t *testing.T) *backend {
	v := strings.TrimSpace(os.Getenv(brokersEnv))
	if v == "" {
		t.Skip(brokersEnv + " not set: real-Kafka scenarios skipped; run make test-kafka")
	}
	var brokers []string
	for _, b := range strings.Split(v, ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatalf("%s=%q: %v", brokersEnv, v, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).ListBrokers(ctx); err != nil {
		t.Fatalf("%s=%q but no broker answers (start one with scripts/kafka.sh up): %v", brokersEnv, v, err)
	}
	return &backend{name: "kafka", brokers: brokers, real: true}
}

// env is one scenario's world: a backend and a topic prefix of its own.
type env struct {
	t      *testing.T
	b      *backend
	prefix string
	names  topology.Names
	engine string // the instances' engine.backend, from $STOCKSYNC_ENGINE (default txloop)
	seq    atomic.Int32
}

// newEnv gives the scenario a fresh topic prefix, "it-<run>-<scenario>.". On
// a real broker the topics and groups are deleted when the scenario ends.
func newEnv(t *testing.T, b *backend, short string) *env {
	prefix := fmt.Sprintf("it-%s-%s.", runID, short)
	engine, err := config.ParseBackend(os.Getenv(config.EnvBackend))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, b: b, prefix: prefix, names: topology.New(prefix), engine: engine}
	if b.real {
		t.Cleanup(e.deleteTopics)
	}
	return e
}

func (e *env) deleteTopics() {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.b.brokers...))
	if err != nil {
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		e.t.Logf("cleanup: listing the topics of prefix %s: %v", e.prefix, err)
		return
	}
	var mine []string
	for _, name := range topics.Names() {
		if strings.HasPrefix(name, e.prefix) {
			mine = append(mine, name)
		}
	}
	if _, err := adm.DeleteTopics(ctx, mine...); err != nil {
		e.t.Logf("cleanup: deleting the topics of prefix %s: %v", e.prefix, err)
	}
	if groups, err := adm.ListGroups(ctx); err == nil {
		var gs []string
		for _, g := range groups.Groups() {
			if strings.HasPrefix(g, e.prefix) {
				gs = append(gs, g)
			}
		}
		_, _ = adm.DeleteGroups(ctx, gs...)
	}
}

// settings is examples/stocksync.yaml (its locations and channels) with this
// scenario's brokers, prefix, data dir and fast timings, through config.Parse.
func (e *env) settings(dataDir string) *config.Config {
	e.t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(examples.Config, &doc); err != nil {
		e.t.Fatalf("examples/stocksync.yaml: %v", err)
	}
	doc["kafka"] = map[string]any{"brokers": e.b.brokers, "topic_prefix": e.prefix, "partitions": partitions, "replication": 1}
	doc["http"] = map[string]any{"addr": "127.0.0.1:0"}
	doc["data_dir"] = dataDir
	doc["engine"] = map[string]any{"sweep_interval": "100ms", "write_timeout": "10s", "backend": e.engine}
	data, err := yaml.Marshal(doc)
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := config.Parse(data)
	if err != nil {
		e.t.Fatalf("config.Parse of the test config: %v\n%s", err, data)
	}
	return s
}

// instance is one running stocksync (package instance) with its HTTP API
// on a local listener.
type instance struct {
	env     *env
	name    string
	dataDir string
	url     string
	in      *stocksync.Instance
	logs    *logBuffer
	stopped bool
	// ReadyIn is how long the instance took from its start to /readyz 200;
	// StoppedIn, from Stop to its return.
	ReadyIn, StoppedIn time.Duration
}

// start runs an instance on dataDir, on the backend of $STOCKSYNC_ENGINE
// (default txloop), and waits until /readyz answers 200; it is stopped when
// the test ends, if not before.
func (e *env) start(dataDir string) *instance {
	e.t.Helper()
	n := e.seq.Add(1)
	in := &instance{env: e, name: fmt.Sprintf("%s#%d", e.prefix, n), dataDir: dataDir}
	in.logs = newLogBuffer(in.name)
	began := time.Now()
	var err error
	in.in, err = stocksync.Start(context.Background(), stocksync.Config{Settings: e.settings(dataDir),
		Backend: e.engine, Logger: in.logs.logger()})
	if err != nil {
		e.t.Fatalf("start instance %s: %v", in.name, err)
	}
	in.url = in.in.URL()
	e.t.Cleanup(in.Stop)
	in.waitReady(began)
	return in
}

func (in *instance) waitReady(began time.Time) {
	t := in.env.t
	t.Helper()
	deadline := time.Now().Add(readyWithin)
	last := "no answer yet"
	for time.Now().Before(deadline) {
		select {
		case <-in.in.Done():
			in.stopped = true
			t.Fatalf("instance %s: it stopped before it was ready: %v\nengine log:\n%s", in.name, in.in.Err(), in.logs)
		default:
		}
		code, body, err := call(context.Background(), http.MethodGet, in.url+"/readyz", nil)
		if err == nil && code == http.StatusOK {
			in.ReadyIn = time.Since(began)
			return
		}
		last = fmt.Sprintf("%d %s %v", code, strings.TrimSpace(string(body)), err)
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("instance %s (brokers %v) not ready within %s; last /readyz: %s",
		in.name, in.env.b.brokers, readyWithin, last)
}

// Stop stops the instance gracefully and waits for it.
func (in *instance) Stop() {
	if in.stopped {
		return
	}
	in.stopped = true
	t := in.env.t
	began := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- in.in.Stop() }()
	select {
	case err := <-stopped:
		in.StoppedIn = time.Since(began)
		if err != nil {
			t.Errorf("instance %s: it stopped with %v", in.name, err)
		}
	case <-time.After(stopWithin):
		t.Errorf("instance %s: did not stop within %s", in.name, stopWithin)
	}
	if t.Failed() {
		t.Logf("engine log of instance %s (its last %d KiB):\n%s", in.name, maxLog>>10, in.logs)
	}
}

// Restart stops the instance gracefully and starts another on the same data dir.
func (in *instance) Restart() *instance {
	in.env.t.Helper()
	in.Stop()
	return in.env.start(in.dataDir)
}

// tableBytes is the size of the instance's local tables on disk.
func (in *instance) tableBytes() int64 {
	var n int64
	_ = filepath.WalkDir(in.dataDir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
