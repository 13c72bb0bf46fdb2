package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/topology"
)

// testKcat is a third-party client (librdkafka's kcat) on the topics. With
// -X topic.partitioner=murmur2_random it partitions like the Java client and
// its orders are answered. With kcat's DEFAULT partitioner (consistent_random,
// CRC32) keys land on other partitions: every order is still answered, by the
// key's owner, and a hot SKU is never oversold.
func testKcat(t *testing.T, e *env) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat not installed (apt-get install kcat)")
	}
	in := e.start(t.TempDir())
	results := e.reader(e.names.OrderResults)
	murmur2 := []string{"-X", "topic.partitioner=murmur2_random"}

	feed := func(sku, loc string, n int64) string {
		b, _ := json.Marshal(contract.FeedMessage{Type: contract.Snapshot, SKU: sku, Location: loc, OnHand: &n, Source: "kcat", Version: 1})
		return sku + ":" + string(b)
	}
	kcatProduce(t, e, e.names.StockFeed, murmur2, feed("KC1", "msk-wh-1", 10))
	kcatProduce(t, e, e.names.StockFeed, nil, feed("KHOT", "msk-wh-1", 5)) // default partitioner
	for _, sku := range []string{"KC1", "KHOT"} {
		eventually(t, 20*time.Second, "kcat's snapshot of "+sku+" applied", func() (bool, string) {
			code, data := in.do(http.MethodGet, "/v1/stock/"+sku, nil)
			return code == http.StatusOK, fmt.Sprintf("%d %s", code, data)
		})
	}

	reserve := func(id, sku string) string {
		b, _ := json.Marshal(contract.OrderCommand{Type: contract.Reserve, OrderID: id, Lines: lines(sku, 1), Channel: "web", TTLS: 600})
		return id + ":" + string(b)
	}

	// murmur2_random: the Java client's partitioner; answered, none rerouted.
	var ids, msgs []string
	for i := range 5 {
		id := fmt.Sprintf("kc-%d", i)
		ids = append(ids, id)
		msgs = append(msgs, reserve(id, "KC1"))
	}
	kcatProduce(t, e, e.names.OrderCommands, murmur2, msgs...)
	for id, res := range results.awaitAnswers(30*time.Second, contract.Reserve, ids...) {
		if res[0].Status != contract.StatusReserved {
			t.Errorf("kcat order %s: %s, want reserved", id, js(res[0]))
		}
	}
	if misplaced := misplacedKeys(t, e, ids); len(misplaced) != 0 {
		t.Errorf("kcat with murmur2_random put %v on partitions murmur2 does not pick", misplaced)
	}
	wantQty(t, in.stock("KC1"), qty{onHand: 10, reserved: 5, available: 5})
	// kcat reads the answers too.
	out := kcatConsume(t, e, e.names.OrderResults)
	for _, id := range ids {
		if !strings.Contains(out, id+" {") {
			t.Errorf("kcat -C of %s: no answer to %s in:\n%s", e.names.OrderResults, id, out)
		}
	}

	// The default partitioner: 20 single-unit orders for 5 units of KHOT.
	ids, msgs = nil, nil
	for i := range 20 {
		id := fmt.Sprintf("kd-%02d", i)
		ids = append(ids, id)
		msgs = append(msgs, reserve(id, "KHOT"))
	}
	kcatProduce(t, e, e.names.OrderCommands, nil, msgs...)
	got := results.awaitAnswers(60*time.Second, contract.Reserve, ids...)
	var reserved int64
	for _, id := range ids {
		if got[id][0].Status == contract.StatusReserved {
			reserved += got[id][0].Lines[0].Qty
		}
	}
	misplaced := misplacedKeys(t, e, ids)
	t.Logf("kcat's default partitioner put %d of %d keys on a partition murmur2 does not pick", len(misplaced), len(ids))
	if len(misplaced) == 0 {
		t.Errorf("no key was misplaced: this run did not exercise rerouting")
	}
	s := in.stock("KHOT")
	if s.Reserved > s.OnHand || reserved > s.OnHand {
		t.Errorf("OVERSELL: KHOT on_hand %d, GET reserved %d, %d units in reserved answers", s.OnHand, s.Reserved, reserved)
	}
	if s.Reserved != reserved || reserved != 5 {
		t.Errorf("KHOT: GET reserved %d, reserved answers %d units; want both 5 (20 orders of 1 for 5 units)", s.Reserved, reserved)
	}
}

// kcatProduce writes key:value lines to topic with kcat; extra is kcat options.
func kcatProduce(t *testing.T, e *env, topic goka.Stream, extra []string, lines ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"-P", "-b", strings.Join(e.b.brokers, ","), "-t", string(topic), "-K:"}, extra...)
	cmd := exec.CommandContext(ctx, "kcat", args...)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
}

// kcatConsume reads topic from the start to its end with kcat: "key value" lines.
func kcatConsume(t *testing.T, e *env, topic goka.Stream) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{"-C", "-b", strings.Join(e.b.brokers, ","), "-t", string(topic), "-o", "beginning", "-e", "-q", "-f", "%k %s\n"}
	out, err := exec.CommandContext(ctx, "kcat", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("kcat %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// misplacedKeys reads orders.commands and returns the keys among ids that
// arrived on a partition murmur2 does not pick (the engine re-sends those).
func misplacedKeys(t *testing.T, e *env, ids []string) []string {
	t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	r := e.reader(e.names.OrderCommands)
	seen := map[string]bool{}
	r.waitFor(30*time.Second, "the kcat orders on "+string(e.names.OrderCommands), func(all []*kgo.Record) (bool, string) {
		for _, rec := range all {
			if want[string(rec.Key)] {
				seen[string(rec.Key)] = true
			}
		}
		return len(seen) == len(ids), fmt.Sprintf("%d of %d keys seen", len(seen), len(ids))
	})
	var out []string
	done := map[string]bool{}
	for _, rec := range r.records {
		k := string(rec.Key)
		if want[k] && !done[k] && rec.Partition != topology.PartitionOf(k, partitions) {
			out = append(out, k)
			done[k] = true
		}
	}
	return out
}
