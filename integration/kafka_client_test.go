package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/topology"
)

// ---- Kafka: what an order service or a WMS producing to the topics does.

// client is a franz-go client on the scenario's backend, closed when the test ends.
func (e *env) client(opts ...kgo.Opt) *kgo.Client {
	e.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(e.b.brokers...), kgo.ProducerLinger(0)}, opts...)...)
	if err != nil {
		e.t.Fatalf("franz-go client: %v", err)
	}
	e.t.Cleanup(cl.Close)
	return cl
}

// produce sends recs and waits until the broker has them.
func (e *env) produce(cl *kgo.Client, recs ...*kgo.Record) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		e.t.Fatalf("produce %d records: %v", len(recs), err)
	}
}

func record(topic goka.Stream, key string, v any) *kgo.Record {
	var value []byte
	switch v := v.(type) {
	case string:
		value = []byte(v)
	default:
		value, _ = json.Marshal(v)
	}
	return &kgo.Record{Topic: string(topic), Key: []byte(key), Value: value}
}

// wrongPartition puts rec on a partition its key does not hash to; it needs
// a client with kgo.ManualPartitioner.
func wrongPartition(rec *kgo.Record) *kgo.Record {
	rec.Partition = (topology.Partition(rec.Key, partitions) + 1) % partitions
	return rec
}

// rightPartition puts rec where Kafka's default partitioner would.
func rightPartition(rec *kgo.Record) *kgo.Record {
	rec.Partition = topology.Partition(rec.Key, partitions)
	return rec
}

// reader reads a topic from its start, keeping every record it has seen.
type reader struct {
	env     *env
	topic   string
	cl      *kgo.Client
	records []*kgo.Record
}

func (e *env) reader(topic goka.Stream) *reader {
	return &reader{env: e, topic: string(topic), cl: e.client(
		kgo.ConsumeTopics(string(topic)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond),
	)}
}

// waitFor reads until cond holds for every record read so far.
func (r *reader) waitFor(within time.Duration, what string, cond func(all []*kgo.Record) (bool, string)) {
	t := r.env.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		if ok, _ := cond(r.records); ok {
			return
		}
		fetches := r.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			_, state := cond(r.records)
			t.Fatalf("%s: not within %s reading %s (%d records read); last seen: %s", what, within, r.topic, len(r.records), state)
		}
		fetches.EachError(func(topic string, p int32, err error) {
			t.Logf("reading %s[%d]: %v (retrying)", topic, p, err)
		})
		r.records = append(r.records, fetches.Records()...)
	}
}

// answers groups the order results read so far by order id, for one type.
func answers(recs []*kgo.Record, typ string) map[string][]contract.OrderResult {
	out := map[string][]contract.OrderResult{}
	for _, rec := range recs {
		var res contract.OrderResult
		if json.Unmarshal(rec.Value, &res) == nil && res.Type == typ {
			out[res.OrderID] = append(out[res.OrderID], res)
		}
	}
	return out
}

// awaitAnswers reads orders.results until every id has an answer of type typ.
func (r *reader) awaitAnswers(within time.Duration, typ string, ids ...string) map[string][]contract.OrderResult {
	r.env.t.Helper()
	r.waitFor(within, fmt.Sprintf("%d %s answers on %s", len(ids), typ, r.topic), func(all []*kgo.Record) (bool, string) {
		got := answers(all, typ)
		var missing []string
		for _, id := range ids {
			if len(got[id]) == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) > 10 {
			missing = append(missing[:10], fmt.Sprintf("… %d more", len(missing)-10))
		}
		return len(missing) == 0, "no answer yet for " + strings.Join(missing, ", ")
	})
	return answers(r.records, typ)
}
