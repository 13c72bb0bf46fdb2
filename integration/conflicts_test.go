package integration

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/client"
	"github.com/stocksync/stocksync/contract"
)

// testConflictingReserves sends two reserves with the same order id and
// different bodies at the same time, many times, over HTTP and over the Go
// Kafka client. Each caller must get the answer to its own request: one is
// reserved with its own lines, the other refused as a conflict that names
// the body the id was accepted with, and the stock holds exactly the
// winners' units. (Before request ids, both callers could get 409 while one
// body became the reservation, or one caller the other's answer.)
func testConflictingReserves(t *testing.T, e *env) {
	in := e.start(t.TempDir())
	in.snapshot("CA", "msk-wh-1", 1000, 1)
	in.snapshot("CB", "msk-wh-1", 1000, 1)
	bodies := [2]reserveBody{
		{Lines: lines("CA", 1), Channel: "web", TTLS: 600},
		{Lines: lines("CB", 2), Channel: "web", TTLS: 600},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kafka, err := client.NewKafka(ctx, client.KafkaConfig{Brokers: e.b.brokers, TopicPrefix: e.prefix, Timeout: 30 * time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("client.NewKafka: %v", err)
	}
	defer kafka.Close()

	over := map[string]func(id string, b reserveBody) (contract.OrderResult, error){
		"http": func(id string, b reserveBody) (contract.OrderResult, error) {
			code, res, raw := in.reserve(id, b)
			if code != http.StatusOK && code != http.StatusConflict {
				return res, fmt.Errorf("HTTP %d %s", code, raw)
			}
			return res, nil
		},
		"kafka": func(id string, b reserveBody) (contract.OrderResult, error) {
			return kafka.Reserve(ctx, id, b.Lines, b.Channel, time.Duration(b.TTLS)*time.Second)
		},
	}
	var won [2]int64
	const pairs = 10
	for _, via := range []string{"http", "kafka"} {
		for i := range pairs {
			id := fmt.Sprintf("cf-%s-%d", via, i)
			var res [2]contract.OrderResult
			var errs [2]error
			var wg sync.WaitGroup
			for j := range 2 {
				wg.Go(func() { res[j], errs[j] = over[via](id, bodies[j]) })
			}
			wg.Wait()
			if errs[0] != nil || errs[1] != nil {
				t.Fatalf("%s: two reserves of %s: %v, %v", via, id, errs[0], errs[1])
			}
			winner := -1
			for j := range 2 {
				if res[j].Status == contract.StatusReserved {
					if winner >= 0 {
						t.Fatalf("%s: both reserves of %s answered reserved: %s and %s", via, id, js(res[0]), js(res[1]))
					}
					winner = j
				}
			}
			if winner < 0 {
				t.Fatalf("%s: neither reserve of %s answered reserved (one must win): %s and %s", via, id, js(res[0]), js(res[1]))
			}
			loser := 1 - winner
			if got := res[winner].Lines; len(got) != 1 || got[0].SKU != bodies[winner].Lines[0].SKU || got[0].Qty != bodies[winner].Lines[0].Qty {
				t.Errorf("%s: the reserved answer of %s has lines %s, not its own request's %s", via, id, js(got), js(bodies[winner].Lines))
			}
			r := res[loser].Error
			if res[loser].Status != contract.StatusRejected || r == nil || r.Type != contract.ErrConflict || r.Accepted == nil ||
				!slices.Equal(r.Accepted.Lines, bodies[winner].Lines) {
				t.Errorf("%s: the other reserve of %s: %s; want a conflict naming the accepted lines %s", via, id, js(res[loser]), js(bodies[winner].Lines))
			}
			won[winner]++
		}
	}
	// A producer that cannot change the JSON puts the request id in a
	// header: the answer carries it back in its field and its header.
	results := e.reader(e.names.OrderResults)
	rec := record(e.names.OrderCommands, "cf-header", contract.OrderCommand{Type: contract.Reserve, OrderID: "cf-header",
		Lines: lines("CA", 1), Channel: "web", TTLS: 600})
	rec.Headers = []kgo.RecordHeader{{Key: contract.HeaderRequestID, Value: []byte("hdr-1")}}
	e.produce(e.client(), rec)
	got := results.awaitAnswers(30*time.Second, contract.Reserve, "cf-header")["cf-header"][0]
	var header string
	for _, r := range results.records {
		for _, h := range r.Headers {
			if string(r.Key) == "cf-header" && h.Key == contract.HeaderRequestID {
				header = string(h.Value)
			}
		}
	}
	if got.RequestID != "hdr-1" || header != "hdr-1" {
		t.Errorf("a reserve with the request id in a header: answer %s with header %q; want request_id and header hdr-1", js(got), header)
	}
	won[0]++

	// The stock holds the winners' units, and only theirs.
	settled(t, in, "CA", qty{onHand: 1000, reserved: won[0], available: 1000 - won[0]})
	settled(t, in, "CB", qty{onHand: 1000, reserved: 2 * won[1], available: 1000 - 2*won[1]})
}
