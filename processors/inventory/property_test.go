package inventory

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/stocksync/stocksync/contract"
)

// TestRandomOrdersKeepTheBooks sends random orders from concurrent clients
// (one to four lines over SKUs spread across the partitions, repeats,
// conflicting bodies, confirms, releases, ships in random order) and then
// checks the ledgers against what the answers said: every unit reserved or
// committed belongs to an order whose answers say it holds it, shipped units
// left on_hand, and no location ever promised more than it had.
//
// With three instances, most orders span partitions owned by different
// instances (holds and claims between them), and one instance is replaced
// halfway: its partitions move while orders are in flight.
func TestRandomOrdersKeepTheBooks(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Kafka (kfake or STOCKSYNC_TEST_BROKERS)")
	}
	t.Run("one instance", func(t *testing.T) { randomOrders(t, newWorld(t, 0), nil) })
	t.Run("three instances, one replaced", func(t *testing.T) {
		w := newCluster(t, 0)
		for i := range 3 {
			w.start(i)
		}
		randomOrders(t, w, func() { w.stop(1); w.start(3) })
		ends, err := kadm.NewClient(w.cl).ListEndOffsets(context.Background(), string(w.names.EngineMessages))
		if err != nil {
			t.Fatal(err)
		}
		var messages int64
		ends.Each(func(o kadm.ListedOffset) { messages += o.Offset })
		if messages == 0 {
			t.Error("no message went between the instances: the orders across partitions were not decided by holds and claims")
		}
		t.Logf("%d messages between partitions", messages)
	})
}

func randomOrders(t *testing.T, w *world, halfway func()) {
	ctx := context.Background()
	const skus, stockEach, clients, perClient = 8, 12, 6, 40
	var done atomic.Int64
	var once sync.Once
	var moving sync.WaitGroup // halfway, run beside the clients; the checks wait for it
	for i := range skus {
		w.snapshot(fmt.Sprintf("P%d", i), "msk-wh-1", stockEach)
	}
	for i := range skus {
		w.ledger(fmt.Sprintf("P%d", i))
	}
	type held struct {
		lines []contract.Line
		state string // reserved, confirmed, released, shipped
	}
	var mu sync.Mutex
	orders := map[string]*held{}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			var mine []string
			for i := range perClient {
				if halfway != nil && done.Add(1) == clients*perClient/2 {
					once.Do(func() { moving.Go(halfway) })
				}
				switch r := rng.IntN(10); {
				case r < 5 || len(mine) == 0: // a new order, sometimes sent twice, sometimes another body under its id
					id := fmt.Sprintf("c%d-%d", c, i)
					var lines []contract.Line
					for _, s := range rng.Perm(skus)[:1+rng.IntN(4)] {
						lines = append(lines, contract.Line{SKU: fmt.Sprintf("P%d", s), Qty: int64(1 + rng.IntN(4))})
					}
					res, err := w.k.Reserve(ctx, id, lines, "web", time.Hour)
					if err != nil {
						t.Errorf("reserve %s: %v", id, err)
						return
					}
					if res.Status == contract.StatusReserved {
						mu.Lock()
						orders[id] = &held{lines: lines, state: "reserved"}
						mu.Unlock()
						mine = append(mine, id)
					}
					if rng.IntN(4) == 0 {
						again, err := w.k.Reserve(ctx, id, lines, "web", time.Hour)
						if err != nil || again.Status != res.Status {
							t.Errorf("reserve %s again: %+v, %v; want the first status %s", id, again, err, res.Status)
						}
					}
					if rng.IntN(6) == 0 && res.Status == contract.StatusReserved {
						other := []contract.Line{{SKU: lines[0].SKU, Qty: lines[0].Qty + 1}}
						if res, err := w.k.Reserve(ctx, id, other, "web", time.Hour); err != nil || res.Error == nil || res.Error.Type != contract.ErrConflict {
							t.Errorf("another body under %s: %+v, %v; want a conflict", id, res, err)
						}
					}
				default: // a step of one of this client's orders
					id := mine[rng.IntN(len(mine))]
					step := []string{contract.Confirm, contract.Release, contract.Ship}[rng.IntN(3)]
					var res contract.OrderResult
					var err error
					switch step {
					case contract.Confirm:
						res, err = w.k.Confirm(ctx, id)
					case contract.Release:
						res, err = w.k.Release(ctx, id)
					default:
						res, err = w.k.Ship(ctx, id)
					}
					if err != nil {
						t.Errorf("%s %s: %v", step, id, err)
						return
					}
					if res.Status != contract.StatusRejected {
						mu.Lock()
						orders[id].state = res.Status
						mu.Unlock()
					}
				}
			}
		})
	}
	wg.Wait()
	moving.Wait()
	// What the answers say each SKU holds.
	reserved, committed, shipped := map[string]int64{}, map[string]int64{}, map[string]int64{}
	for _, o := range orders {
		for _, l := range o.lines {
			switch o.state {
			case contract.StatusReserved:
				reserved[l.SKU] += l.Qty
			case contract.StatusConfirmed:
				committed[l.SKU] += l.Qty
			case contract.StatusShipped:
				shipped[l.SKU] += l.Qty
			}
		}
	}
	// Settlements nobody waits for (the release of a refused order's
	// holds) may still be on their way: the books must agree within a while.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var wrong []string
		for i := range skus {
			sku := fmt.Sprintf("P%d", i)
			l := w.ledger(sku).Location("msk-wh-1")
			want := [3]int64{stockEach - shipped[sku], reserved[sku], committed[sku]}
			if got := [3]int64{l.OnHand, l.Reserved, l.Committed}; got != want {
				wrong = append(wrong, fmt.Sprintf("%s: on_hand, reserved, committed = %v; the answers say %v", sku, got, want))
			}
			if l.Available() < 0 {
				t.Errorf("%s: oversold: available %d", sku, l.Available())
			}
		}
		if len(wrong) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, s := range wrong {
				t.Error(s)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d orders reserved over %d SKUs", len(orders), skus)
}
