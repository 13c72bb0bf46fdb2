package state

import (
	"fmt"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/lovoo/goka/storage"
)

// TestGokaLifecycle drives each store the way goka's PartitionTable and
// processor do: GetOffset at start, Set/SetOffset pairs while replaying the
// changelog, MarkRecovered, then Set with SetOffset arriving asynchronously
// from the producer callback, and finally a restart.
func TestGokaLifecycle(t *testing.T) {
	fs := vfs.NewMem()
	pebbleBuilder, err := NewBuilder(Options{Dir: "/db", FS: fs, RecoveryBatchBytes: 2 << 10})
	must(t, err)
	for _, tc := range []struct {
		name       string
		builder    storage.Builder
		persistent bool
	}{
		{"pebble", pebbleBuilder, true},
		{"memory", NewMemoryBuilder(Options{}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.builder("table", 1)
			must(t, err)
			must(t, s.Open())
			if o, err := s.GetOffset(-3); err != nil || o != -3 {
				t.Fatalf("fresh GetOffset = %d, %v", o, err)
			}

			// Recovery: goka's storeEvent calls Update (Set or Delete) then
			// SetOffset for every changelog message.
			for off := range int64(1000) {
				key := fmt.Sprintf("user-%d", off%300)
				if off%7 == 0 {
					must(t, s.Delete(key))
				} else {
					must(t, s.Set(key, fmt.Appendf(nil, "v%d", off)))
				}
				must(t, s.SetOffset(off))
			}
			if o, err := s.GetOffset(-3); err != nil || o != 999 {
				t.Fatalf("GetOffset during recovery = %d, %v", o, err)
			}
			// Reads must see writes still in the recovery batch.
			wantGet(t, s, "user-299", "v899")
			wantMissing(t, s, "user-94") // last written at 994, a delete
			must(t, s.MarkRecovered())

			// Processing: Set, then the changelog ack sets the offset later
			// from another goroutine.
			var wg sync.WaitGroup
			acks := make(chan int64, 16)
			wg.Go(func() {
				for off := range acks {
					if err := s.SetOffset(off); err != nil {
						t.Error(err)
					}
				}
			})
			for off := int64(1000); off < 1100; off++ {
				must(t, s.Set(fmt.Sprintf("user-%d", off%300), fmt.Appendf(nil, "v%d", off)))
				acks <- off
			}
			close(acks)
			wg.Wait()
			if o, err := s.GetOffset(-3); err != nil || o != 1099 {
				t.Fatalf("GetOffset after processing = %d, %v", o, err)
			}
			must(t, s.Close())

			if !tc.persistent {
				return
			}
			s, err = tc.builder("table", 1)
			must(t, err)
			must(t, s.Open())
			defer s.Close()
			if o, err := s.GetOffset(-3); err != nil || o != 1099 {
				t.Fatalf("GetOffset after restart = %d, %v", o, err)
			}
			wantGet(t, s, "user-199", "v1099")
		})
	}
}

// TestGokaMultiIterator checks the iterator contract against its real
// consumer: goka's views merge per-partition iterators with
// storage.NewMultiIterator, which reads Key right after Next or Seek.
func TestGokaMultiIterator(t *testing.T) {
	pebbleBuilder, err := NewBuilder(Options{Dir: "/db", FS: vfs.NewMem()})
	must(t, err)
	for _, tc := range []struct {
		name    string
		builder storage.Builder
	}{{"pebble", pebbleBuilder}, {"memory", NewMemoryBuilder(Options{})}} {
		t.Run(tc.name, func(t *testing.T) {
			var iters []storage.Iterator
			for p := range int32(2) {
				s, err := tc.builder("view", p)
				must(t, err)
				defer s.Close()
				must(t, s.MarkRecovered())
				for i := p; i < 10; i += 2 {
					must(t, s.Set(fmt.Sprintf("k%d", i), []byte{byte(i)}))
				}
				it, err := s.Iterator()
				must(t, err)
				iters = append(iters, it)
			}
			m := storage.NewMultiIterator(iters)
			defer m.Release()
			var got []string
			for m.Next() {
				got = append(got, string(m.Key()))
			}
			if fmt.Sprint(got) != "[k0 k1 k2 k3 k4 k5 k6 k7 k8 k9]" {
				t.Fatalf("merged keys %v", got)
			}
			if !m.Seek([]byte("k35")) || !m.Next() || string(m.Key()) != "k4" {
				t.Fatalf("merged Seek(k35)+Next at %q, want k4", m.Key())
			}
		})
	}
}
