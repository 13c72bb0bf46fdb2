package client_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/client"
	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/topology"
)

// orderClient is what both clients do; the conformance suite runs on each.
type orderClient interface {
	Reserve(ctx context.Context, orderID string, lines []contract.Line, channel string, ttl time.Duration) (contract.OrderResult, error)
	Confirm(ctx context.Context, orderID string) (contract.OrderResult, error)
	Release(ctx context.Context, orderID string) (contract.OrderResult, error)
	Ship(ctx context.Context, orderID string) (contract.OrderResult, error)
	Close() error
}

var (
	_ orderClient = (*client.Kafka)(nil)
	_ orderClient = (*client.HTTP)(nil)
)

// TestAgainstEngine runs both clients against a whole stocksync on kfake,
// the HTTP client through the API with auth on.
func TestAgainstEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the engine on kfake takes seconds to start")
	}
	s := startStack(t)
	for _, c := range []struct {
		name string
		cl   orderClient
	}{
		{"kafka", s.kafka(t)},
		{"http", s.http(t, tokOrders)},
	} {
		t.Run(c.name, func(t *testing.T) { conformance(t, s, c.name+"-", c.cl) })
	}
	t.Run("http auth", func(t *testing.T) { httpAuth(t, s) })
	t.Run("http rate limit loses nothing", func(t *testing.T) { httpRateLimit(t, s) })
	t.Run("kafka timeout and repeat", func(t *testing.T) { kafkaTimeout(t, s) })
	t.Run("kafka unknown prefix", func(t *testing.T) {
		_, err := client.NewKafka(context.Background(), client.KafkaConfig{Brokers: s.brokers, TopicPrefix: "nobody."})
		if !errors.Is(err, client.ErrUnavailable) || !strings.Contains(err.Error(), "nobody.orders.commands does not exist") {
			t.Fatalf("NewKafka with an unknown prefix: %v", err)
		}
	})
	t.Run("kafka closed", func(t *testing.T) {
		k := s.kafka(t)
		if err := k.Close(); err != nil {
			t.Fatal(err)
		}
		_ = k.Close()
		if _, err := k.Confirm(context.Background(), "o-closed"); !errors.Is(err, client.ErrClosed) {
			t.Fatalf("Confirm on a closed client: %v", err)
		}
	})
}

