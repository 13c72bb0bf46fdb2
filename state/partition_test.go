package state

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// A partition store has no write-ahead log: a crash takes it back to a
// state it had, its data and changelog offset together, never a mix; a
// clean close keeps everything.
func TestPartitionCrashKeepsDataAndOffsetTogether(t *testing.T) {
	fs := vfs.NewCrashableMem()
	open := func(fs vfs.FS) *Partition {
		t.Helper()
		p, err := OpenPartition("/p", PartitionOptions{FS: fs, MemTableBytes: 256 << 10}) // small: flushes happen
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Every batch sets every key to the batch's offset: a store whose keys
	// disagree with each other or with its offset mixes batches.
	const keys = 50
	check := func(p *Partition, what string, want func(int64) bool) int64 {
		t.Helper()
		off, err := p.ChangelogOffset()
		if err != nil {
			t.Fatal(err)
		}
		if !want(off) {
			t.Fatalf("%s: the store is at offset %d", what, off)
		}
		for k := range keys {
			v, err := p.Get(fmt.Appendf(nil, "k%d", k))
			switch {
			case err != nil:
				t.Fatal(err)
			case off == -1 && v != nil, off != -1 && strings.TrimSpace(string(v)) != fmt.Sprint(off):
				t.Fatalf("%s: key k%d is %q in a store at offset %d", what, k, v, off)
			}
		}
		return off
	}
	apply := func(p *Partition, from, to int64) {
		for off := from; off <= to; off++ {
			w := make([]Write, keys)
			for k := range w {
				w[k] = Write{Key: fmt.Appendf(nil, "k%d", k), Value: fmt.Appendf(nil, "%-400d", off)} // large: the memtable fills
			}
			if err := p.Apply(w, off); err != nil {
				t.Fatal(err)
			}
		}
	}
	p := open(fs)
	apply(p, 1, 100)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p = open(fs)
	check(p, "after a clean close", func(off int64) bool { return off == 100 })
	rng := rand.New(rand.NewPCG(1, 2))
	flushed := false // some crash found batches after the clean close: the test saw flushes
	for round := range 20 {
		last := int64(100 + round*100)
		apply(p, last+1, last+100)
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(rng.Uint64(), 0))})
		q := open(crashed)
		off := check(q, fmt.Sprintf("round %d, after a crash", round), func(off int64) bool { return off >= 100 && off <= last+100 })
		flushed = flushed || off > 100
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
	}
	_ = p.Close()
	if !flushed {
		t.Error("no crash kept a batch written after the clean close: the memtable never reached the disk, and the test checked nothing")
	}
}

// A quiet store's last batches reach the disk on their own (FlushAfter),
// so a crash takes it back only so far.
func TestPartitionFlushesAQuietStore(t *testing.T) {
	fs := vfs.NewCrashableMem()
	p, err := OpenPartition("/p", PartitionOptions{FS: fs, FlushAfter: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Apply([]Write{{Key: []byte("milk"), Value: []byte("7")}}, 41); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		q, err := OpenPartition("/p", PartitionOptions{FS: fs.CrashClone(vfs.CrashCloneCfg{})})
		if err != nil {
			t.Fatal(err)
		}
		off, _ := q.ChangelogOffset()
		v, _ := q.Get([]byte("milk"))
		_ = q.Close()
		if off == 41 && string(v) == "7" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a minute after the batch, a crash still takes the store back to offset %d (milk %q)", off, v)
		}
	}
}

// The caught-up mark survives a reopen, moves only with ApplyCaughtUp or
// MarkCaughtUp, and a new store has none.
func TestPartitionRemembersWhenItWasCaughtUp(t *testing.T) {
	dir := t.TempDir()
	p, err := OpenPartition(dir, PartitionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if at, err := p.CaughtUpAt(); err != nil || !at.IsZero() {
		t.Fatalf("a new store's caught-up mark = %v, %v; want none", at, err)
	}
	at := time.UnixMilli(time.Now().UnixMilli()).Add(-time.Hour)
	if err := p.ApplyCaughtUp([]Write{{Key: []byte("milk"), Value: []byte("7")}}, 41, at); err != nil {
		t.Fatal(err)
	}
	if err := p.Apply([]Write{{Key: []byte("milk"), Value: []byte("6")}}, 42); err != nil { // a restore's batch, behind
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if p, err = OpenPartition(dir, PartitionOptions{}); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	got, err := p.CaughtUpAt()
	if off, _ := p.ChangelogOffset(); err != nil || !got.Equal(at) || off != 42 {
		t.Fatalf("after a reopen: caught up at %v (err %v), offset %d; want %v and 42", got, err, off, at)
	}
	later := at.Add(time.Minute)
	if err := p.MarkCaughtUp(later); err != nil {
		t.Fatal(err)
	}
	got, err = p.CaughtUpAt()
	if off, _ := p.ChangelogOffset(); err != nil || !got.Equal(later) || off != 42 {
		t.Fatalf("after MarkCaughtUp: caught up at %v (err %v), offset %d; want %v and 42 kept", got, err, off, later)
	}
	if err := p.Clear(); err != nil {
		t.Fatal(err)
	}
	got, _ = p.CaughtUpAt()
	v, _ := p.Get([]byte("milk"))
	if off, _ := p.ChangelogOffset(); !got.IsZero() || off != -1 || v != nil {
		t.Fatalf("after Clear: caught up at %v, offset %d, milk %q; want a new store's none, -1, none", got, off, v)
	}
}
