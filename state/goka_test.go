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
