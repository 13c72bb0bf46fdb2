package imports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/stock"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const feed = "t.stock.feed"

// TestMain doubles as the import process the resume test kills.
func TestMain(m *testing.M) {
	if os.Getenv("IMPORTS_TEST_CHILD") != "" {
		childImport()
		return
	}
	os.Exit(m.Run())
}

// childImport imports $IMPORTS_TEST_FILE to Kafka and stalls after a few
// batches, with its checkpoint saved, until it is killed.
func childImport() {
	cl, err := NewKafkaClient(strings.Split(os.Getenv("IMPORTS_TEST_BROKERS"), ","))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sender := &stallingSender{Sender: &KafkaSender{Client: cl, Topic: feed}, after: 4}
	_, err = Run(context.Background(), Config{File: os.Getenv("IMPORTS_TEST_FILE"), Version: 5, Sender: sender, BatchRows: 500})
	fmt.Fprintln(os.Stderr, "child import returned:", err)
	os.Exit(1)
}

// stallingSender sends its first batches, then never returns: the process
// is killed in the middle of a batch.
type stallingSender struct {
	Sender
	after, sent int
}

func (s *stallingSender) Send(ctx context.Context, batch []contract.FeedMessage) (map[int]string, error) {
	if s.sent++; s.sent > s.after {
		refused, _ := s.Sender.Send(ctx, batch[:len(batch)/2]) // half of it reaches Kafka
		_ = refused
		select {}
	}
	return s.Sender.Send(ctx, batch)
}

// TestImportResumesAfterSIGKILL kills an import process mid-file, runs the
// import again and checks that stock.feed, applied as the engine applies
// snapshots, ends with exactly the file's stock (older stock replaced, bad
// rows counted once).
func TestImportResumesAfterSIGKILL(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, feed))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	brokers := cluster.ListenAddrs()
	cl, err := NewKafkaClient(brokers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)

	// Stock from an older export (version 1), which the file replaces.
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		old := int64(1000 + i)
		v, _ := json.Marshal(contract.FeedMessage{Type: contract.Snapshot, SKU: fmt.Sprintf("s%05d", i), Location: "msk-1", OnHand: &old, Source: "erp", Version: 1})
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: feed, Key: []byte(fmt.Sprintf("s%05d", i)), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	const rows = 20_000
	file := filepath.Join(t.TempDir(), "export.csv")
	want := map[string]int64{}
	var bad int64
	var b strings.Builder
	b.WriteString("sku,location,on_hand\n")
	for i := 0; i < rows; i++ {
		sku, loc := fmt.Sprintf("s%05d", i/2), []string{"msk-1", "spb-1"}[i%2]
		if i%997 == 5 {
			fmt.Fprintf(&b, "%s,%s,lots\n", sku, loc)
			bad++
			continue
		}
		fmt.Fprintf(&b, "%s,%s,%d\n", sku, loc, i%113)
		want[sku+"@"+loc] = int64(i % 113)
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "IMPORTS_TEST_CHILD=1", "IMPORTS_TEST_FILE="+file, "IMPORTS_TEST_BROKERS="+strings.Join(brokers, ","))
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill() })
	cpPath := checkpointPath(file, "")
	var cp checkpoint
	for deadline := time.Now().Add(60 * time.Second); ; {
		if c, ok, _ := loadCheckpoint(cpPath); ok && c.Sent >= 4*500 {
			cp = c
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child import saved no checkpoint of 4 batches within 60s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	if cp.Line >= rows {
		t.Fatalf("the child got to line %d of %d before the kill", cp.Line, rows+1)
	}

	sum, err := Run(ctx, Config{File: file, Version: 5, Sender: &KafkaSender{Client: cl, Topic: feed}, BatchRows: 500})
	if !errors.Is(err, ErrBadRows) {
		t.Fatalf("Run: %v, want ErrBadRows", err)
	}
	if sum.Resumed == 0 || sum.Rows != rows || sum.Bad != bad || sum.Sent != rows-bad {
		t.Errorf("summary %+v, want resumed, %d rows, %d bad, %d sent", sum, rows, bad, rows-bad)
	}
	for _, r := range sum.BadRows {
		if r.Line%997 != 7 || !strings.Contains(r.Reason, `"lots"`) { // row i is on line i+2
			t.Errorf("bad row %+v", r)
		}
	}
	if _, err := os.Stat(cpPath); !os.IsNotExist(err) {
		t.Errorf("the finished import left its checkpoint: %v", err)
	}

	got := applyFeed(t, cl)
	if len(got) != len(want) {
		t.Errorf("stock.feed holds %d SKU-locations, the file %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: on_hand %d, the file says %d", k, got[k], v)
		}
	}
}

// applyFeed reads stock.feed to its end and applies every snapshot as the
// inventory processor does; it returns on_hand by "sku@location".
func applyFeed(t *testing.T, cl *kgo.Client) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, feed)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	rd, err := kgo.NewClient(kgo.SeedBrokers(cl.OptValue(kgo.SeedBrokers).([]string)...), kgo.ConsumeTopics(feed),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	ledgers := map[string]*stock.SKU{}
	for n := int64(0); n < total; {
		f := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s", n, total, feed)
		}
		f.EachRecord(func(r *kgo.Record) {
			n++
			msg, err := contract.DecodeFeed(r.Value)
			if err != nil {
				t.Fatalf("%s: %v", r.Value, err)
			}
			if ledgers[msg.SKU] == nil {
				ledgers[msg.SKU] = &stock.SKU{}
			}
			ledgers[msg.SKU].Snapshot(msg)
		})
	}
	out := map[string]int64{}
	for sku, s := range ledgers {
		for _, l := range s.Locations {
			out[sku+"@"+l.Name] = l.OnHand
		}
	}
	return out
}