// conformance is what every client must do against the engine; p prefixes
// its SKUs and order ids.
func conformance(t *testing.T, s *stack, p string, cl orderClient) {
	ctx := context.Background()
	t.Run("reserve confirm ship", func(t *testing.T) {
		sku, id := p+"A", p+"o-1"
		s.stock(t, sku, 10)
		res, err := cl.Reserve(ctx, id, []contract.Line{{SKU: sku, Qty: 2}}, "", 90*time.Second)
		if err != nil || res.Status != contract.StatusReserved || res.OrderID != id || res.ExpiresAt == "" ||
			len(res.Lines) != 1 || res.Lines[0].Location != "msk-wh-1" {
			t.Fatalf("Reserve = %+v, %v", res, err)
		}
		if got := s.reserved(t, sku); got != 2 {
			t.Fatalf("reserved = %d, want 2", got)
		}
		if res, err := cl.Confirm(ctx, id); err != nil || res.Status != contract.StatusConfirmed {
			t.Fatalf("Confirm = %+v, %v", res, err)
		}
		if res, err := cl.Ship(ctx, id); err != nil || res.Status != contract.StatusShipped {
			t.Fatalf("Ship = %+v, %v", res, err)
		}
		eventually(t, "on_hand 8 and nothing held after the ship", func() bool {
			v, err := s.eng.Stock(ctx, sku)
			return err == nil && v.OnHand == 8 && v.Committed == 0 && v.Reserved == 0
		})
	})
	t.Run("release", func(t *testing.T) {
		sku, id := p+"R", p+"o-r"
		s.stock(t, sku, 5)
		if res, err := cl.Reserve(ctx, id, []contract.Line{{SKU: sku, Qty: 5}}, "", 0); err != nil || res.Status != contract.StatusReserved {
			t.Fatalf("Reserve = %+v, %v", res, err)
		}
		if res, err := cl.Release(ctx, id); err != nil || res.Status != contract.StatusReleased {
			t.Fatalf("Release = %+v, %v", res, err)
		}
		eventually(t, "nothing reserved after the release", func() bool { return s.reserved(t, sku) == 0 })
	})
	t.Run("a refusal is a result", func(t *testing.T) {
		sku := p + "B"
		s.stock(t, sku, 3)
		res, err := cl.Reserve(ctx, p+"o-big", []contract.Line{{SKU: sku, Qty: 50}}, "", time.Minute)
		if err != nil || res.Status != contract.StatusRejected || res.Error == nil || res.Error.Type != contract.ErrInsufficientStock ||
			res.Error.Available == nil || *res.Error.Available != 3 {
			t.Fatalf("Reserve over the stock = %+v, %v", res, err)
		}
		res, err = cl.Confirm(ctx, p+"o-never")
		if err != nil || res.Status != contract.StatusRejected || res.Error.Type != contract.ErrUnknownOrder {
			t.Fatalf("Confirm of an unknown order = %+v, %v", res, err)
		}
	})
	t.Run("same order id: first answer, or conflict", func(t *testing.T) {
		sku, id := p+"I", p+"o-idem"
		s.stock(t, sku, 10)
		lines := []contract.Line{{SKU: sku, Qty: 3}}
		first, err := cl.Reserve(ctx, id, lines, "", time.Minute)
		if err != nil || first.Status != contract.StatusReserved {
			t.Fatalf("Reserve = %+v, %v", first, err)
		}
		again, err := cl.Reserve(ctx, id, lines, "", time.Minute)
		// The first answer, to this request: with the repeat's request id.
		wantAgain := first
		wantAgain.RequestID = again.RequestID
		if err != nil || again.RequestID == first.RequestID || !reflect.DeepEqual(again, wantAgain) {
			t.Fatalf("the same reserve again = %+v, %v; want the first answer %+v with a request id of its own", again, err, first)
		}
		other, err := cl.Reserve(ctx, id, []contract.Line{{SKU: sku, Qty: 4}}, "", time.Minute)
		if err != nil || other.Status != contract.StatusRejected || other.Error == nil || other.Error.Type != contract.ErrConflict {
			t.Fatalf("another body under the same id = %+v, %v; want rejected conflict", other, err)
		}
		if got := s.reserved(t, sku); got != 3 {
			t.Fatalf("reserved = %d, want 3: the repeat or the conflict took effect", got)
		}
	})
	t.Run("invalid commands are refused before sending", func(t *testing.T) {
		tooMany := make([]contract.Line, contract.MaxLines+1)
		for i := range tooMany {
			tooMany[i] = contract.Line{SKU: fmt.Sprintf("S-%d", i), Qty: 1}
		}
		for _, tc := range []struct {
			name  string
			call  func() (contract.OrderResult, error)
			field string
		}{
			{"zero qty", func() (contract.OrderResult, error) {
				return cl.Reserve(ctx, p+"o-bad", []contract.Line{{SKU: "A", Qty: 0}}, "", 0)
			}, "lines[0].qty"},
			{"sku with a control character", func() (contract.OrderResult, error) {
				return cl.Reserve(ctx, p+"o-bad", []contract.Line{{SKU: "A\n", Qty: 1}}, "", 0)
			}, "lines[0].sku"},
			{"101 lines", func() (contract.OrderResult, error) { return cl.Reserve(ctx, p+"o-bad", tooMany, "", 0) }, "lines"},
			{"negative ttl", func() (contract.OrderResult, error) {
				return cl.Reserve(ctx, p+"o-bad", []contract.Line{{SKU: "A", Qty: 1}}, "", -time.Second)
			}, "ttl_s"},
			{"empty order id", func() (contract.OrderResult, error) { return cl.Confirm(ctx, "") }, "order_id"},
			{"order id over 128 bytes", func() (contract.OrderResult, error) { return cl.Ship(ctx, strings.Repeat("x", 129)) }, "order_id"},
		} {
			_, err := tc.call()
			var inv *contract.InvalidError
			if !errors.Is(err, client.ErrInvalid) || !errors.As(err, &inv) || inv.Field != tc.field || client.Retryable(err) {
				t.Errorf("%s: %v, want client.ErrInvalid on %s", tc.name, err, tc.field)
			}
		}
		if _, err := s.eng.Order(ctx, p+"o-bad"); !errors.Is(err, contract.ErrNotFound) {
			t.Errorf("an invalid command reached the engine: %v", err)
		}
	})
	t.Run("a cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := cl.Reserve(cctx, p+"o-cancel", []contract.Line{{SKU: "A", Qty: 1}}, "", 0)
		if !errors.Is(err, client.ErrTimeout) || !errors.Is(err, context.Canceled) || !client.Retryable(err) {
			t.Fatalf("Reserve with a cancelled context: %v", err)
		}
	})
}

