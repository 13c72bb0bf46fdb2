package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lovoo/goka"
	"github.com/stocksync/stocksync/contract"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// results delivers answers from orders.results to the HTTP requests waiting
// for them. Every instance reads every partition from the end it saw at
// start, so an answer reaches the instance that asked, whoever decided it.
type results struct {
	topic  string
	log    *slog.Logger
	client *kgo.Client

	mu      sync.Mutex
	waiting map[waitKey][]chan contract.OrderResult
}

type waitKey struct{ orderID, typ string }

func newResults(topic goka.Stream, log *slog.Logger) *results {
	return &results{topic: string(topic), log: log, waiting: map[waitKey][]chan contract.OrderResult{}}
}

// start pins the consumer at the current end of every partition before any
// request can be sent, so no answer to this instance's commands is missed.
func (r *results) start(ctx context.Context, brokers []string, security []kgo.Opt) error {
	admClient, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, security...)...)
	if err != nil {
		return err
	}
	defer admClient.Close()
	ends, err := kadm.NewClient(admClient).ListEndOffsets(ctx, r.topic)
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	offsets := map[string]map[int32]kgo.Offset{r.topic: {}}
	var failed error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil || o.Partition < 0 {
			failed = fmt.Errorf("end offset of %s partition %d: %v", r.topic, o.Partition, o.Err)
			return
		}
		offsets[r.topic][o.Partition] = kgo.NewOffset().At(o.Offset)
	})
	if failed != nil {
		return failed
	}
	r.client, err = kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(offsets),
		kgo.FetchMaxWait(maxWait),
	}, security...)...)
	return err
}

func (r *results) run(ctx context.Context) error {
	defer r.client.Close()
	for {
		fetches := r.client.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			r.log.Warn("reading order results", "topic", t, "partition", p, "err", err)
		})
		fetches.EachRecord(func(rec *kgo.Record) {
			var res contract.OrderResult
			if err := json.Unmarshal(rec.Value, &res); err != nil {
				r.log.Warn("undecodable order result", "partition", rec.Partition, "offset", rec.Offset, "err", err)
				return
			}
			r.deliver(res)
		})
	}
}

// wait registers interest in the answer of type typ for an order. Register
// before sending the command; call cancel when done.
func (r *results) wait(orderID, typ string) (ch chan contract.OrderResult, cancel func()) {
	k := waitKey{orderID, typ}
	ch = make(chan contract.OrderResult, 1)
	r.mu.Lock()
	r.waiting[k] = append(r.waiting[k], ch)
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		list := r.waiting[k]
		for i, c := range list {
			if c == ch {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(r.waiting, k)
		} else {
			r.waiting[k] = list
		}
	}
}

func (r *results) deliver(res contract.OrderResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ch := range r.waiting[waitKey{res.OrderID, res.Type}] {
		select {
		case ch <- res:
		default: // already answered
		}
	}
}

// maxWait bounds how long a fetch waits for new answers: a latency floor.
const maxWait = 10 * time.Millisecond
