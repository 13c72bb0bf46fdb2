package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/contract"
)

// TestKafkaCorrelation runs the Kafka client against a responder on kfake
// that answers out of order, late, twice, with noise for other orders,
// undecodable records, and an answer for the same order id and type that
// belongs to another request (as a replay after a fault, or a concurrent
// reserve with another body, sends) before the real one: every call gets
// its own answer.
func TestKafkaCorrelation(t *testing.T) {
	const prefix = "corr."
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.SeedTopics(4, prefix+"orders.commands", prefix+"orders.results"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()

	// Answers sent before the client starts must not reach it.
	stale, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	old, _ := json.Marshal(contract.OrderResult{OrderID: "o-0", Type: contract.Reserve, Status: contract.StatusRejected})
	if err := stale.ProduceSync(context.Background(), &kgo.Record{Topic: prefix + "orders.results", Key: []byte("o-0"), Value: old}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	stale.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); respond(ctx, t, brokers, prefix) }()

	k, err := NewKafka(ctx, KafkaConfig{Brokers: brokers, TopicPrefix: prefix, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const calls = 64
	var calling sync.WaitGroup
	for i := range calls {
		calling.Add(1)
		go func() {
			defer calling.Done()
			id := fmt.Sprintf("o-%d", i)
			res, err := k.Reserve(ctx, id, []contract.Line{{SKU: "A", Qty: int64(i + 1)}}, "", 0)
			if err != nil || res.OrderID != id || res.Status != contract.StatusReserved || res.Lines[0].Qty != int64(i+1) {
				t.Errorf("Reserve %s = %+v, %v", id, res, err)
			}
		}()
	}
	calling.Wait()

	t.Run("no answer", func(t *testing.T) {
		short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancelShort()
		_, err := k.Confirm(short, "silent") // the responder ignores "silent"
		if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Confirm without an answer: %v", err)
		}
	})
	t.Run("closed while waiting", func(t *testing.T) {
		errc := make(chan error, 1)
		go func() { _, err := k.Confirm(ctx, "silent"); errc <- err }()
		time.Sleep(100 * time.Millisecond)
		if err := k.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("a call waiting when the client closed: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a call waiting when the client closed did not return")
		}
	})
	cancel()
	wg.Wait()
}

// respond answers every reserve on orders.commands after a random delay,
// twice, each time after an answer to another order and a record that is not
// JSON; it ignores the order "silent".
func respond(ctx context.Context, t *testing.T, brokers []string, prefix string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(prefix+"orders.commands"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(10*time.Millisecond))
	if err != nil {
		t.Error(err)
		return
	}
	defer cl.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fetches.EachRecord(func(rec *kgo.Record) {
			var cmd contract.OrderCommand
			if err := json.Unmarshal(rec.Value, &cmd); err != nil || cmd.OrderID == "silent" {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
				res := contract.OrderResult{OrderID: cmd.OrderID, RequestID: cmd.RequestID, Type: cmd.Type, Status: contract.StatusReserved, Lines: cmd.Lines}
				noise := contract.OrderResult{OrderID: cmd.OrderID + "-other", RequestID: cmd.RequestID, Type: cmd.Type, Status: contract.StatusRejected}
				wrongType := contract.OrderResult{OrderID: cmd.OrderID, Type: contract.Expire, Status: contract.StatusExpired}
				otherRequest := contract.OrderResult{OrderID: cmd.OrderID, RequestID: "another-request", Type: cmd.Type,
					Status: contract.StatusReserved, Lines: []contract.Line{{SKU: "OTHER", Qty: 99}}}
				for range 2 {
					for _, v := range []any{noise, wrongType, otherRequest, "not an order result", res} {
						b, _ := json.Marshal(v)
						cl.Produce(ctx, &kgo.Record{Topic: prefix + "orders.results", Key: rec.Key, Value: b}, nil)
					}
				}
			}()
		})
	}
}
