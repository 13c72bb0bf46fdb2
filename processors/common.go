package processors

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/lovoo/goka"
	"github.com/stocksync/stocksync/topology"
)

// DeadLetter is a message on the DLQ topic: what could not be processed,
// where it came from, and why.
type DeadLetter struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Key       string `json:"key"`
	Value     string `json:"value"`
	Reason    string `json:"reason"`
	At        string `json:"at"`
}

// base is what every processor shares: names, partition count, metrics, log.
type base struct {
	names      topology.Names
	partitions int32
	metrics    *Metrics
	log        *slog.Logger
	now        func() time.Time
}

// rerouted re-sends a message whose key does not hash to the partition it
// arrived on, and reports whether it did (DESIGN.md invariant 6: such a
// message is never applied where it landed, or one key would have two writers).
func (b *base) rerouted(ctx goka.Context, raw []byte) bool {
	want := topology.PartitionOf(ctx.Key(), b.partitions)
	if want == ctx.Partition() {
		return false
	}
	ctx.Emit(goka.Stream(ctx.Topic()), ctx.Key(), raw)
	b.metrics.Rerouted.WithLabelValues(string(ctx.Topic())).Inc()
	return true
}

// deadLetter parks a message in the DLQ with its reason; processing goes on.
func (b *base) deadLetter(ctx goka.Context, raw []byte, reason string) {
	dl := DeadLetter{Topic: string(ctx.Topic()), Partition: ctx.Partition(), Offset: ctx.Offset(),
		Key: ctx.Key(), Value: string(raw), Reason: reason, At: b.now().UTC().Format(time.RFC3339Nano)}
	ctx.Emit(b.names.DLQ, ctx.Key(), mustJSON(dl))
	b.metrics.DLQ.WithLabelValues(string(ctx.Topic())).Inc()
	b.log.Warn("message parked in the DLQ", "topic", ctx.Topic(), "partition", ctx.Partition(),
		"offset", ctx.Offset(), "key", ctx.Key(), "reason", reason)
}

// mustJSON encodes one of this package's own message types, which cannot fail.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("processors: encoding an internal message: " + err.Error())
	}
	return b
}

// accept takes a message of an internal topic: it reroutes one that arrived
// on the wrong partition and parks one that does not decode into v (or whose
// field, read by got, differs from the key) in the DLQ as "not a <what>". It
// returns the raw message, and false when the caller must stop there.
func (b *base) accept(ctx goka.Context, msg any, v any, field string, got func() string, what string) ([]byte, bool) {
	raw, _ := msg.([]byte)
	if b.rerouted(ctx, raw) {
		return raw, false
	}
	if err := decodeInternal(raw, v, ctx.Key(), got, field); err != nil {
		b.deadLetter(ctx, raw, "not a "+what+": "+err.Error())
		return raw, false
	}
	return raw, true
}

// decodeInternal decodes a message of an internal topic and checks that the
// field named field (read by got after decoding) equals the message key.
// Unknown fields are accepted: during a rolling upgrade a newer sender must
// not stop an older reader.
func decodeInternal(raw []byte, v any, key string, got func() string, field string) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("bad JSON: %w", err)
	}
	if g := got(); g != key {
		return fmt.Errorf("its %s %q differs from the message key %q", field, g, key)
	}
	return nil
}
