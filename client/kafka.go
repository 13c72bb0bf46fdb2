package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/contract"
)

// KafkaConfig configures a Kafka client. Zero fields take the defaults
// stated on them.
type KafkaConfig struct {
	// Brokers are the seed brokers. Required.
	Brokers []string
	// TopicPrefix is the engine's kafka.topic_prefix; commands go to
	// <prefix>orders.commands, answers come from <prefix>orders.results.
	// Default "stocksync.".
	TopicPrefix string
	// Timeout bounds how long a call waits for the engine's answer, from
	// sending the command; a shorter context deadline wins. Default 5s.
	Timeout time.Duration
	// Linger is how long a command waits for others to share its produce
	// request: throughput (the broker's and the client's CPU per command)
	// for latency. Default 2ms; negative for none.
	Linger time.Duration
	// ClientID names the client to the brokers. Default "stocksync-client".
	ClientID string
	// Opts are more franz-go options, appended last: TLS and SASL (e.g.
	// config.Kafka.FranzOpts() of the engine's configuration), a logger.
	Opts []kgo.Opt
	// Logger receives the answers the client cannot read and the errors of
	// reading them. Default slog.Default().
	Logger *slog.Logger
	// OnResult, if set, sees every answer read from orders.results, the
	// other clients' too (the ops console counts and ranks them). It runs
	// on the reading goroutine: it must be quick. Default none.
	OnResult func(contract.OrderResult)
	// KeyByOrderID keys reserves by their order id, as the goka engine
	// (engine.backend: goka) reads them; by default a reserve is keyed by
	// its route SKU, the first line's, so the engine decides it at the
	// partition its stock is at without a hop (docs/design.md, "Routing").
	// Other commands are always keyed by order id.
	KeyByOrderID bool
}

// Defaults of KafkaConfig.
const (
	DefaultTopicPrefix = "stocksync."
	DefaultTimeout     = 5 * time.Second
	defaultLinger      = 2 * time.Millisecond
	defaultClientID    = "stocksync-client"
)

// Kafka sends order commands to orders.commands, keyed by order id with
// Kafka's default murmur2 partitioning as the engine expects, and awaits the
// answers on orders.results. It is safe for concurrent use; calls in flight
// at once share batches. Close it when done.
type Kafka struct {
	cfg      KafkaConfig
	commands string
	results  string
	producer *kgo.Client
	consumer *kgo.Client
	log      *slog.Logger

	ids requestIDs

	mu      sync.Mutex
	waiting map[waitKey]chan contract.OrderResult
	closed  chan struct{}
	stop    context.CancelFunc
	done    chan struct{}
}

// waitKey is what an answer is matched on: its order id and the request id
// of the command it answers, never the order id alone (another command for
// the same order, or a replayed answer, must not answer this one).
type waitKey struct{ orderID, requestID string }

// NewKafka connects to the brokers and starts reading orders.results from
// its current end, so it sees the answer to every command sent after it
// returns. It fails with ErrUnavailable when the brokers cannot be reached
// or the topics do not exist (the engine creates them when it starts).
func NewKafka(ctx context.Context, cfg KafkaConfig) (*Kafka, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("client: KafkaConfig.Brokers is required")
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("client: KafkaConfig.Timeout %s is negative", cfg.Timeout)
	}
	if cfg.TopicPrefix == "" {
		cfg.TopicPrefix = DefaultTopicPrefix
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.Linger == 0:
		cfg.Linger = defaultLinger
	case cfg.Linger < 0:
		cfg.Linger = 0
	}
	if cfg.ClientID == "" {
		cfg.ClientID = defaultClientID
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	k := &Kafka{cfg: cfg, commands: cfg.TopicPrefix + "orders.commands", results: cfg.TopicPrefix + "orders.results",
		log: cfg.Logger, waiting: map[waitKey]chan contract.OrderResult{}, closed: make(chan struct{}), done: make(chan struct{}),
		ids: newRequestIDs()}
	base := []kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID(cfg.ClientID)}
	var err error
	k.producer, err = kgo.NewClient(append(append(base,
		kgo.ProducerLinger(cfg.Linger),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), // murmur2 of the key, as the Java client
		// A command refused with a retriable error (a leader moving) is
		// sent again only after a metadata update; franz-go spaces those 5s
		// apart by default, which held a command that long.
		kgo.MetadataMinAge(100*time.Millisecond),
	), cfg.Opts...)...)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	offsets, err := k.endOffsets(ctx)
	if err != nil {
		k.producer.Close()
		return nil, err
	}
	k.consumer, err = kgo.NewClient(append(append(base,
		kgo.ConsumePartitions(offsets),
		kgo.FetchMaxWait(maxWait),
		// The engine answers in its transactions: an answer of a cycle that
		// aborted (a rebalance, a crash) was never a decision.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	), cfg.Opts...)...)
	if err != nil {
		k.producer.Close()
		return nil, fmt.Errorf("client: %w", err)
	}
	var runCtx context.Context
	runCtx, k.stop = context.WithCancel(context.Background())
	go k.read(runCtx)
	return k, nil
}

// maxWait bounds how long a fetch waits for new answers: a latency floor.
const maxWait = 10 * time.Millisecond

// endOffsets lists the end of every partition of orders.results and checks
// that orders.commands exists.
func (k *Kafka) endOffsets(ctx context.Context) (map[string]map[int32]kgo.Offset, error) {
	adm := kadm.NewClient(k.producer)
	unavailable := func(format string, args ...any) error {
		return &Error{Op: "connect", Kind: ErrUnavailable, Err: fmt.Errorf(format, args...)}
	}
	topics, err := adm.ListTopics(ctx, k.commands, k.results)
	if err != nil {
		return nil, kafkaError("connect", "", err)
	}
	for _, t := range []string{k.commands, k.results} {
		if d, ok := topics[t]; !ok || d.Err != nil {
			return nil, unavailable("topic %s does not exist: is the engine running with topic prefix %q?", t, k.cfg.TopicPrefix)
		}
	}
	ends, err := adm.ListEndOffsets(ctx, k.results)
	if err != nil {
		return nil, kafkaError("connect", "", err)
	}
	offsets := map[string]map[int32]kgo.Offset{k.results: {}}
	var errs []error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			errs = append(errs, fmt.Errorf("partition %d: %w", o.Partition, o.Err))
			return
		}
		offsets[k.results][o.Partition] = kgo.NewOffset().At(o.Offset)
	})
	if err := errors.Join(errs...); err != nil {
		return nil, kafkaError("connect", "", fmt.Errorf("end offsets of %s: %w", k.results, err))
	}
	return offsets, nil
}

