package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/contract"
)

// testNoOversell is DESIGN.md invariant 1 under load: 50 HTTP clients at once
// (plus an order service on Kafka) reserve 1–3 units of 5 hot SKUs that have
// little stock. Whatever the interleaving, the units in the 200 answers never
// exceed on_hand, equal what GET stock shows reserved, and every 200 order is
// found reserved.
func testNoOversell(t *testing.T, e *env) {
	in := e.start(t.TempDir())
	stockAt := map[string]map[string]int64{ // SKU → location → on_hand
		"C1": {"msk-wh-1": 6},
		"C2": {"msk-wh-1": 4, "msk-dark-1": 3},
		"C3": {"msk-wh-1": 8},
		"C4": {"msk-dark-1": 5},
		"C5": {"msk-wh-1": 3, "spb-store-1": 4},
	}
	skus := []string{"C1", "C2", "C3", "C4", "C5"}
	for sku, locs := range stockAt {
		for loc, n := range locs {
			in.snapshot(sku, loc, n, 1)
		}
	}

	seed := uint64(time.Now().UnixNano())
	t.Logf("order mix seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	randomLines := func() []contract.Line {
		perm := rng.Perm(len(skus))
		n := 1 + rng.IntN(2)
		var ls []contract.Line
		for _, i := range perm[:n] {
			ls = append(ls, contract.Line{SKU: skus[i], Qty: int64(1 + rng.IntN(3))})
		}
		return ls
	}

	// 50 HTTP clients, 3 orders each, all at once.
	const clients, perClient = 50, 3
	type order struct {
		id   string
		body reserveBody
	}
	plans := make([][]order, clients)
	for c := range plans {
		for k := range perClient {
			plans[c] = append(plans[c], order{id: fmt.Sprintf("c-%02d-%d", c, k), body: reserveBody{Lines: randomLines(), Channel: "web", TTLS: 600}})
		}
	}
	var kafkaOrders []*kgo.Record
	var kafkaIDs []string
	for i := range 10 {
		id := fmt.Sprintf("ck-%02d", i)
		kafkaIDs = append(kafkaIDs, id)
		kafkaOrders = append(kafkaOrders, record(e.names.OrderCommands, id, contract.OrderCommand{Type: contract.Reserve,
			OrderID: id, Lines: randomLines(), Channel: "web", TTLS: 600}))
	}
	results := e.reader(e.names.OrderResults)
	cl := e.client()

	var (
		mu       sync.Mutex
		accepted = map[string]contract.OrderResult{} // 200 answers
		refused  []string
		failures []string
	)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, plan := range plans {
		wg.Go(func() {
			<-start
			for _, o := range plan {
				code, res, err := reserveUntilDecided(ctx, in.url, o.id, o.body)
				mu.Lock()
				switch {
				case err != nil:
					failures = append(failures, fmt.Sprintf("%s: %v", o.id, err))
				case code == http.StatusOK && res.Status == contract.StatusReserved:
					accepted[o.id] = res
				case code == http.StatusConflict && res.Status == contract.StatusRejected:
					refused = append(refused, o.id)
				default:
					failures = append(failures, fmt.Sprintf("%s: %d %s", o.id, code, js(res)))
				}
				mu.Unlock()
			}
		})
	}
	wg.Go(func() {
		<-start
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := cl.ProduceSync(pctx, kafkaOrders...).FirstErr(); err != nil {
			mu.Lock()
			failures = append(failures, "producing the Kafka orders: "+err.Error())
			mu.Unlock()
		}
	})
	close(start)
	wg.Wait()
	for _, f := range failures {
		t.Errorf("reserve: %s", f)
	}
	kafkaAnswers := results.awaitAnswers(60*time.Second, contract.Reserve, kafkaIDs...)
	for _, id := range kafkaIDs {
		if res := kafkaAnswers[id][0]; res.Status == contract.StatusReserved {
			accepted[id] = res
		} else {
			refused = append(refused, id)
		}
	}
	t.Logf("%d orders: %d reserved, %d rejected", clients*perClient+len(kafkaIDs), len(accepted), len(refused))
	if len(accepted) == 0 {
		t.Fatalf("no order was reserved: the test did not exercise anything")
	}

	// The units the answers promised, per SKU and per location.
	promised := map[string]map[string]int64{}
	for id, res := range accepted {
		for _, l := range res.Lines {
			if promised[l.SKU] == nil {
				promised[l.SKU] = map[string]int64{}
			}
			if l.Location == "" {
				t.Errorf("order %s: a reserved line without a location: %+v", id, l)
			}
			promised[l.SKU][l.Location] += l.Qty
		}
	}
	for _, sku := range skus {
		var total, onHand int64
		for loc, n := range promised[sku] {
			total += n
			if n > stockAt[sku][loc] {
				t.Errorf("OVERSELL: %s at %s: %d units in 200 answers, on_hand %d", sku, loc, n, stockAt[sku][loc])
			}
		}
		for _, n := range stockAt[sku] {
			onHand += n
		}
		if total > onHand {
			t.Errorf("OVERSELL: %s: %d units in 200 answers, on_hand %d", sku, total, onHand)
		}
		// Rejected multi-line orders give back the lines that were held: wait for that.
		eventually(t, 20*time.Second, "GET stock of "+sku+" shows what the answers reserved", func() (bool, string) {
			s := in.stock(sku)
			if s.Reserved > s.OnHand {
				t.Errorf("OVERSELL: GET /v1/stock/%s shows reserved %d > on_hand %d", sku, s.Reserved, s.OnHand)
			}
			for _, l := range s.Locations {
				if l.Reserved != promised[sku][l.Location] {
					return false, fmt.Sprintf("%s reserved %d, answers %d", l.Location, l.Reserved, promised[sku][l.Location])
				}
			}
			return s.Reserved == total, fmt.Sprintf("reserved %d, answers %d (%+v)", s.Reserved, total, s.Locations)
		})
	}
	for id := range accepted {
		if o := in.order(id); o.State != contract.StatusReserved {
			t.Errorf("GET /v1/orders/%s: state %q, but its reserve was answered 200 reserved", id, o.State)
		}
	}
	for _, id := range refused {
		if o := in.order(id); o.State != contract.StatusRejected {
			t.Errorf("GET /v1/orders/%s: state %q, but its reserve was answered 409 rejected", id, o.State)
		}
	}
}

// reserveUntilDecided posts a reserve and, while the engine answers 503 or
// 504 (not ready, no decision in time), repeats it with the same order id, as
// the API tells clients to: the repeat returns the first decision.
func reserveUntilDecided(ctx context.Context, base, id string, body reserveBody) (int, contract.OrderResult, error) {
	for attempt := 1; ; attempt++ {
		code, data, err := call(ctx, http.MethodPost, base+"/v1/orders/"+id+"/reserve", body)
		if err != nil {
			return 0, contract.OrderResult{}, err
		}
		if (code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout) && attempt < 5 && ctx.Err() == nil {
			continue
		}
		var res contract.OrderResult
		if code == http.StatusOK || code == http.StatusConflict {
			if err := json.Unmarshal(data, &res); err != nil {
				return code, res, fmt.Errorf("answer %d is not an order result: %s", code, data)
			}
			return code, res, nil
		}
		return code, res, fmt.Errorf("answer %d: %s", code, data)
	}
}
