package state

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/lovoo/goka/storage"
)

func TestPebbleConformance(t *testing.T) {
	runConformance(t, func(t *testing.T) storage.Storage {
		return openStore(t, Options{Dir: "/db", FS: vfs.NewMem(), RecoveryBatchBytes: 512})
	})
}

func TestMemoryConformance(t *testing.T) {
	runConformance(t, func(t *testing.T) storage.Storage {
		s, err := NewMemoryBuilder(Options{})("topic", 0)
		must(t, err)
		must(t, s.Open())
		return s
	})
}

// openStore builds and opens topic.0 with opts.
func openStore(t testing.TB, opts Options) storage.Storage {
	t.Helper()
	b, err := NewBuilder(opts)
	must(t, err)
	s, err := b("topic", 0)
	must(t, err)
	must(t, s.Open())
	return s
}

func TestOptionsValidate(t *testing.T) {
	err := (&Options{CacheBytes: -1, RecoveryBatchBytes: -1}).Validate()
	if !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("Validate = %v, want ErrInvalidOptions", err)
	}
	for _, field := range []string{"Dir", "CacheBytes", "RecoveryBatchBytes"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("Validate does not report %s: %v", field, err)
		}
	}
	if err := (&Options{Dir: "x"}).Validate(); err != nil {
		t.Fatalf("Validate(minimal) = %v", err)
	}
	if _, err := NewBuilder(Options{}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("NewBuilder without Dir = %v", err)
	}
	d := Options{}.withDefaults()
	if d.FS != vfs.Default || d.CacheBytes != 64<<20 || d.RecoveryBatchBytes != 1<<20 {
		t.Fatalf("defaults = %+v", d)
	}
}

func TestBuilderRejectsBadTopics(t *testing.T) {
	b, err := NewBuilder(Options{Dir: "/db", FS: vfs.NewMem()})
	must(t, err)
	for _, tc := range []struct {
		name      string
		topic     string
		partition int32
	}{
		{"empty", "", 0}, {"dotdot", "..", 0}, {"slash", "a/b", 0},
		{"backslash", `a\b`, 0}, {"negative partition", "t", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := b(tc.topic, tc.partition); !errors.Is(err, ErrInvalidTopic) {
				t.Fatalf("err = %v, want ErrInvalidTopic", err)
			}
		})
	}
}

func TestBuilderLayoutAndHooks(t *testing.T) {
	fs := vfs.NewMem()
	var recovered, closed []string
	b, err := NewBuilder(Options{
		Dir: "/state", FS: fs, CacheBytes: 1 << 20,
		OnRecovered: func(topic string, p int32, s storage.Storage) {
			if s == nil {
				t.Error("OnRecovered got nil storage")
			}
			recovered = append(recovered, fmt.Sprintf("%s.%d", topic, p))
		},
		OnClose: func(topic string, p int32) { closed = append(closed, fmt.Sprintf("%s.%d", topic, p)) },
	})
	must(t, err)
	s1, err := b("orders", 3)
	must(t, err)
	s2, err := b("orders", 4)
	must(t, err)
	if _, err := fs.Stat("/state/orders.3"); err != nil {
		t.Fatalf("store dir: %v", err)
	}
	if _, err := b("orders", 3); err == nil || !strings.Contains(err.Error(), "open pebble /state/orders.3") {
		t.Fatalf("opening a store twice = %v, want lock error with context", err)
	}
	must(t, s1.MarkRecovered())
	must(t, s1.MarkRecovered()) // no-op, no second hook call
	must(t, s1.Close())
	must(t, s2.Close())
	// The shared cache was released with the last store; a new one is made.
	s3, err := b("orders", 3)
	must(t, err)
	must(t, s3.Close())
	if fmt.Sprint(recovered) != "[orders.3]" || fmt.Sprint(closed) != "[orders.3 orders.4 orders.3]" {
		t.Fatalf("hooks: recovered %v closed %v", recovered, closed)
	}
}

func TestPebbleReopenAfterCleanClose(t *testing.T) {
	for _, tc := range []struct {
		name      string
		recovered bool
	}{{"closed while recovering", false}, {"closed while processing", true}} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{Dir: "/db", FS: vfs.NewMem(), RecoveryBatchBytes: 1 << 10}
			s := openStore(t, opts)
			if tc.recovered {
				must(t, s.MarkRecovered())
			}
			for i := range 100 {
				must(t, s.Set(fmt.Sprintf("k%03d", i), []byte(fmt.Sprint(i))))
				must(t, s.SetOffset(int64(i)))
			}
			must(t, s.Delete("k050"))
			must(t, s.Close())

			s = openStore(t, opts)
			defer s.Close()
			if o, err := s.GetOffset(-1); err != nil || o != 99 {
				t.Fatalf("offset after reopen = %d, %v", o, err)
			}
			wantGet(t, s, "k099", "99")
			wantMissing(t, s, "k050")
			it := iter(t, s, nil, nil)
			n := 0
			for it.Next() {
				n++
			}
			it.Release()
			if n != 99 {
				t.Fatalf("reopened store has %d keys, want 99", n)
			}
		})
	}
}

func TestPebbleReadsSeeRecoveryBatch(t *testing.T) {
	s := openStore(t, Options{Dir: "/db", FS: vfs.NewMem()})
	defer s.Close()
	must(t, s.Set("a", []byte("1")))
	must(t, s.Set("b", []byte("2")))
	must(t, s.Delete("b"))
	wantGet(t, s, "a", "1")
	wantMissing(t, s, "b")
}

func TestCloseReleasesLeakedIterators(t *testing.T) {
	s := openStore(t, Options{Dir: "/db", FS: vfs.NewMem()})
	must(t, s.MarkRecovered())
	must(t, s.Set("a", []byte("1")))
	it := iter(t, s, nil, nil)
	if !it.Next() {
		t.Fatal("empty iterator")
	}
	// Pebble reports leaked iterators from Close; ours must not.
	must(t, s.Close())
	if it.Key() != nil || !errors.Is(it.Err(), ErrClosed) {
		t.Fatalf("leaked iterator after Close: key %q err %v", it.Key(), it.Err())
	}
}