// read delivers answers from orders.results until ctx ends.
func (k *Kafka) read(ctx context.Context) {
	defer close(k.done)
	for {
		fetches := k.consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fetches.EachError(func(t string, p int32, err error) {
			k.log.Warn("client: reading order results", "topic", t, "partition", p, "err", err)
		})
		fetches.EachRecord(func(rec *kgo.Record) {
			if k.cfg.OnResult == nil && !k.awaited(rec) {
				return // another client's answer: not worth decoding
			}
			// goccy/go-json: the engine's answers, decoded four times
			// faster than by encoding/json (a tenth of a load generator's
			// CPU in the benchmark).
			var res contract.OrderResult
			if err := gojson.Unmarshal(rec.Value, &res); err != nil {
				k.log.Warn("client: unreadable order result", "partition", rec.Partition, "offset", rec.Offset, "err", err)
				return
			}
			if k.cfg.OnResult != nil {
				k.cfg.OnResult(res)
			}
			k.deliver(res)
		})
	}
}

// deliver hands an answer to the call that sent its command, if it still
// waits; answers to other clients' commands and replays are dropped.
func (k *Kafka) deliver(res contract.OrderResult) {
	if res.RequestID == "" {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if ch, ok := k.waiting[waitKey{res.OrderID, res.RequestID}]; ok {
		select {
		case ch <- res:
		default: // already answered
		}
	}
}

// awaited reports whether a call of this client may wait for rec: the
// engine keys an answer by its order id and puts its request id in a
// header. A record without that header is decoded, to be safe.
func (k *Kafka) awaited(rec *kgo.Record) bool {
	for _, h := range rec.Headers {
		if h.Key == contract.HeaderRequestID {
			k.mu.Lock()
			defer k.mu.Unlock()
			_, ok := k.waiting[waitKey{string(rec.Key), string(h.Value)}]
			return ok
		}
	}
	return true
}

// wait registers interest in the answer to one request; register before
// sending, call cancel when done.
func (k *Kafka) wait(orderID, requestID string) (ch chan contract.OrderResult, cancel func()) {
	key := waitKey{orderID, requestID}
	ch = make(chan contract.OrderResult, 1)
	k.mu.Lock()
	k.waiting[key] = ch
	k.mu.Unlock()
	return ch, func() {
		k.mu.Lock()
		delete(k.waiting, key)
		k.mu.Unlock()
	}
}

// Reserve holds every line or none for ttl (rounded up to seconds; 0 for
// the engine's default of 15 minutes) on channel ("" for none). A refusal
// is a result with Status rejected and its reason in Error.
func (k *Kafka) Reserve(ctx context.Context, orderID string, lines []contract.Line, channel string, ttl time.Duration) (contract.OrderResult, error) {
	return k.submit(ctx, contract.Reserve, orderID, lines, channel, ttl)
}

// Confirm turns a reservation into committed stock, without expiry.
func (k *Kafka) Confirm(ctx context.Context, orderID string) (contract.OrderResult, error) {
	return k.submit(ctx, contract.Confirm, orderID, nil, "", 0)
}

// Release gives a reserved or confirmed order's units back.
func (k *Kafka) Release(ctx context.Context, orderID string) (contract.OrderResult, error) {
	return k.submit(ctx, contract.Release, orderID, nil, "", 0)
}

// Ship takes a confirmed order's units off the shelf.
func (k *Kafka) Ship(ctx context.Context, orderID string) (contract.OrderResult, error) {
	return k.submit(ctx, contract.Ship, orderID, nil, "", 0)
}

// Submit sends any order command (reserve, confirm, release, ship) and
// waits for its answer, like the methods above.
func (k *Kafka) Submit(ctx context.Context, cmd contract.OrderCommand) (contract.OrderResult, error) {
	if err := cmd.Validate(); err != nil {
		return contract.OrderResult{}, &Error{Op: cmd.Type, OrderID: cmd.OrderID, Kind: ErrInvalid, Err: err}
	}
	return k.send(ctx, cmd)
}

func (k *Kafka) submit(ctx context.Context, typ, orderID string, lines []contract.Line, channel string, ttl time.Duration) (contract.OrderResult, error) {
	cmd, err := command(typ, orderID, lines, channel, ttl)
	if err != nil {
		return contract.OrderResult{}, err
	}
	return k.send(ctx, cmd)
}

// key is a command's record key: the route SKU of a reserve, else the
// order id (KafkaConfig.KeyByOrderID).
func (k *Kafka) key(cmd contract.OrderCommand) string {
	if cmd.Type == contract.Reserve && len(cmd.Lines) > 0 && !k.cfg.KeyByOrderID {
		return cmd.Lines[0].SKU
	}
	return cmd.OrderID
}

func (k *Kafka) send(ctx context.Context, cmd contract.OrderCommand) (contract.OrderResult, error) {
	typ, orderID := cmd.Type, cmd.OrderID
	select {
	case <-k.closed:
		return contract.OrderResult{}, &Error{Op: typ, OrderID: orderID, Kind: ErrClosed}
	default:
	}
	if cmd.RequestID == "" {
		cmd.RequestID = k.ids.next()
	}
	value, err := contract.Marshal(cmd) // goccy: a tenth of a busy load generator's CPU went to encoding/json here
	if err != nil {
		return contract.OrderResult{}, &Error{Op: typ, OrderID: orderID, Kind: ErrInvalid, Err: err}
	}
	ch, cancel := k.wait(orderID, cmd.RequestID)
	defer cancel()
	ctx, stop := context.WithTimeout(ctx, k.cfg.Timeout)
	defer stop()
	rec := &kgo.Record{Topic: k.commands, Key: []byte(k.key(cmd)), Value: value,
		Headers: []kgo.RecordHeader{{Key: contract.HeaderRequestID, Value: []byte(cmd.RequestID)}}}
	// Produce, not ProduceSync: ProduceSync sends its partitions' batches
	// at once, so calls in flight together did not share them and the
	// linger did nothing (at 5,000 orders/s a produce request per one or
	// two commands; with the linger, one per ten, and a broker and client
	// with less to do: bench/README.md, round 6).
	produced := make(chan error, 1)
	k.producer.Produce(ctx, rec, func(_ *kgo.Record, err error) { produced <- err })
	if err := <-produced; err != nil {
		return contract.OrderResult{}, kafkaError(typ, orderID, err)
	}
	select {
	case res := <-ch:
		return res, nil
	case <-ctx.Done():
		return contract.OrderResult{}, ctxError(typ, orderID, ctx.Err())
	case <-k.closed:
		return contract.OrderResult{}, &Error{Op: typ, OrderID: orderID, Kind: ErrClosed}
	}
}

// kafkaError classifies an error of franz-go.
func kafkaError(op, orderID string, err error) *Error {
	kind := ErrUnavailable
	switch {
	case isCtxErr(err), errors.Is(err, kgo.ErrRecordTimeout):
		kind = ErrTimeout
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.IllegalSaslState),
		errors.Is(err, kerr.UnsupportedSaslMechanism):
		kind = ErrUnauthorized
	case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.ClusterAuthorizationFailed),
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		kind = ErrForbidden
	case errors.Is(err, kgo.ErrClientClosed):
		kind = ErrClosed
	case errors.Is(err, kerr.MessageTooLarge):
		kind = ErrInvalid
	}
	return &Error{Op: op, OrderID: orderID, Kind: kind, Err: err}
}

// Close stops reading answers and closes the connections; calls waiting
// for an answer return ErrClosed. It is safe to call more than once.
func (k *Kafka) Close() error {
	k.mu.Lock()
	select {
	case <-k.closed:
		k.mu.Unlock()
		return nil
	default:
		close(k.closed)
	}
	k.mu.Unlock()
	k.stop()
	<-k.done
	k.consumer.Close()
	k.producer.Close()
	return nil
}
