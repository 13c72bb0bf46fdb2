package bench

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/internal/txloop"
	"github.com/stocksync/stocksync/state"
	"github.com/stocksync/stocksync/topology"
)

// The floor is only a fair floor if it answers as the engine would: a
// reserve past the stock is refused, a release gives the units back, and
// an aborted cycle's decisions are undone.
func TestFloorDecidesAgainstItsStock(t *testing.T) {
	names := topology.New("t.")
	f := newFloor(names, 1)
	st, err := state.OpenPartition(filepath.Join(t.TempDir(), "0"), state.PartitionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	off := txloop.NewOffline(f, map[int32]*state.Partition{0: st})
	rec := func(topic string, v any) *kgo.Record {
		b, _ := json.Marshal(v)
		return &kgo.Record{Topic: topic, Value: b}
	}
	five := int64(5)
	order := func(typ, id string, qty int64) *kgo.Record {
		cmd := contract.OrderCommand{Type: typ, OrderID: id, RequestID: "r-" + id + typ}
		if typ == contract.Reserve {
			cmd.Lines, cmd.TTLS = []contract.Line{{SKU: "A", Qty: qty}}, 60
		}
		return rec(string(names.OrderCommands), cmd)
	}
	answers := func(recs ...*kgo.Record) []string {
		out, err := off.Cycle(f, recs, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range out {
			if r.Topic != string(names.OrderResults) {
				continue
			}
			var res contract.OrderResult
			if err := json.Unmarshal(r.Value, &res); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%s %s %s %v", res.OrderID, res.Type, res.Status, res.Lines))
		}
		return got
	}
	feed := rec(string(names.StockFeed), contract.FeedMessage{Type: contract.Snapshot, SKU: "A", Location: "wh", OnHand: &five, Source: "erp", Version: 1})
	got := answers(feed, order(contract.Reserve, "o1", 3), order(contract.Reserve, "o2", 3))
	want := []string{"o1 reserve reserved [{A 3 wh}]", "o2 reserve rejected []"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("answers = %q, want %q", got, want)
	}
	if got := answers(order(contract.Release, "o1", 0), order(contract.Reserve, "o2", 5)); fmt.Sprint(got) !=
		fmt.Sprint([]string{"o1 release released [{A 3 wh}]", "o2 reserve reserved [{A 5 wh}]"}) {
		t.Fatalf("after a release: %q, want o1 released and o2's 5 reserved", got)
	}

	// A snapshot no newer than the last one applied is dropped, as the
	// engine drops it: it would overstate the shelf.
	hundred := int64(100)
	answers(rec(string(names.StockFeed), contract.FeedMessage{Type: contract.Snapshot, SKU: "A", Location: "wh", OnHand: &hundred, Source: "erp", Version: 1}))
	if v := f.view("A"); v.OnHand != 5 {
		t.Fatalf("after a stale snapshot A has %d on hand, want 5", v.OnHand)
	}

	// An aborted cycle: its release is undone, so the units stay held.
	if err := off.Abort(f, []*kgo.Record{order(contract.Release, "o2", 0)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if v := f.view("A"); v.Reserved != 5 {
		t.Fatalf("after an aborted release A has %d reserved, want o2's 5 still held", v.Reserved)
	}
}
