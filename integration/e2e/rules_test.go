package e2e_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/instance"
	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/marketplace/mock"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestChangedRulesAreRecomputedOnRestart: after a restart with another share
// for Ozon, every SKU's Ozon value follows the new rule, with no new stock
// change to trigger it, and Ozon is told.
func TestChangedRulesAreRecomputedOnRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the engine twice")
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	prefix, dir := fmt.Sprintf("rules-%d.", rand.Uint32()), t.TempDir()
	ozon, _ := mock.New("ozon")
	ozon.SetCooldown(0)
	defer ozon.Close()

	run := func(share float64, during func(eng instance.Engine)) {
		settings := testSettings(t, cluster.ListenAddrs(), prefix, 2)
		settings.DataDir = dir
		settings.Channels = settings.Channels[1:2] // ozon
		settings.Channels[0].Share = share
		ep := ozon.Config()
		ep.Limits.ItemCooldown = -1
		in := start(t, instance.Config{Settings: settings, Endpoints: map[string]marketplace.Config{"ozon": ep}})
		defer in.Stop()
		during(in.Engine())
	}
	// Ozon: share 0.5, safety 2: floor(0.5 × 40) − 2 = 18.
	run(0.5, func(eng instance.Engine) {
		n := int64(40)
		if _, err := eng.SubmitFeed(context.Background(), contract.FeedMessage{Type: contract.Snapshot, SKU: "R-1",
			Location: "msk-wh-1", OnHand: &n, Source: "erp", Version: 1}); err != nil {
			t.Fatal(err)
		}
		within(t, "Ozon shows 18", func() bool { v, ok := ozon.Stock("R-1"); return ok && v == 18 })
	})
	// Share 0.25 after the restart: floor(0.25 × 40) − 2 = 8, with no new stock.
	run(0.25, func(eng instance.Engine) {
		within(t, "Ozon shows 8 under the new rule", func() bool { v, ok := ozon.Stock("R-1"); return ok && v == 8 })
		// The acknowledgement reaches the channels table through the verdicts
		// stream, a moment after Ozon answered.
		var v contract.ChannelStockView
		var err error
		within(t, "the sink records Ozon's acknowledgement of 8", func() bool {
			v, err = eng.ChannelStock(context.Background(), "ozon", "R-1")
			return err == nil && v.Acknowledged == 8
		})
		if v.Projected != 8 || v.Acknowledged != 8 {
			t.Fatalf("channel stock after the rule change: %+v, %v; want projected and acknowledged 8", v, err)
		}
	})
}

func within(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 60s: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
