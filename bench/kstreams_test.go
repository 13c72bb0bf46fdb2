package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stocksync/stocksync/contract"
)

// TestKStreamsPeer walks the Kafka Streams peer (exactly_once_v2) through
// the contract as a client sees it: all-or-none multi-line reserves,
// confirm → ship, refused transitions, a repeated reserve, and expiry. It
// needs the real broker (STOCKSYNC_TEST_BROKERS) and the peer's jar built
// beforehand (`mvn -q -f bench/peers/kstreams/pom.xml package`, as
// bench/run.sh does): building it here would put a JVM build in `make
// test`. It says which is missing when it skips.
func TestKStreamsPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a JVM")
	}
	brokers := strings.TrimSpace(os.Getenv("STOCKSYNC_TEST_BROKERS"))
	if brokers == "" {
		t.Skip("STOCKSYNC_TEST_BROKERS not set: the Kafka Streams peer needs the real broker (scripts/kafka.sh up)")
	}
	dir := filepath.Join("peers", "kstreams")
	jar := filepath.Join(dir, "target", "kstreams-peer.jar")
	if fresh, err := newerThanSources(jar, dir); err != nil || !fresh {
		t.Skipf("%s missing or older than its sources (%v): build it with mvn -q -f %s/pom.xml package", jar, err, dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sys, err := NewKStreams(ctx, KStreamsConfig{Brokers: strings.Split(brokers, ","), Jar: jar, Guarantee: ExactlyOnceV2,
		Partitions: 2, Threads: 1, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	// B000000 and B000001 have 5 units each at msk-wh-1, the others 1000.
	cat, err := WorkloadConfig{Kind: FlashSale, SKUs: 10, HotSKUs: 2, HotStock: 5}.Catalogue()
	if err != nil {
		t.Fatal(err)
	}
	if err := sys.Load(ctx, cat); err != nil {
		t.Fatal(err)
	}
	const wh = "msk-wh-1"
	line := func(sku string, qty int64) contract.Line { return contract.Line{SKU: sku, Qty: qty, Location: wh} }
	type step struct {
		name   string
		do     func() (contract.OrderResult, error)
		status string
		reason string // error type when rejected
	}
	reserve := func(id string, ttl time.Duration, lines ...contract.Line) func() (contract.OrderResult, error) {
		return func() (contract.OrderResult, error) { return sys.Reserve(ctx, id, lines, "web", ttl) }
	}
	steps := []step{
		{"a multi-line reserve one line of which is short is refused whole",
			reserve("o1", time.Hour, line("B000000", 3), line("B000001", 6)), contract.StatusRejected, contract.ErrInsufficientStock},
		{"so the units of its other line are still there",
			reserve("o2", time.Hour, line("B000000", 5)), contract.StatusReserved, ""},
		{"and now they are not",
			reserve("o3", time.Hour, contract.Line{SKU: "B000000", Qty: 1}), contract.StatusRejected, contract.ErrInsufficientStock},
		{"the same reserve again gets the same answer", reserve("o2", time.Hour, line("B000000", 5)), contract.StatusReserved, ""},
		{"a different reserve under the same id is a conflict", reserve("o2", time.Hour, line("B000000", 4)), contract.StatusRejected, contract.ErrConflict},
		{"ship before confirm", func() (contract.OrderResult, error) { return sys.Ship(ctx, "o2") }, contract.StatusRejected, contract.ErrInvalidTransition},
		{"confirm", func() (contract.OrderResult, error) { return sys.Confirm(ctx, "o2") }, contract.StatusConfirmed, ""},
		{"ship", func() (contract.OrderResult, error) { return sys.Ship(ctx, "o2") }, contract.StatusShipped, ""},
		{"release after ship", func() (contract.OrderResult, error) { return sys.Release(ctx, "o2") }, contract.StatusRejected, contract.ErrInvalidTransition},
		{"confirm of an order never reserved", func() (contract.OrderResult, error) { return sys.Confirm(ctx, "nope") }, contract.StatusRejected, contract.ErrUnknownOrder},
		{"a reservation with a 1 s TTL", reserve("o4", time.Second, line("B000001", 5)), contract.StatusReserved, ""},
	}
	for _, s := range steps {
		res, err := s.do()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got := ""
		if res.Error != nil {
			got = res.Error.Type
		}
		if res.Status != s.status || got != s.reason {
			t.Fatalf("%s: got %s %q (%+v), want %s %q", s.name, res.Status, got, res, s.status, s.reason)
		}
	}
	// Once o4 expired, its 5 units are back: a reserve of them is accepted
	// (the punctuator runs every second; retry until then).
	for i := 0; ; i++ {
		res, err := sys.Reserve(ctx, "o5-"+itoa(int64(i)), []contract.Line{line("B000001", 5)}, "web", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status == contract.StatusReserved {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the units of an expired reservation never came back: last answer %+v", res)
		}
		time.Sleep(500 * time.Millisecond)
	}
	res, err := sys.Confirm(ctx, "o4")
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != contract.StatusRejected || res.Error == nil || res.Error.Type != contract.ErrExpired {
		t.Fatalf("confirm of an expired reservation: got %+v, want rejected expired", res)
	}
}
