package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stocksync/stocksync/config"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/instance"
	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/marketplace/mock"
	"github.com/stocksync/stocksync/opsui"
	"github.com/stocksync/stocksync/topology"
)

// TestRefusedValuesReachTheMarketplaceAfterTheReplay, as an operator sees
// it with two instances: Wildberries refuses SKUs it does not list (409);
// their values are parked (the channel's stock view and the console's DLQ
// show it); once the products are listed, one replay of the channel's DLQ
// brings every value there, whichever instance owns its SKU, and a value
// changed while parked arrives at its newest.
func TestRefusedValuesReachTheMarketplaceAfterTheReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs two instances")
	}
	onEachKafka(t, replayRun)
}

func replayRun(t *testing.T, brokers []string) {
	const partitions = 4
	wb, _ := mock.New(marketplace.KindWildberries)
	defer wb.Close()
	wb.AddProducts("RP-OK") // closes the catalogue: every other SKU is refused
	prefix := fmt.Sprintf("replay-%d.", rand.Uint32())
	var urls []string
	for range 2 {
		settings := testSettings(t, brokers, prefix, partitions)
		settings.Channels = []config.Channel{{Name: "wildberries", Marketplace: marketplace.KindWildberries,
			Locations: []string{"msk-wh-1"}, Share: 1}}
		in := start(t, instance.Config{Settings: settings, Endpoints: map[string]marketplace.Config{"wildberries": wb.Config()}})
		urls = append(urls, in.URL())
	}
	a := urls[0]
	var bad []string // one refused SKU on each partition: both instances own some
	for i, seen := 0, map[int32]bool{}; len(bad) < partitions; i++ {
		sku := fmt.Sprintf("RP-%d", i)
		if part := topology.PartitionOf(sku, partitions); !seen[part] {
			seen[part] = true
			bad = append(bad, sku)
		}
	}
	want := map[string]int64{"RP-OK": 5}
	putStock(t, a, "RP-OK", 5, 1)
	for i, sku := range bad {
		want[sku] = int64(10 + i)
		putStock(t, a, sku, want[sku], 1)
	}
	view := func(sku string) contract.ChannelStockView {
		var v contract.ChannelStockView
		_, body := call(t, http.MethodGet, a+"/v1/channels/wildberries/stock/"+sku, "")
		_ = json.Unmarshal(body, &v)
		return v
	}
	within(t, "Wildberries to show RP-OK and every other SKU to be parked", func() bool {
		if v, ok := wb.Stock("RP-OK"); !ok || v != 5 {
			return false
		}
		for _, sku := range bad {
			if v := view(sku); v.Parked == "" || v.Projected != want[sku] {
				return false
			}
		}
		return true
	})
	within(t, "the console's DLQ to list every refusal", func() bool {
		var page opsui.DeadLetterPage
		_, body := call(t, http.MethodGet, a+"/v1/dlq?limit=100", "")
		if json.Unmarshal(body, &page) != nil {
			return false
		}
		listed := map[string]bool{}
		for _, d := range page.Items {
			if strings.Contains(d.Reason, "the marketplace refused") {
				listed[d.Key] = true
			}
		}
		for _, sku := range bad {
			if !listed[sku] {
				return false
			}
		}
		return true
	})
	// A new value while parked: pushed, refused and parked again.
	want[bad[0]] = 99
	putStock(t, a, bad[0], 99, 2)
	within(t, bad[0]+"'s new value parked", func() bool { v := view(bad[0]); return v.Projected == 99 && v.Parked != "" })

	names := topology.New(prefix)
	within(t, "the SKUs' partitions to be shared by both instances", func() bool {
		var view opsui.ClusterView
		_, body := call(t, http.MethodGet, a+"/v1/ops/cluster", "")
		if json.Unmarshal(body, &view) != nil {
			return false
		}
		for _, g := range view.Groups {
			owners := map[string]bool{}
			for _, p := range g.Partitions {
				owners[p.Owner] = true
			}
			if (g.Name == string(names.Engine) || g.Name == string(names.Channels)) && len(owners) == 2 && !owners[""] {
				return true
			}
		}
		return false
	})
	wb.AddProducts(bad...) // the operator lists the products on Wildberries
	replay := urls[:1]
	if b, _ := config.ParseBackend(os.Getenv(config.EnvBackend)); b == config.BackendGoka {
		replay = urls // the goka engine's replay releases the answering instance's partitions only
	}
	for _, u := range replay {
		if status, body := call(t, http.MethodPost, u+"/v1/channels/wildberries/dlq/replay", `{}`); status != http.StatusOK {
			t.Fatalf("POST %s/v1/channels/wildberries/dlq/replay: %d %s", u, status, body)
		}
	}
	within(t, "Wildberries to show every released value, the newest of each", func() bool {
		for sku, n := range want {
			if v, ok := wb.Stock(sku); !ok || v != n {
				return false
			}
		}
		return true
	})
	within(t, "the channel's stock view to show every value acknowledged, none parked", func() bool {
		for _, sku := range bad {
			if v := view(sku); v.Acknowledged != want[sku] || v.Parked != "" {
				return false
			}
		}
		return true
	})
}

// putStock sets a SKU's on-hand at msk-wh-1 through the API. 202 is an
// answer too: the snapshot is on stock.feed, applied after the write
// timeout (a loaded machine); the tests wait for its effects.
func putStock(t *testing.T, url, sku string, onHand, version int64) {
	t.Helper()
	body := fmt.Sprintf(`{"on_hand":%d,"source":"erp","version":%d}`, onHand, version)
	if status, answer := call(t, http.MethodPut, url+"/v1/stock/"+sku+"/locations/msk-wh-1", body); status != http.StatusOK && status != http.StatusAccepted {
		t.Fatalf("PUT stock of %s: %d %s", sku, status, answer)
	}
}

func call(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}
