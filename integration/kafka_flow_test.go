package integration

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/contract"
)

// testKafkaOnlyFlow is an order service and a WMS that never use HTTP: they
// produce JSON to stock.feed and orders.commands with franz-go's default
// (murmur2) partitioner and read the answers from orders.results. Malformed
// messages land in the DLQ with a reason, and the next order is still answered.
func testKafkaOnlyFlow(t *testing.T, e *env) {
	in := e.start(t.TempDir())
	cl := e.client() // default partitioner: murmur2, as the Java client
	results := e.reader(e.names.OrderResults)

	onHand := int64(6)
	e.produce(cl,
		record(e.names.StockFeed, "K1", contract.FeedMessage{Type: contract.Snapshot, SKU: "K1", Location: "msk-wh-1",
			OnHand: &onHand, Source: "wms", Version: 1}),
		record(e.names.StockFeed, "K1", contract.FeedMessage{Type: contract.Adjust, SKU: "K1", Location: "msk-wh-1",
			Delta: 2, Reason: "receipt", ID: "wms-1"}),
	)
	eventually(t, 20*time.Second, "the snapshot and adjust of K1 applied", func() (bool, string) {
		code, data := in.do("GET", "/v1/stock/K1", nil)
		return code == 200 && decode[contract.StockView](t, "stock", data).OnHand == 8, fmt.Sprintf("%d %s", code, data)
	})

	// One order after the other: two keys are two partitions, decided in any order.
	e.produce(cl, record(e.names.OrderCommands, "k-1", contract.OrderCommand{Type: contract.Reserve, OrderID: "k-1",
		Lines: lines("K1", 5), Channel: "web", TTLS: 600}))
	if r := results.awaitAnswers(30*time.Second, contract.Reserve, "k-1")["k-1"][0]; r.Status != contract.StatusReserved ||
		len(r.Lines) != 1 || r.Lines[0].Location != "msk-wh-1" {
		t.Errorf("answer to k-1 (5 of 8): %s, want reserved at msk-wh-1", js(r))
	}
	e.produce(cl, record(e.names.OrderCommands, "k-2", contract.OrderCommand{Type: contract.Reserve, OrderID: "k-2",
		Lines: lines("K1", 4), Channel: "web", TTLS: 600}))
	if r := results.awaitAnswers(30*time.Second, contract.Reserve, "k-2")["k-2"][0]; r.Status != contract.StatusRejected || r.Error == nil ||
		r.Error.Type != contract.ErrInsufficientStock || r.Error.Available == nil || *r.Error.Available != 3 {
		t.Errorf("answer to k-2 (4 of the 3 left): %s, want rejected insufficient_stock, available 3", js(r))
	}

	// Confirm over Kafka too.
	e.produce(cl, record(e.names.OrderCommands, "k-1", contract.OrderCommand{Type: contract.Confirm, OrderID: "k-1"}))
	if r := results.awaitAnswers(30*time.Second, contract.Confirm, "k-1")["k-1"][0]; r.Status != contract.StatusConfirmed {
		t.Errorf("answer to confirm k-1: %s, want confirmed", js(r))
	}

	// Malformed input goes to the DLQ with a reason; processing goes on.
	bad := map[string]*kgo.Record{
		"bad-json":      record(e.names.OrderCommands, "bad-json", `{"type":"reserve","order_id":`),
		"bad-field":     record(e.names.OrderCommands, "bad-field", `{"type":"reserve","order_id":"bad-field","lines":[{"sku":"K1","qty":1}],"colour":"red"}`),
		"bad-key":       record(e.names.OrderCommands, "bad-key", `{"type":"reserve","order_id":"other-id","lines":[{"sku":"K1","qty":1}]}`),
		"K1":            record(e.names.StockFeed, "K1", `{"type":"snapshot","sku":"K1"`),
		"bad-feed-type": record(e.names.StockFeed, "bad-feed-type", `{"type":"recount","sku":"bad-feed-type","location":"msk-wh-1"}`),
	}
	for _, rec := range bad {
		e.produce(cl, rec)
	}
	e.produce(cl, record(e.names.OrderCommands, "k-3", contract.OrderCommand{Type: contract.Reserve, OrderID: "k-3",
		Lines: lines("K1", 1), TTLS: 600}))
	if r := results.awaitAnswers(30*time.Second, contract.Reserve, "k-3")["k-3"][0]; r.Status != contract.StatusReserved {
		t.Errorf("answer to k-3, sent after the malformed messages: %s, want reserved", js(r))
	}

	dlq := e.reader(e.names.DLQ)
	dlq.waitFor(30*time.Second, "every malformed message in the DLQ", func(all []*kgo.Record) (bool, string) {
		var missing []string
		for key := range bad {
			if dlqReason(all, key) == "" {
				missing = append(missing, key)
			}
		}
		return len(missing) == 0, "no DLQ entry with a reason for " + strings.Join(missing, ", ")
	})
	if r := dlqReason(dlq.records, "bad-field"); !strings.Contains(r, "colour") {
		t.Errorf("DLQ reason for the unknown field: %q, want it to name the field \"colour\"", r)
	}
	for key := range bad {
		t.Logf("DLQ %s: %s", key, dlqReason(dlq.records, key))
	}
	if _, ok := answers(results.records, contract.Reserve)["bad-field"]; ok {
		t.Errorf("the message with an unknown field was answered as an order, want it only in the DLQ")
	}
}

// dlqReason is the reason of the DLQ entry with key, or "".
func dlqReason(recs []*kgo.Record, key string) string {
	for _, rec := range recs {
		var dl struct {
			Reason string `json:"reason"`
			Topic  string `json:"topic"`
		}
		if string(rec.Key) == key && json.Unmarshal(rec.Value, &dl) == nil && dl.Reason != "" {
			return dl.Reason
		}
	}
	return ""
}