func httpAuth(t *testing.T, s *stack) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, token string
		kind        error
		status      int
	}{
		{"no token", "", client.ErrUnauthorized, 401},
		{"unknown token", "nobody-0123456789abcdef", client.ErrUnauthorized, 401},
		{"token without orders:write", tokRead, client.ErrForbidden, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.http(t, tc.token).Reserve(ctx, "auth-o", []contract.Line{{SKU: "A", Qty: 1}}, "", 0)
			var e *client.Error
			if !errors.Is(err, tc.kind) || !errors.As(err, &e) || e.Status != tc.status || client.Retryable(err) {
				t.Fatalf("Reserve: %v, want %v (%d)", err, tc.kind, tc.status)
			}
			if tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Fatalf("the error shows the token: %v", err)
			}
		})
	}
	if _, err := s.eng.Order(ctx, "auth-o"); !errors.Is(err, contract.ErrNotFound) {
		t.Errorf("a refused command reached the engine: %v", err)
	}
}

// httpRateLimit makes a reservation, then a burst the API refuses with 429,
// and checks the reservation is intact and nothing refused took effect.
func httpRateLimit(t *testing.T, s *stack) {
	ctx := context.Background()
	slow := s.http(t, tokSlow) // 0.2 requests/s, a burst of 1
	sku := "rl-A"
	s.stock(t, sku, 10)
	if res, err := slow.Reserve(ctx, "rl-o-1", []contract.Line{{SKU: sku, Qty: 4}}, "", time.Minute); err != nil || res.Status != contract.StatusReserved {
		t.Fatalf("Reserve = %+v, %v", res, err)
	}
	for i := range 5 {
		var err error
		if i%2 == 0 {
			_, err = slow.Reserve(ctx, fmt.Sprintf("rl-o-%d", i+2), []contract.Line{{SKU: sku, Qty: 1}}, "", time.Minute)
		} else {
			_, err = slow.Release(ctx, "rl-o-1")
		}
		var e *client.Error
		if !errors.Is(err, client.ErrRateLimited) || !errors.As(err, &e) || e.Status != 429 || e.RetryAfter < time.Second || !client.Retryable(err) {
			t.Fatalf("request %d of the burst: %v, want 429 with Retry-After", i, err)
		}
	}
	if v, err := s.eng.Order(ctx, "rl-o-1"); err != nil || v.State != contract.StatusReserved {
		t.Fatalf("the reservation after the burst: %+v, %v", v, err)
	}
	if got := s.reserved(t, sku); got != 4 {
		t.Fatalf("reserved after the burst = %d, want 4", got)
	}
	for _, id := range []string{"rl-o-2", "rl-o-4", "rl-o-6"} {
		if _, err := s.eng.Order(ctx, id); !errors.Is(err, contract.ErrNotFound) {
			t.Errorf("refused order %s reached the engine: %v", id, err)
		}
	}
}

// kafkaTimeout sends a reserve that cannot be answered in time, then
// repeats it: it takes effect once.
func kafkaTimeout(t *testing.T, s *stack) {
	ctx := context.Background()
	sku := "to-A"
	s.stock(t, sku, 10)
	hasty := s.kafka(t, func(c *client.KafkaConfig) { c.Timeout = time.Millisecond })
	lines := []contract.Line{{SKU: sku, Qty: 2}}
	_, err := hasty.Reserve(ctx, "to-o-1", lines, "", time.Minute)
	if !errors.Is(err, client.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || !client.Retryable(err) {
		t.Fatalf("Reserve with a 1ms timeout: %v", err)
	}
	res, err := s.kafka(t).Reserve(ctx, "to-o-1", lines, "", time.Minute)
	if err != nil || res.Status != contract.StatusReserved {
		t.Fatalf("the repeat = %+v, %v", res, err)
	}
	if got := s.reserved(t, sku); got != 2 {
		t.Fatalf("reserved = %d, want 2: once", got)
	}
}

// TestPartitioning holds that the client's partitioner puts a key where the
// engine (and the Java client) expect it.
func TestPartitioning(t *testing.T) {
	p := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for i := range 2000 {
		key := fmt.Sprintf("order-%d", i)
		for _, n := range []int{1, 4, 12, 64} {
			got := p.Partition(&kgo.Record{Key: []byte(key)}, n)
			if want := int(topology.PartitionOf(key, int32(n))); got != want {
				t.Fatalf("key %q of %d partitions: client %d, engine %d", key, n, got, want)
			}
		}
	}
}

// eventually polls cond for up to 10s: the engine answers a command once
// its order is decided, and the SKU's ledger follows a moment later.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
