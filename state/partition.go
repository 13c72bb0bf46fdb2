package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Partition is one partition of a table owned by the engine's loop: a Pebble
// database with the table's keys and the offset of the changelog record up
// to which they are applied, always written in one batch with the data. It
// is safe for concurrent use: one writer (the loop, or a restore), any
// number of readers (the query API).
type Partition struct {
	db *pebble.DB
	// unflushed is when the oldest batch not yet on disk was applied (unix
	// ns), 0 when none is; flushStale flushes it once it is FlushAfter old.
	unflushed  atomic.Int64
	flushAfter time.Duration
	stop, done chan struct{}
}

// Write is one key of a batch: Value nil deletes the key.
type Write struct {
	Key   []byte
	Value []byte
}

// PartitionOptions configures OpenPartition. Zero fields take the defaults
// stated on them.
type PartitionOptions struct {
	// FS is the filesystem; default vfs.Default (tests pass vfs.NewMem()).
	FS vfs.FS
	// Cache is a block cache shared by the partitions of a process; default
	// one of 8 MiB for this partition alone.
	Cache *pebble.Cache
	// MemTableBytes is Pebble's memtable size; default 16 MiB. A hot key
	// (a ledger, a push state) rewritten every cycle reaches the disk once
	// per memtable, so a larger one saves flushes and compactions: 4 MiB
	// cost the engine's decisions about 10 % more CPU (bench/README.md,
	// round 7). It is memory only as far as it fills.
	MemTableBytes uint64
	// FlushAfter bounds how long an applied batch stays in memory only;
	// default a minute. A crash takes a store back to its last flush, and
	// its restore replays the changelog from there: the changelog must
	// still hold every tombstone written since, and it keeps them only
	// delete.retention.ms (a day). It bounds the replay's work too.
	FlushAfter time.Duration
}

// partitionMeta keys live beside the table's keys; table keys are written
// under dataPrefix, like the goka storage in this package.
var changelogOffsetKey = []byte{metaPrefix, 'c', 'l'}

// caughtUpKey holds when the store last had every changelog record written
// before then (unix ms): see CaughtUpAt.
var caughtUpKey = []byte{metaPrefix, 'c', 'u'}

// OpenPartition opens (or creates) the partition store at dir.
func OpenPartition(dir string, o PartitionOptions) (*Partition, error) {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.MemTableBytes == 0 {
		o.MemTableBytes = 16 << 20
	}
	// No write-ahead log: the changelog is the durable copy. A crash loses
	// the memtables, and with them the offset they had brought the store
	// to, together: the store reopens as of its last flush, a state it
	// really had, and its restore reads the changelog on from there.
	opts := &pebble.Options{FS: o.FS, Logger: quietLogger{}, MemTableSize: o.MemTableBytes, DisableWAL: true}
	opts.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	if o.Cache != nil {
		opts.Cache = o.Cache
	} else {
		c := pebble.NewCache(8 << 20)
		defer c.Unref() // the DB holds its own reference
		opts.Cache = c
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("state: open partition %s: %w", dir, err)
	}
	if o.FlushAfter == 0 {
		o.FlushAfter = time.Minute
	}
	p := &Partition{db: db, flushAfter: o.FlushAfter, stop: make(chan struct{}), done: make(chan struct{})}
	go p.flushStale()
	return p, nil
}

