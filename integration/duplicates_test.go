package integration

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/contract"
)

// testDuplicates is DESIGN.md invariant 3 as a client sees it: a reserve sent
// twice (over HTTP, over Kafka, and once over each) gets the same answer and
// holds once; an adjust id sent twice is applied once; an older snapshot
// version is ignored and leaves the stock as it was.
func testDuplicates(t *testing.T, e *env) {
	in := e.start(t.TempDir())
	cl := e.client()
	results := e.reader(e.names.OrderResults)
	in.snapshot("D", "msk-wh-1", 20, 5)

	// The same reserve twice over HTTP: the same answer, held once.
	body := reserveBody{Lines: lines("D", 2), Channel: "web", TTLS: 600}
	code1, first, raw1 := in.reserve("d-1", body)
	code2, second, raw2 := in.reserve("d-1", body)
	if code1 != http.StatusOK || code2 != http.StatusOK || !sameResult(first, second) {
		t.Errorf("reserve d-1 twice: %d %s then %d %s; want the same 200 answer", code1, raw1, code2, raw2)
	}
	wantQty(t, in.stock("D"), qty{onHand: 20, reserved: 2, available: 18})

	// The same id with another body is refused, and holds nothing more.
	code, res, raw := in.reserve("d-1", reserveBody{Lines: lines("D", 3), Channel: "web", TTLS: 600})
	if code != http.StatusConflict || res.Error == nil || res.Error.Type != contract.ErrConflict {
		t.Errorf("reserve d-1 again with another body: %d %s, want 409 conflict", code, raw)
	}

	// The same reserve twice over Kafka: two identical answers, held once.
	cmd := contract.OrderCommand{Type: contract.Reserve, OrderID: "d-2", Lines: lines("D", 3), Channel: "web", TTLS: 600}
	e.produce(cl, record(e.names.OrderCommands, "d-2", cmd), record(e.names.OrderCommands, "d-2", cmd))
	results.waitFor(30*time.Second, "two answers to d-2", func(all []*kgo.Record) (bool, string) {
		n := len(answers(all, contract.Reserve)["d-2"])
		return n >= 2, fmt.Sprintf("%d answers", n)
	})
	got := answers(results.records, contract.Reserve)["d-2"]
	if got[0].Status != contract.StatusReserved || !sameResult(got[0], got[1]) {
		t.Errorf("reserve d-2 twice over Kafka: %s then %s; want the same reserved answer", js(got[0]), js(got[1]))
	}
	// …and once more over HTTP: the first answer again.
	if code, res, raw := in.reserve("d-2", reserveBody{Lines: cmd.Lines, Channel: cmd.Channel, TTLS: cmd.TTLS}); code != http.StatusOK || !sameResult(res, got[0]) {
		t.Errorf("reserve d-2 over HTTP after Kafka: %d %s, want the Kafka answer %s", code, raw, js(got[0]))
	}
	wantQty(t, in.stock("D"), qty{onHand: 20, reserved: 5, available: 15})
	// A confirm repeated answers the same and commits once.
	in.command("d-1", "confirm", contract.StatusConfirmed)
	in.command("d-1", "confirm", contract.StatusConfirmed)
	settled(t, in, "D", qty{onHand: 20, reserved: 3, committed: 2, available: 15})

	// The same adjust id twice over HTTP: applied once; the repeat says ignored.
	if a := in.adjust("D", "msk-wh-1", 4, "adj-1"); a.Ignored || a.Stock == nil || a.Stock.OnHand != 24 {
		t.Errorf("adjust adj-1 (+4): %s, want applied with on_hand 24", js(a))
	}
	if a := in.adjust("D", "msk-wh-1", 4, "adj-1"); !a.Ignored {
		t.Errorf("adjust adj-1 repeated: %s, want ignored:true", js(a))
	}
	wantQty(t, in.stock("D"), qty{onHand: 24, reserved: 3, committed: 2, available: 19})

	// The same adjust id twice over Kafka, then a marker (a count at another
	// location of the same SKU, so on the same partition, after them): once
	// the marker shows, both copies have been processed.
	adj := contract.FeedMessage{Type: contract.Adjust, SKU: "D", Location: "msk-wh-1", Delta: 10, Reason: "receipt", ID: "adj-2"}
	e.produce(cl, record(e.names.StockFeed, "D", adj), record(e.names.StockFeed, "D", adj), markerRecord(e, "D", 1))
	waitMarker(t, in, "D", 1)
	wantLoc(t, in.stock("D"), "msk-wh-1", qty{onHand: 34, reserved: 3, committed: 2, available: 29})

	// An older snapshot version: ignored, the stock unchanged.
	if a := in.snapshot("D", "msk-wh-1", 99, 4); !a.Ignored {
		t.Errorf("snapshot version 4 after version 5: %s, want ignored:true", js(a))
	}
	if a := in.snapshot("D", "msk-wh-1", 99, 5); !a.Ignored {
		t.Errorf("snapshot version 5 again: %s, want ignored:true", js(a))
	}
	old := int64(77)
	stale := contract.FeedMessage{Type: contract.Snapshot, SKU: "D", Location: "msk-wh-1", OnHand: &old, Source: "erp", Version: 3}
	e.produce(cl, record(e.names.StockFeed, "D", stale), markerRecord(e, "D", 2))
	waitMarker(t, in, "D", 2)
	wantLoc(t, in.stock("D"), "msk-wh-1", qty{onHand: 34, reserved: 3, committed: 2, available: 29})
	// A newer one applies: on_hand is the physical count, committed included.
	if a := in.snapshot("D", "msk-wh-1", 12, 6); a.Ignored || a.Stock == nil || locOf(*a.Stock, "msk-wh-1").OnHand != 12 {
		t.Errorf("snapshot version 6: %s, want applied with on_hand 12", js(a))
	}
	wantLoc(t, in.stock("D"), "msk-wh-1", qty{onHand: 12, reserved: 3, committed: 2, available: 7})
}

