package opsui_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stocksync/stocksync/enginev2"
	"github.com/stocksync/stocksync/opsui"
	"github.com/stocksync/stocksync/queryapi"
	"github.com/stocksync/stocksync/topology"
)

// TestConsoleOnTheNewEngine: the console's data routes answer on enginev2
// as on the old engine: an order's units and history, the group with its
// lag and rebalance count, a marketplace's refusal in the DLQ replayed
// until the marketplace holds the value.
func TestConsoleOnTheNewEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts an engine")
	}
	settings, endpoints, mocks := exampleOnKfake(t)
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	orders, err := opsui.NewOrders(reg)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := enginev2.New(enginev2.Config{Settings: settings, Registry: reg, Logger: log, Endpoints: endpoints,
		InstanceID: "console-test", OnResult: orders.Observe})
	if err != nil {
		t.Fatal(err)
	}
	console, err := opsui.New(opsui.Config{Engine: eng, Orders: orders, Gatherer: reg, Brokers: settings.Kafka.Brokers,
		Names: topology.New(settings.Kafka.TopicPrefix), Instance: "v2-instance", Step: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(console.Close)
	api, err := queryapi.New(queryapi.Config{Stock: eng, Feed: eng, Orders: eng, OrderCommands: eng,
		Catalogue: eng, Readiness: eng, Channels: eng, Registry: reg, Gatherer: reg, Logger: log, Open: true, Console: console})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	go console.Run(ctx)
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the new engine to be ready", func() bool { return eng.Ready() == nil })

	put(t, srv.URL+"/v1/stock/V2-1/locations/msk-wh-1", `{"on_hand":10,"source":"erp","version":1}`)
	if status, body := post(ctx, srv.URL+"/v1/orders/v2-o-1/reserve", `{"lines":[{"sku":"V2-1","qty":3}]}`); status != 200 {
		t.Fatalf("reserve: %d %s", status, body)
	}
	waitFor(t, "the order's reserve in its history", func() bool {
		return strings.Contains(getBody(t, srv.URL+"/v1/orders/v2-o-1/history"), `"status":"reserved"`)
	})
	waitFor(t, "3 units reserved in the series", func() bool {
		var s opsui.Series
		if json.Unmarshal([]byte(getBody(t, srv.URL+"/v1/ops/series")), &s) != nil {
			return false
		}
		sum := 0.0
		for _, v := range s.Values["units/reserved"] {
			if v == v { // not NaN
				sum += v * float64(s.StepMS) / 1000
			}
		}
		return sum > 2.5 && sum < 3.5
	})
	var view opsui.ClusterView
	waitFor(t, "the engine's group in the cluster view", func() bool {
		return json.Unmarshal([]byte(getBody(t, srv.URL+"/v1/ops/cluster")), &view) == nil && len(view.Groups) == 1 && view.Groups[0].State == "Stable"
	})
	g := view.Groups[0]
	if g.Name != "stocksync.engine" || g.Rebalances == nil || *g.Rebalances != 0 || len(g.Partitions) != 6 {
		t.Fatalf("group %+v; want stocksync.engine, 0 rebalances, lag of 3 inputs × 2 partitions", g)
	}

	// Wildberries refuses a SKU it does not list (409): parked, in the DLQ.
	wb := mocks["wildberries"]
	wb.AddProducts("V2-1")
	put(t, srv.URL+"/v1/stock/V2-NEW/locations/msk-wh-1", `{"on_hand":20,"source":"erp","version":1}`) // floor(0.3 × 20) − 2 = 4
	var refusal opsui.DeadLetter
	waitFor(t, "Wildberries' refusal of V2-NEW in the DLQ", func() bool {
		var page opsui.DeadLetterPage
		if json.Unmarshal([]byte(getBody(t, srv.URL+"/v1/dlq")), &page) != nil {
			return false
		}
		for _, d := range page.Items {
			if d.Key == "V2-NEW" && d.Topic == "marketplace:wildberries" {
				refusal = d
				return true
			}
		}
		return false
	})
	if body := getBody(t, srv.URL+"/v1/channels/wildberries/stock/V2-NEW"); !strings.Contains(body, `"parked":`) {
		t.Fatalf("Wildberries' stock of V2-NEW after the refusal: %s; want it parked", body)
	}
	wb.AddProducts("V2-NEW")
	status, body := post(ctx, srv.URL+"/v1/dlq/replay", `{"ids":["`+refusal.ID+`"]}`)
	if status != 200 || !strings.Contains(body, `"to":"channel wildberries"`) || !strings.Contains(body, `"status":"replayed"`) {
		t.Fatalf("replaying the refusal: %d %s; want it replayed to channel wildberries", status, body)
	}
	waitFor(t, "Wildberries to hold V2-NEW's 4 after the replay", func() bool { n, ok := wb.Stock("V2-NEW"); return ok && n == 4 })
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}
