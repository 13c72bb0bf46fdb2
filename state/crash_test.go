package state

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/lovoo/goka/storage"
)

func crashKey(i int) string { return fmt.Sprintf("key-%05d", i) }

func crashValue(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 100+i%50) }

type crashPoint struct {
	fs      *vfs.MemFS
	written int // highest i whose Set had returned when the clone was taken
}

// TestPebbleCrashKeepsOffsetBehindData crashes a store mid-stream (by
// cloning a crashable MemFS with some or none of its unsynced data) and
// checks, for every crash point, that each key written at or before the
// recovered offset survived: the changelog replay starting after that offset
// would otherwise never restore it.
func TestPebbleCrashKeepsOffsetBehindData(t *testing.T) {
	for _, tc := range []struct {
		name       string
		sync       bool
		processing bool
		unsynced   int // percent of unsynced 4 KiB blocks that survive
	}{
		{"recovery nosync os-crash", false, false, 0},
		{"recovery nosync torn", false, false, 50},
		{"recovery nosync process-crash", false, false, 100},
		{"recovery sync os-crash", true, false, 0},
		{"processing nosync os-crash", false, true, 0},
		{"processing nosync torn", false, true, 50},
		{"processing nosync process-crash", false, true, 100},
		{"processing sync os-crash", true, true, 0},
		{"processing sync torn", true, true, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			opts := Options{Dir: "/db", FS: fs, Sync: tc.sync, RecoveryBatchBytes: 4 << 10}
			s := openStore(t, opts)
			if tc.processing {
				must(t, s.MarkRecovered())
			}
			// In processing mode offsets arrive from another goroutine, like
			// goka's producer callback, only after the Set they cover.
			offsets := make(chan int64, 64)
			var wg sync.WaitGroup
			wg.Go(func() {
				for o := range offsets {
					if err := s.SetOffset(o); err != nil {
						t.Error(err)
					}
				}
			})
			rng := rand.New(rand.NewPCG(1, uint64(len(tc.name))))
			var points []crashPoint
			const n = 2000
			for i := range n {
				must(t, s.Set(crashKey(i), crashValue(i)))
				if tc.processing {
					offsets <- int64(i)
				} else {
					must(t, s.SetOffset(int64(i)))
				}
				if i%173 == 0 || i == n-1 {
					clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: tc.unsynced, RNG: rng})
					points = append(points, crashPoint{clone, i})
				}
			}
			close(offsets)
			wg.Wait()
			must(t, s.Close())

			restored := 0
			for _, p := range points {
				o := checkCrashPoint(t, opts, p)
				if o >= 0 {
					restored++
				}
				// Synced commits are durable: with Sync every processed
				// Set survives an OS crash.
				if tc.sync && tc.processing && tc.unsynced == 0 {
					reopened := openStore(t, Options{Dir: "/db", FS: p.fs})
					wantGet(t, reopened, crashKey(p.written), string(crashValue(p.written)))
					must(t, reopened.Close())
				}
			}
			t.Logf("%d of %d crash points recovered an offset", restored, len(points))
			if tc.sync && restored < len(points)/2 {
				t.Fatalf("only %d of %d synced crash points kept an offset", restored, len(points))
			}
		})
	}
}

// checkCrashPoint reopens the crashed filesystem and returns the recovered
// offset (-1 if none) after checking it against the data.
func checkCrashPoint(t *testing.T, opts Options, p crashPoint) int64 {
	t.Helper()
	opts.FS = p.fs
	s := openStore(t, opts)
	defer func() { must(t, s.Close()) }()
	o, err := s.GetOffset(-1)
	must(t, err)
	if o > int64(p.written) {
		t.Fatalf("crash after %d: offset %d is ahead of every write", p.written, o)
	}
	for i := 0; i <= int(o); i++ {
		v, err := s.Get(crashKey(i))
		must(t, err)
		if !bytes.Equal(v, crashValue(i)) {
			t.Fatalf("crash after %d: offset %d but key %d lost", p.written, o, i)
		}
	}
	return o
}

// TestPebbleSyncPoints: even without Sync, the state recovered from the
// changelog must survive an OS crash right after MarkRecovered, and
// everything must survive one right after Close.
func TestPebbleSyncPoints(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after func(s storage.Storage) error
	}{
		{"MarkRecovered", func(s storage.Storage) error { return s.MarkRecovered() }},
		{"MarkRecovered after unsynced flush", func(s storage.Storage) error {
			// Iterator commits the recovery batch unsynced, leaving nothing
			// pending for MarkRecovered to commit.
			it, err := s.Iterator()
			if err != nil {
				return err
			}
			it.Release()
			return s.MarkRecovered()
		}},
		{"Close", func(s storage.Storage) error { return s.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			opts := Options{Dir: "/db", FS: fs, RecoveryBatchBytes: 1 << 20}
			s := openStore(t, opts)
			for i := range 500 {
				must(t, s.Set(crashKey(i), crashValue(i)))
				must(t, s.SetOffset(int64(i)))
			}
			must(t, tc.after(s))
			crashed := crashPoint{fs.CrashClone(vfs.CrashCloneCfg{}), 499}
			s.Close()
			if o := checkCrashPoint(t, opts, crashed); o != 499 {
				t.Fatalf("offset after crash = %d, want 499", o)
			}
		})
	}
}

// TestPebbleIdleOffsetPersisted: an offset acked after the last write must
// reach disk within the flush interval even if no write follows.
func TestPebbleIdleOffsetPersisted(t *testing.T) {
	fs := vfs.NewCrashableMem()
	opts := Options{Dir: "/db", FS: fs, Sync: true}
	s := openStore(t, opts)
	must(t, s.MarkRecovered())
	must(t, s.Set("k", []byte("v")))
	must(t, s.SetOffset(7))
	time.Sleep(offsetFlushInterval + 500*time.Millisecond)
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	must(t, s.Close())
	opts.FS = crashed
	s = openStore(t, opts)
	defer s.Close()
	if o, err := s.GetOffset(-1); err != nil || o != 7 {
		t.Fatalf("offset after idle crash = %d, %v; want 7", o, err)
	}
}
