package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/imports"
	"github.com/stocksync/stocksync/wms"
)

// testSources: an ERP export imported through POST /v1/imports and straight
// to Kafka sets the stock, its bad rows reported by line; WMS movements in
// the WMS's own shape move it once each, duplicates included, and an
// unmappable one reaches the DLQ.
func testSources(t *testing.T, e *env) {
	in := e.start(t.TempDir())
	ctx := context.Background()
	dir := t.TempDir()
	export := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Over HTTP: two good rows, one bad in the file, one the engine refuses.
	sender, err := imports.NewHTTPSender(in.url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := imports.Run(ctx, imports.Config{Sender: sender, Version: 100,
		File: export("erp-1.csv", "sku,location,on_hand\nS1,msk-wh-1,10\nS2,msk-dark-1,x\nS3,nowhere,1\nS1,spb-store-1,7\n")})
	if !errors.Is(err, imports.ErrBadRows) || sum.Sent != 2 || sum.Bad != 2 || len(sum.BadRows) != 2 ||
		sum.BadRows[0].Line != 3 || sum.BadRows[1].Line != 4 || !strings.Contains(sum.BadRows[1].Reason, `"nowhere" is not configured`) {
		t.Fatalf("import over HTTP: %+v, %v", sum, err)
	}
	eventually(t, 20*time.Second, "S1 at 10 and 7", func() (bool, string) {
		code, data := in.do(http.MethodGet, "/v1/stock/S1", nil)
		if code != http.StatusOK {
			return false, fmt.Sprintf("%d %s", code, data) // not applied yet
		}
		s := decode[contract.StockView](t, "GET /v1/stock/S1", data)
		return locOf(s, "msk-wh-1").OnHand == 10 && locOf(s, "spb-store-1").OnHand == 7, js(s)
	})

	// Straight to Kafka: the next export (version 101) replaces the count.
	cl, err := imports.NewKafkaClient(e.b.brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := imports.Run(ctx, imports.Config{Sender: &imports.KafkaSender{Client: cl, Topic: string(e.names.StockFeed)},
		Version: 101, File: export("erp-2.jsonl", `{"sku":"S1","location":"msk-wh-1","on_hand":12}`+"\n")}); err != nil {
		t.Fatalf("import to Kafka: %v", err)
	}
	eventually(t, 20*time.Second, "S1 at 12", func() (bool, string) {
		s := in.stock("S1")
		return locOf(s, "msk-wh-1").OnHand == 12, js(s)
	})

	// WMS movements on a topic of one partition, so they are read in order.
	topic := e.prefix + "wms.movements"
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- wms.Run(wctx, wms.Config{Brokers: e.b.brokers, FeedTopic: string(e.names.StockFeed), DLQTopic: string(e.names.DLQ),
			Locations: []string{"msk-wh-1", "msk-dark-1", "spb-store-1"}, Registry: prometheus.NewRegistry(), Logger: in.logs.logger(),
			Sources: []config.WMS{{Topic: topic, Group: e.prefix + "wms", Reason: "wms", Locations: map[string]string{"WH1": "msk-wh-1"},
				Fields: config.WMSFields{SKU: "item.code", Location: "site", Delta: "qty", ID: "move_id", Time: "ts"}}}})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("wms.Run: %v", err)
		}
	}()
	move := func(id, site string, qty int64) *kgo.Record {
		v := fmt.Sprintf(`{"move_id":%q,"item":{"code":"S1"},"site":%q,"qty":%d,"ts":"2026-12-01T10:00:00Z"}`, id, site, qty)
		return &kgo.Record{Topic: topic, Key: []byte("wh"), Value: []byte(v)}
	}
	e.produce(cl, move("m-1", "WH1", 5), move("m-1", "WH1", 5), // sent twice by the WMS
		&kgo.Record{Topic: topic, Value: []byte(`{"move_id":"m-bad","item":{}}`)},
		move("m-2", "WH1", -2),
		move("m-3", "spb-store-1", 1)) // the marker: once it shows, the rest was applied
	eventually(t, 30*time.Second, "movement m-3 applied", func() (bool, string) {
		s := in.stock("S1")
		return locOf(s, "spb-store-1").OnHand == 8, js(s)
	})
	wantLoc(t, in.stock("S1"), "msk-wh-1", qty{onHand: 12 + 5 - 2, available: 15})

	dlq := e.reader(e.names.DLQ)
	dlq.waitFor(30*time.Second, "the unmappable movement in the DLQ", func(all []*kgo.Record) (bool, string) {
		for _, r := range all {
			var dl struct{ Topic, Reason string }
			if json.Unmarshal(r.Value, &dl) == nil && dl.Topic == topic && strings.Contains(dl.Reason, "no field item.code") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d dead letters", len(all))
	})
}
