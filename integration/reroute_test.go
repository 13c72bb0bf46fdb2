package integration

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/contract"
)

// testRerouting is DESIGN.md invariant 6: a producer with another partitioner
// puts records on partitions their keys do not hash to. They must still be
// applied exactly once, by the key's owner: a hot SKU with 10 units and 30
// single-unit orders, half of them (and the stock feed) on wrong partitions,
// ends with exactly 10 reserved and 20 rejected.
func testRerouting(t *testing.T, e *env) {
	in := e.start(t.TempDir())
	cl := e.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	results := e.reader(e.names.OrderResults)

	// The stock arrives on wrong partitions too: a snapshot of 8, then +2.
	eight := int64(8)
	e.produce(cl,
		wrongPartition(record(e.names.StockFeed, "HOT", contract.FeedMessage{Type: contract.Snapshot, SKU: "HOT",
			Location: "msk-wh-1", OnHand: &eight, Source: "erp", Version: 1})),
		wrongPartition(record(e.names.StockFeed, "HOT", contract.FeedMessage{Type: contract.Adjust, SKU: "HOT",
			Location: "msk-wh-1", Delta: 2, Reason: "receipt", ID: "adj-hot-1"})),
	)
	eventually(t, 20*time.Second, "HOT's feed, sent to a wrong partition, applied", func() (bool, string) {
		code, data := in.do(http.MethodGet, "/v1/stock/HOT", nil)
		return code == http.StatusOK && decode[contract.StockView](t, "stock", data).OnHand == 10, fmt.Sprintf("%d %s", code, data)
	})

	const orders = 30
	var ids []string
	var recs []*kgo.Record
	for i := range orders {
		id := fmt.Sprintf("hot-%02d", i)
		ids = append(ids, id)
		rec := record(e.names.OrderCommands, id, contract.OrderCommand{Type: contract.Reserve, OrderID: id,
			Lines: lines("HOT", 1), Channel: "web", TTLS: 600})
		if i%2 == 0 {
			recs = append(recs, wrongPartition(rec))
		} else {
			recs = append(recs, rightPartition(rec))
		}
	}
	e.produce(cl, recs...)
	got := results.awaitAnswers(60*time.Second, contract.Reserve, ids...)

	var reserved, rejected int
	for _, id := range ids {
		first := got[id][0]
		for _, again := range got[id][1:] {
			if again.Status != first.Status {
				t.Errorf("order %s answered twice, differently: %s then %s (applied by two writers?)", id, first.Status, again.Status)
			}
		}
		switch first.Status {
		case contract.StatusReserved:
			reserved++
		case contract.StatusRejected:
			rejected++
			if first.Error == nil || first.Error.Type != contract.ErrInsufficientStock {
				t.Errorf("order %s rejected for %s, want insufficient_stock", id, js(first.Error))
			}
		}
	}
	if reserved != 10 || rejected != 20 {
		t.Errorf("30 single-unit orders for 10 units: %d reserved, %d rejected; want 10 and 20", reserved, rejected)
	}
	wantQty(t, in.stock("HOT"), qty{onHand: 10, reserved: 10, available: 0})
	for _, id := range ids {
		want := contract.StatusReserved
		if got[id][0].Status == contract.StatusRejected {
			want = contract.StatusRejected
		}
		if o := in.order(id); o.State != want {
			t.Errorf("GET /v1/orders/%s: state %q, want %q as answered", id, o.State, want)
		}
	}

	// The engine says it rerouted them: 15 orders and 2 feed messages at least.
	_, metrics := in.do(http.MethodGet, "/metrics", nil)
	for topic, least := range map[string]float64{string(e.names.OrderCommands): 15, string(e.names.StockFeed): 2} {
		if n := metric(string(metrics), `stocksync_rerouted_total{topic="`+topic+`"}`); n < least {
			t.Errorf("stocksync_rerouted_total for %s = %g, want ≥ %g", topic, n, least)
		}
	}
}

// metric reads one sample of the Prometheus text format; 0 when absent.
func metric(text, series string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}
