package scaleout_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/repartition"
	"github.com/stocksync/stocksync/topology"
)

// TestRepartitionUnderLoad grows a deployment of two instances from 4 to 12
// partitions (`stocksync admin repartition --to 12`, docs/operations.md
// "Growing the partitions") while orders of one and two lines and adjusts
// flow, then checks the whole history against what the engine shows: no
// acknowledged reservation lost or doubled, nothing oversold, every order
// in the state it was left in. It logs the pause the switch cost.
func TestRepartitionUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts several stocksync processes")
	}
	if b, _ := config.ParseBackend(os.Getenv(config.EnvBackend)); b != config.BackendTxloop {
		t.Skip("only the new engine grows its partitions: run with STOCKSYNC_ENGINE=v2")
	}
	bin := binary(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { regrow(t, bin, b) })
	}
}

func regrow(t *testing.T, bin string, b backend) {
	const from, to = 4, 12
	prefix := fmt.Sprintf("rp-%d.", rand.Uint32())
	cfg := writeConfig(t, b.brokers, prefix, from)
	var l live
	first := start(t, bin, cfg, "i1")
	l.add(first)
	second := start(t, bin, cfg, "i2")
	l.add(second)
	for i := 0; i < skus; i++ {
		putStock(t, first.url, sku(i), startStock)
	}
	h, pr, stopLoad := startLoad(t, b, prefix, &l, first.url, 2)

	t.Logf("two instances on %d partitions; load for 6s", from)
	time.Sleep(6 * time.Second)
	// A run stopped at the fence (Ctrl-C) leaves the old partitioning
	// serving; the next run resumes its copy.
	stopAt, stop := context.WithCancel(context.Background())
	tool := repartition.Config{Brokers: b.brokers, Names: topology.New(prefix), Configured: from, To: to,
		Progress: &logWriter{t: t, onLine: func(ln string) {
			if strings.Contains(ln, "fence: the instances stop") {
				stop()
			}
		}}}
	if err := repartition.Run(stopAt, tool); !errors.Is(err, context.Canceled) {
		t.Fatalf("a repartition stopped at the fence: %v; want it to give up with context.Canceled", err)
	} else {
		t.Logf("the stopped run gave up as it should: %v", err)
	}
	answered := h.answered.Load()
	time.Sleep(3 * time.Second)
	if h.answered.Load() == answered {
		logLag(t, b.brokers, string(topology.New(prefix).Engine))
		t.Fatalf("no order answered in the 3s after a stopped repartition: the old partitioning does not serve")
	}
	checkGrown(t, b.brokers, prefix, from)
	progress := &logWriter{t: t}
	tool.Progress = progress
	began := time.Now()
	err := repartition.Run(context.Background(), tool)
	if err != nil {
		t.Fatalf("repartition: %v", err)
	}
	switched := time.Now()
	t.Logf("repartition to %d took %s (answers so far: %d); load for 10s", to, switched.Sub(began).Round(time.Millisecond), h.answered.Load())
	// Once the inputs grew: a run again is done at once, an abort refused.
	if err := repartition.Run(context.Background(), tool); err != nil {
		t.Errorf("repartition to %d again, once done: %v", to, err)
	}
	undo := tool
	undo.Abort = true
	if err := repartition.Run(context.Background(), undo); err == nil {
		t.Error("an abort after the inputs grew succeeded; want it refused")
	}
	time.Sleep(10 * time.Second)
	stopLoad()
	t.Logf("load stopped: %d answers, %d retried calls", h.answered.Load(), h.retries.Load())

	for _, in := range []*instance{first, second} {
		for _, ln := range grep(in.log, "switched", "fenced") {
			t.Logf("%s: %s", in.name, ln)
		}
	}
	fence := progress.at("fence:")
	report(t, "repartition (from the fence)", fence, switched.Add(8*time.Second), pr, h)
	check(t, &l, h)
	checkGrown(t, b.brokers, prefix, to)
	// The operator's last step: kafka.partitions says the new count; an
	// instance started with that config (and an empty volume) serves.
	l.remove(second)
	second.stop(t, syscall.SIGTERM)
	third := start(t, bin, writeConfig(t, b.brokers, prefix, to), "i3")
	l.add(third)
	check(t, &l, h)
	checkSpread(t, b.brokers, prefix, to, to, []*instance{first, third})
}

// checkGrown asserts the engine's inputs have the count want.
func checkGrown(t *testing.T, brokers []string, prefix string, want int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	names := topology.New(prefix)
	td, err := adm.ListTopics(context.Background(), repartition.Inputs(names)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range td {
		if len(d.Partitions) != want {
			t.Errorf("%s has %d partitions, want %d", d.Topic, len(d.Partitions), want)
		}
	}
}

// logLag logs a group's lag by partition (what a stuck engine left unread).
func logLag(t *testing.T, brokers []string, group string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Log(err)
		return
	}
	defer cl.Close()
	lag, err := kadm.NewClient(cl).Lag(context.Background(), group)
	if err != nil {
		t.Log(err)
		return
	}
	for _, gl := range lag {
		for _, l := range gl.Lag.Sorted() {
			t.Logf("group %s %s[%d]: committed %d, end %d, lag %d", group, l.Topic, l.Partition, l.Commit.At, l.End.Offset, l.Lag)
		}
	}
}

// grep returns the lines of a file that contain any of subs.
func grep(path string, subs ...string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, ln := range strings.Split(string(b), "\n") {
		for _, s := range subs {
			if strings.Contains(ln, s) {
				out = append(out, ln)
				break
			}
		}
	}
	return out
}

// logWriter logs the tool's progress lines and remembers when each came.
type logWriter struct {
	t      *testing.T
	onLine func(string) // optional
	mu     sync.Mutex
	lines  []string
	when   []time.Time
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ln := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		w.t.Log("repartition: " + ln)
		w.lines, w.when = append(w.lines, ln), append(w.when, time.Now())
		if w.onLine != nil {
			w.onLine(ln)
		}
	}
	return len(b), nil
}

// at is when the first line containing s came.
func (w *logWriter) at(s string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, ln := range w.lines {
		if strings.Contains(ln, s) {
			return w.when[i]
		}
	}
	w.t.Errorf("the repartition never said %q", s)
	return time.Time{}
}
