package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/contract"
)

// orderWire is an order command as sent: the contract's command plus the
// request id its answer echoes.
type orderWire struct {
	contract.OrderCommand
	RequestID string `json:"request_id,omitempty"`
}

// resultWire is an answer on orders.results with its request id.
type resultWire struct {
	contract.OrderResult
	RequestID string `json:"request_id,omitempty"`
}

// orderClient sends order commands to <prefix>orders.commands keyed by order
// id (murmur2, as the Java client) and matches answers on
// <prefix>orders.results by order id and request id. It reads committed
// records only, so under exactly-once it sees an answer once its
// transaction committed. It is the same pattern as client.Kafka, kept here
// so that a peer need not speak every detail of stocksync's client.
type orderClient struct {
	commands, results string
	timeout           time.Duration
	producer          *kgo.Client
	consumer          *kgo.Client
	log               *slog.Logger
	runID             string
	seq               atomic.Int64

	mu      sync.Mutex
	waiting map[answerKey]chan contract.OrderResult
	stop    context.CancelFunc
	done    chan struct{}
}

type answerKey struct{ orderID, requestID string }

func newOrderClient(ctx context.Context, brokers []string, prefix string, timeout time.Duration, log *slog.Logger) (*orderClient, error) {
	c := &orderClient{commands: prefix + "orders.commands", results: prefix + "orders.results", timeout: timeout, log: log,
		runID: strconv.FormatInt(time.Now().UnixNano(), 36), waiting: map[answerKey]chan contract.OrderResult{}, done: make(chan struct{})}
	var err error
	c.producer, err = kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(2*time.Millisecond),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		return nil, err
	}
	ends, err := kadm.NewClient(c.producer).ListEndOffsets(ctx, c.results)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		c.producer.Close()
		return nil, fmt.Errorf("bench: end offsets of %s: %w", c.results, err)
	}
	offsets := map[string]map[int32]kgo.Offset{c.results: {}}
	ends.Each(func(o kadm.ListedOffset) { offsets[c.results][o.Partition] = kgo.NewOffset().At(o.Offset) })
	c.consumer, err = kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumePartitions(offsets),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(10*time.Millisecond))
	if err != nil {
		c.producer.Close()
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.Background())
	c.stop = stop
	go c.read(runCtx)
	return c, nil
}

func (c *orderClient) read(ctx context.Context) {
	defer close(c.done)
	for {
		fetches := c.consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fetches.EachError(func(t string, p int32, err error) {
			c.log.Warn("bench: reading order results", "topic", t, "partition", p, "err", err)
		})
		fetches.EachRecord(func(rec *kgo.Record) {
			var res resultWire
			if err := json.Unmarshal(rec.Value, &res); err != nil {
				c.log.Warn("bench: unreadable order result", "partition", rec.Partition, "offset", rec.Offset, "err", err)
				return
			}
			c.mu.Lock()
			ch := c.waiting[answerKey{res.OrderID, res.RequestID}]
			c.mu.Unlock()
			if ch != nil {
				select {
				case ch <- res.OrderResult:
				default: // answered already (a replayed answer)
				}
			}
		})
	}
}

// send produces a command and waits for its answer.
func (c *orderClient) send(ctx context.Context, cmd contract.OrderCommand) (contract.OrderResult, error) {
	w := orderWire{OrderCommand: cmd, RequestID: c.runID + "-" + strconv.FormatInt(c.seq.Add(1), 36)}
	value, err := json.Marshal(w)
	if err != nil {
		return contract.OrderResult{}, err
	}
	key := answerKey{cmd.OrderID, w.RequestID}
	ch := make(chan contract.OrderResult, 1)
	c.mu.Lock()
	c.waiting[key] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, key)
		c.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.producer.ProduceSync(ctx, &kgo.Record{Topic: c.commands, Key: []byte(cmd.OrderID), Value: value}).FirstErr(); err != nil {
		return contract.OrderResult{}, fmt.Errorf("bench: %s %s: %w", cmd.Type, cmd.OrderID, err)
	}
	select {
	case res := <-ch:
		return res, nil
	case <-ctx.Done():
		return contract.OrderResult{}, fmt.Errorf("bench: %s %s: no answer: %w", cmd.Type, cmd.OrderID, ctx.Err())
	}
}

func (c *orderClient) Reserve(ctx context.Context, orderID string, lines []contract.Line, channel string, ttl time.Duration) (contract.OrderResult, error) {
	ttlS := int64((ttl + time.Second - 1) / time.Second)
	return c.send(ctx, contract.OrderCommand{Type: contract.Reserve, OrderID: orderID, Lines: lines, Channel: channel, TTLS: ttlS})
}

func (c *orderClient) Confirm(ctx context.Context, orderID string) (contract.OrderResult, error) {
	return c.send(ctx, contract.OrderCommand{Type: contract.Confirm, OrderID: orderID})
}

func (c *orderClient) Release(ctx context.Context, orderID string) (contract.OrderResult, error) {
	return c.send(ctx, contract.OrderCommand{Type: contract.Release, OrderID: orderID})
}

func (c *orderClient) Ship(ctx context.Context, orderID string) (contract.OrderResult, error) {
	return c.send(ctx, contract.OrderCommand{Type: contract.Ship, OrderID: orderID})
}

func (c *orderClient) Close() error {
	if c.stop == nil {
		return errors.New("bench: order client closed twice")
	}
	c.stop()
	c.stop = nil
	<-c.done
	c.consumer.Close()
	c.producer.Close()
	return nil
}