// markerRecord is a snapshot of n units of sku at spb-store-1 from source
// "count", version n: a mark in the SKU's partition that shows once applied.
func markerRecord(e *env, sku string, n int64) *kgo.Record {
	return record(e.names.StockFeed, sku, contract.FeedMessage{Type: contract.Snapshot, SKU: sku, Location: "spb-store-1",
		OnHand: &n, Source: "count", Version: n})
}

func waitMarker(t *testing.T, in *instance, sku string, n int64) {
	t.Helper()
	eventually(t, 20*time.Second, fmt.Sprintf("marker %d of %s applied", n, sku), func() (bool, string) {
		s := in.stock(sku)
		return locOf(s, "spb-store-1").OnHand == n, fmt.Sprintf("%+v", s.Locations)
	})
}

func locOf(s contract.StockView, loc string) contract.LocationView {
	for _, l := range s.Locations {
		if l.Location == loc {
			return l
		}
	}
	return contract.LocationView{Location: loc}
}

func wantLoc(t *testing.T, s contract.StockView, loc string, want qty) {
	t.Helper()
	l := locOf(s, loc)
	if got := (qty{l.OnHand, l.Reserved, l.Committed, l.Available}); got != want {
		t.Errorf("GET /v1/stock/%s at %s: on_hand %d reserved %d committed %d available %d; want %d %d %d %d",
			s.SKU, loc, got.onHand, got.reserved, got.committed, got.available,
			want.onHand, want.reserved, want.committed, want.available)
	}
}

func sameResult(a, b contract.OrderResult) bool {
	if a.OrderID != b.OrderID || a.Type != b.Type || a.Status != b.Status || a.ExpiresAt != b.ExpiresAt ||
		len(a.Lines) != len(b.Lines) || (a.Error == nil) != (b.Error == nil) {
		return false
	}
	for i := range a.Lines {
		if a.Lines[i] != b.Lines[i] {
			return false
		}
	}
	return a.Error == nil || a.Error.Type == b.Error.Type
}