// flushStale flushes the memtable once its oldest batch is FlushAfter old
// (a busy store fills its memtable long before; a quiet one would keep its
// last batches in memory for as long as it runs).
func (p *Partition) flushStale() {
	defer close(p.done)
	t := time.NewTicker(max(p.flushAfter/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		if since := p.unflushed.Load(); since != 0 && time.Since(time.Unix(0, since)) >= p.flushAfter {
			p.unflushed.Store(0)     // a batch applied from now on goes to the memtable this flush leaves behind
			_, _ = p.db.AsyncFlush() // fails only on a read-only store; Pebble retries a flush that fails
		}
	}
}

// Get returns a copy of the value of key, or nil when it is absent.
func (p *Partition) Get(key []byte) ([]byte, error) {
	v, closer, err := p.db.Get(dataKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: get %q: %w", key, err)
	}
	out := append(make([]byte, 0, len(v)), v...)
	return out, closer.Close()
}

// ChangelogOffset is the offset of the last changelog record applied, or -1
// for a new store.
func (p *Partition) ChangelogOffset() (int64, error) {
	v, closer, err := p.db.Get(changelogOffsetKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return -1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("state: read the changelog offset: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: %d bytes", ErrCorruptOffset, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// Apply writes the batch and the changelog offset it brings the store to,
// atomically, to memory: the changelog is the durable copy, and a store
// that lost its last batches in a crash restores them from the offset it
// kept.
func (p *Partition) Apply(writes []Write, changelogOffset int64) error {
	return p.apply(writes, changelogOffset, time.Time{})
}

// ApplyCaughtUp is Apply for a store that, with this batch, has every
// changelog record written before at: the changelog's only writer applying
// its own transaction, or a reader at the changelog's end.
func (p *Partition) ApplyCaughtUp(writes []Write, changelogOffset int64, at time.Time) error {
	return p.apply(writes, changelogOffset, at)
}

// MarkCaughtUp records that the store has every changelog record written
// before at.
func (p *Partition) MarkCaughtUp(at time.Time) error {
	if err := p.db.Set(caughtUpKey, binary.BigEndian.AppendUint64(nil, uint64(at.UnixMilli())), pebble.NoSync); err != nil {
		return fmt.Errorf("state: record when the store was caught up: %w", err)
	}
	p.unflushed.CompareAndSwap(0, time.Now().UnixNano())
	return nil
}

// Clear empties the store, its changelog offset and caught-up mark
// included, as a new store: what it held is restored from the changelog's
// start.
func (p *Partition) Clear() error {
	b := p.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange([]byte{dataPrefix}, dataEnd, nil); err != nil {
		return err
	}
	for _, k := range [][]byte{changelogOffsetKey, caughtUpKey} {
		if err := b.Delete(k, nil); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("state: clear the store: %w", err)
	}
	p.unflushed.CompareAndSwap(0, time.Now().UnixNano())
	return nil
}

// CaughtUpAt is when the store last had every record of its changelog
// (ApplyCaughtUp, MarkCaughtUp); zero if that was never recorded. A
// compacted changelog keeps a tombstone only delete.retention.ms, so a
// store caught up longer ago than that may hold keys deleted since, which
// no replay from its offset deletes: it must be rebuilt from scratch.
func (p *Partition) CaughtUpAt() (time.Time, error) {
	v, closer, err := p.db.Get(caughtUpKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("state: read when the store was last caught up: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return time.Time{}, fmt.Errorf("%w: caught-up mark of %d bytes", ErrCorruptOffset, len(v))
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(v))), nil
}

func (p *Partition) apply(writes []Write, changelogOffset int64, caughtUp time.Time) error {
	b := p.db.NewBatch()
	defer b.Close()
	for _, w := range writes {
		var err error
		if w.Value == nil {
			err = b.Delete(dataKey(w.Key), nil)
		} else {
			err = b.Set(dataKey(w.Key), w.Value, nil)
		}
		if err != nil {
			return fmt.Errorf("state: batch %q: %w", w.Key, err)
		}
	}
	if err := b.Set(changelogOffsetKey, binary.BigEndian.AppendUint64(nil, uint64(changelogOffset)), nil); err != nil {
		return err
	}
	if !caughtUp.IsZero() {
		if err := b.Set(caughtUpKey, binary.BigEndian.AppendUint64(nil, uint64(caughtUp.UnixMilli())), nil); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("state: commit a batch of %d keys: %w", len(writes), err)
	}
	p.unflushed.CompareAndSwap(0, time.Now().UnixNano())
	return nil
}

// Scan calls fn for every key with prefix, in key order, until fn returns
// false. The value is valid only during the call.
func (p *Partition) Scan(prefix []byte, fn func(key, value []byte) bool) error {
	return p.ScanAfter(prefix, nil, fn)
}

// ScanAfter is Scan from the first key after after (all of prefix when
// after is nil): a long scan resumed where it stopped.
func (p *Partition) ScanAfter(prefix, after []byte, fn func(key, value []byte) bool) error {
	lo := dataKey(prefix)
	hi := prefixEnd(lo)
	if after != nil {
		lo = append(dataKey(after), 0) // the smallest key greater than after
	}
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("state: scan: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		if !fn(it.Key()[1:], it.Value()) {
			break
		}
	}
	if err := it.Error(); err != nil {
		it.Close()
		return fmt.Errorf("state: scan: %w", err)
	}
	return it.Close()
}

// closeFlushWait bounds how long Close waits for the memtables to reach the
// disk: Pebble retries a failed flush (a full disk, a removed directory)
// for as long as the database is open.
const closeFlushWait = 10 * time.Second

// Close writes the memtables to disk, so that a restart restores only what
// came after, and closes the database. A flush that cannot finish within
// closeFlushWait is given up: the store reopens as of its last flush.
func (p *Partition) Close() error {
	close(p.stop)
	<-p.done
	var flushErr error
	if done, err := p.db.AsyncFlush(); err != nil {
		flushErr = err
	} else {
		select {
		case <-done:
		case <-time.After(closeFlushWait):
			flushErr = fmt.Errorf("not done after %s (is the disk full or gone?)", closeFlushWait)
		}
	}
	if err := p.db.Close(); err != nil {
		return fmt.Errorf("state: close partition: %w", err)
	}
	if flushErr != nil {
		return fmt.Errorf("state: flush a partition before closing: %w; it restores the rest from its changelog when next opened", flushErr)
	}
	return nil
}
