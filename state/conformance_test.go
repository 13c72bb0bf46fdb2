package state

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/lovoo/goka/storage"
)

// runConformance checks the storage.Storage contract both implementations
// promise. open must return an opened, empty store; the suite closes it.
func runConformance(t *testing.T, open func(t *testing.T) storage.Storage) {
	// Every subtest runs both before MarkRecovered (writes buffered) and
	// after (writes committed immediately).
	for _, mode := range []struct {
		name      string
		recovered bool
	}{{"recovering", false}, {"recovered", true}} {
		t.Run(mode.name, func(t *testing.T) {
			fresh := func(t *testing.T) storage.Storage {
				t.Helper()
				s := open(t)
				if mode.recovered {
					must(t, s.MarkRecovered())
				}
				return s
			}
			for _, tc := range conformanceCases {
				t.Run(tc.name, func(t *testing.T) {
					s := fresh(t)
					defer func() {
						if err := s.Close(); err != nil && !errors.Is(err, ErrClosed) {
							t.Errorf("Close: %v", err)
						}
					}()
					tc.run(t, s)
				})
			}
		})
	}
}

var conformanceCases = []struct {
	name string
	run  func(t *testing.T, s storage.Storage)
}{
	{"get set has delete", func(t *testing.T, s storage.Storage) {
		must(t, s.Set("a", []byte("1")))
		wantGet(t, s, "a", "1")
		must(t, s.Set("a", []byte("2")))
		wantGet(t, s, "a", "2")
		must(t, s.Set("empty", nil))
		if v, err := s.Get("empty"); err != nil || v == nil || len(v) != 0 {
			t.Fatalf("Get(empty) = %q, %v; want non-nil empty", v, err)
		}
		must(t, s.Delete("a"))
		wantMissing(t, s, "a")
		must(t, s.Delete("never-set"))
	}},
	{"missing key", func(t *testing.T, s storage.Storage) {
		wantMissing(t, s, "nope")
	}},
	{"binary keys", func(t *testing.T, s storage.Storage) {
		for _, k := range []string{"", "\x00", "\xff\xff", "m", "moffset"} {
			must(t, s.Set(k, []byte("v"+k)))
			wantGet(t, s, k, "v"+k)
		}
		wantKeys(t, iter(t, s, nil, nil), "", "\x00", "m", "moffset", "\xff\xff")
	}},
	{"get returns a copy", func(t *testing.T, s storage.Storage) {
		buf := []byte("abc")
		must(t, s.Set("k", buf))
		buf[0] = 'X'
		v, err := s.Get("k")
		must(t, err)
		v[1] = 'Y'
		wantGet(t, s, "k", "abc")
	}},
	{"iterator order and values", func(t *testing.T, s storage.Storage) {
		for _, k := range []string{"c", "a", "b", "ab"} {
			must(t, s.Set(k, []byte("v-"+k)))
		}
		it := iter(t, s, nil, nil)
		defer it.Release()
		if it.Key() != nil {
			t.Fatalf("Key before Next = %q, want nil", it.Key())
		}
		for _, k := range []string{"a", "ab", "b", "c"} {
			if !it.Next() || string(it.Key()) != k {
				t.Fatalf("Next: key %q, want %q", it.Key(), k)
			}
			if v, err := it.Value(); err != nil || string(v) != "v-"+k {
				t.Fatalf("Value(%s) = %q, %v", k, v, err)
			}
		}
		if it.Next() || it.Key() != nil || it.Err() != nil {
			t.Fatalf("exhausted iterator: key %q err %v", it.Key(), it.Err())
		}
	}},
	{"ranges", func(t *testing.T, s storage.Storage) {
		for _, k := range []string{"a", "a1", "a2", "ab", "b", "b1", "\xff", "\xff\x01"} {
			must(t, s.Set(k, []byte(k)))
		}
		for _, rc := range []struct {
			name         string
			start, limit []byte
			want         []string
		}{
			{"half open", []byte("a1"), []byte("b"), []string{"a1", "a2", "ab"}},
			{"limit only", nil, []byte("a2"), []string{"a", "a1"}},
			{"prefix", []byte("a"), nil, []string{"a", "a1", "a2", "ab"}},
			{"prefix empty limit", []byte("b"), []byte{}, []string{"b", "b1"}},
			{"prefix 0xff", []byte("\xff"), nil, []string{"\xff", "\xff\x01"}},
			{"all", nil, nil, []string{"a", "a1", "a2", "ab", "b", "b1", "\xff", "\xff\x01"}},
			{"start after limit", []byte("b"), []byte("a"), nil},
			{"start equals limit", []byte("a"), []byte("a"), nil},
			{"no match", []byte("zz"), nil, nil},
		} {
			t.Run(rc.name, func(t *testing.T) {
				wantKeys(t, iter(t, s, rc.start, rc.limit), rc.want...)
			})
		}
	}},
	{"seek", func(t *testing.T, s storage.Storage) {
		for _, k := range []string{"k1", "k3", "k5", "x"} {
			must(t, s.Set(k, []byte(k)))
		}
		it := iter(t, s, []byte("k"), nil)
		defer it.Release()
		// goleveldb semantics, which goka's merge iterator relies on: Seek
		// positions on the first key >= target.
		if !it.Seek([]byte("k2")) || string(it.Key()) != "k3" {
			t.Fatalf("Seek(k2) at %q, want k3", it.Key())
		}
		if v, _ := it.Value(); string(v) != "k3" {
			t.Fatalf("Value after Seek = %q", v)
		}
		if !it.Next() || string(it.Key()) != "k5" {
			t.Fatalf("Next after Seek at %q, want k5", it.Key())
		}
		if !it.Seek([]byte("a")) || string(it.Key()) != "k1" {
			t.Fatalf("Seek below range at %q, want k1", it.Key())
		}
		if it.Seek([]byte("k6")) || it.Key() != nil {
			t.Fatalf("Seek past range at %q, want none", it.Key())
		}
		it.Release()
		if it.Next() || it.Seek([]byte("k1")) || it.Key() != nil {
			t.Fatal("released iterator still usable")
		}
		it.Release() // idempotent
	}},
	{"iterator is a snapshot", func(t *testing.T, s storage.Storage) {
		must(t, s.Set("a", []byte("old")))
		must(t, s.Set("b", []byte("b")))
		it := iter(t, s, nil, nil)
		defer it.Release()
		must(t, s.Set("a", []byte("new")))
		must(t, s.Delete("b"))
		must(t, s.Set("c", []byte("c")))
		if !it.Next() || string(it.Key()) != "a" {
			t.Fatalf("first key %q", it.Key())
		}
		if v, _ := it.Value(); string(v) != "old" {
			t.Fatalf("snapshot value %q, want old", v)
		}
		if !it.Next() || string(it.Key()) != "b" || it.Next() {
			t.Fatal("snapshot does not hold exactly a, b")
		}
		wantGet(t, s, "a", "new")
	}},
	{"offset", func(t *testing.T, s storage.Storage) {
		if o, err := s.GetOffset(-7); err != nil || o != -7 {
			t.Fatalf("GetOffset default = %d, %v", o, err)
		}
		for _, o := range []int64{0, 42, 1 << 40, 3} {
			must(t, s.SetOffset(o))
			if got, err := s.GetOffset(-1); err != nil || got != o {
				t.Fatalf("GetOffset = %d, %v; want %d", got, err, o)
			}
		}
	}},
	{"offset is not a key", func(t *testing.T, s storage.Storage) {
		must(t, s.SetOffset(99))
		must(t, s.Set("k", []byte("v")))
		must(t, s.SetOffset(100))
		wantKeys(t, iter(t, s, nil, nil), "k")
		wantKeys(t, iter(t, s, []byte("m"), nil))
		wantMissing(t, s, "offset")
	}},
	{"closed store", func(t *testing.T, s storage.Storage) {
		must(t, s.Set("k", []byte("v")))
		it := iter(t, s, nil, nil)
		must(t, s.Close())
		if it.Next() || !errors.Is(it.Err(), ErrClosed) {
			t.Fatalf("iterator after Close: Err %v", it.Err())
		}
		it.Release()
		_, errIt := s.Iterator()
		_, errRange := s.IteratorWithRange(nil, nil)
		_, errGet := s.Get("k")
		_, errHas := s.Has("k")
		_, errOff := s.GetOffset(0)
		for name, err := range map[string]error{
			"Set": s.Set("k", nil), "Delete": s.Delete("k"), "SetOffset": s.SetOffset(1),
			"Get": errGet, "Has": errHas, "GetOffset": errOff, "Iterator": errIt,
			"IteratorWithRange": errRange, "MarkRecovered": s.MarkRecovered(),
			"Open": s.Open(), "Close": s.Close(),
		} {
			if !errors.Is(err, ErrClosed) {
				t.Errorf("%s after Close = %v, want ErrClosed", name, err)
			}
		}
	}},
	{"concurrent readers while writing", func(t *testing.T, s storage.Storage) {
		const n = 300
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for r := range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					k := fmt.Sprintf("k%03d", r*7%n)
					if _, err := s.Get(k); err != nil {
						t.Error(err)
						return
					}
					if _, err := s.Has(k); err != nil {
						t.Error(err)
						return
					}
					if _, err := s.GetOffset(0); err != nil {
						t.Error(err)
						return
					}
					it, err := s.IteratorWithRange([]byte("k"), nil)
					if err != nil {
						t.Error(err)
						return
					}
					var prev []byte
					for it.Next() {
						if prev != nil && bytes.Compare(prev, it.Key()) >= 0 {
							t.Errorf("iterator out of order: %q then %q", prev, it.Key())
						}
						prev = append(prev[:0], it.Key()...)
					}
					it.Release()
				}
			})
		}
		// goka's producer callback sets offsets from its own goroutine.
		offsets := make(chan int64, n)
		wg.Go(func() {
			for o := range offsets {
				if err := s.SetOffset(o); err != nil {
					t.Error(err)
				}
			}
		})
		for i := range n {
			must(t, s.Set(fmt.Sprintf("k%03d", i), bytes.Repeat([]byte{byte(i)}, 100)))
			if i%10 == 0 {
				must(t, s.Delete(fmt.Sprintf("k%03d", i)))
			}
			offsets <- int64(i)
		}
		close(offsets)
		close(stop)
		wg.Wait()
		if o, err := s.GetOffset(-1); err != nil || o != n-1 {
			t.Fatalf("GetOffset = %d, %v", o, err)
		}
		wantGet(t, s, "k001", string(bytes.Repeat([]byte{1}, 100)))
		wantMissing(t, s, "k010")
	}},
}
