package state

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// pebbleStore implements storage.Storage.
//
// Locking: mu guards the lifetime of db (Close takes it exclusively, every
// other method shares it). wmu serialises writers, because the recovery
// batch and the persisted offset are single-writer state and SetOffset (from
// goka's producer callback) and the flush ticker race with Set.
type pebbleStore struct {
	opts      Options
	topic     string
	partition int32
	wo        *pebble.WriteOptions
	release   func()

	mu     sync.RWMutex
	closed bool
	db     *pebble.DB
	iters  iterRegistry

	wmu       sync.Mutex
	batch     *pebble.Batch // indexed recovery batch; nil once recovered
	persisted uint64        // offset.version last committed
	recovered atomic.Bool   // set under wmu; read without it to pick a path
	failed    error         // sticky: a failed commit may have lost writes

	offset offsetCell

	startOnce sync.Once
	stop      chan struct{}
	done      sync.WaitGroup
}

func newPebbleStore(db *pebble.DB, opts Options, topic string, partition int32, release func()) (*pebbleStore, error) {
	s := &pebbleStore{
		opts: opts, topic: topic, partition: partition,
		wo: pebble.NoSync, release: release,
		db: db, stop: make(chan struct{}),
	}
	if opts.Sync {
		s.wo = pebble.Sync
	}
	v, closer, err := db.Get(offsetKey)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("read offset: %w", err)
	default:
		o, derr := decodeOffset(v)
		closer.Close()
		if derr != nil {
			return nil, derr
		}
		s.offset.set(o)
		s.persisted = s.offset.snapshot().version
	}
	s.batch = db.NewIndexedBatch()
	return s, nil
}

// Open starts the ticker that persists offsets of an idle store.
func (s *pebbleStore) Open() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.startOnce.Do(func() {
		s.done.Add(1)
		go s.flushLoop()
	})
	return nil
}

func (s *pebbleStore) flushLoop() {
	defer s.done.Done()
	t := time.NewTicker(offsetFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.RLock()
			if !s.closed {
				s.wmu.Lock()
				// An error here resurfaces on the next write or on Close.
				_ = s.flushLocked(s.wo)
				s.wmu.Unlock()
			}
			s.mu.RUnlock()
		}
	}
}

// flushLocked commits the recovery batch, or during processing the offset
// alone, if anything is pending. Callers hold mu (shared) and wmu. After a
// failed commit nothing more is committed: a later offset would claim writes
// that were lost.
func (s *pebbleStore) flushLocked(wo *pebble.WriteOptions) error {
	if s.failed != nil {
		return s.failed
	}
	if s.batch != nil {
		if s.batch.Empty() && s.offset.snapshot().version == s.persisted {
			return nil
		}
		ver := s.addOffset(s.batch)
		err := s.batch.Commit(wo)
		// A committed batch may be retained by Pebble, so it is not reused.
		s.batch.Close()
		s.batch = s.db.NewIndexedBatch()
		if err != nil {
			s.failed = fmt.Errorf("commit recovery batch: %w", err)
			return s.failed
		}
		s.persisted = ver
		return nil
	}
	if s.offset.snapshot().version == s.persisted {
		return nil
	}
	return s.commit(func(*pebble.Batch) error { return nil })
}

// addOffset appends the newest offset to b if it is not yet persisted and
// returns the version b will persist.
func (s *pebbleStore) addOffset(b *pebble.Batch) uint64 {
	snap := s.offset.snapshot()
	if snap.set && snap.version != s.persisted {
		// The batch copies the value; an error is impossible for a Set.
		_ = b.Set(offsetKey, encodeOffset(snap.value), nil)
	}
	return snap.version
}

// commit writes op and the newest offset as one batch. Goka hands in an
// offset only after the write it covers returned, so the offset written here
// never runs ahead of the data. Callers hold mu (shared) and wmu.
func (s *pebbleStore) commit(op func(*pebble.Batch) error) error {
	b := s.db.NewBatch()
	defer b.Close()
	if err := op(b); err != nil {
		return err
	}
	ver := s.addOffset(b)
	if err := b.Commit(s.wo); err != nil {
		s.failed = fmt.Errorf("commit: %w", err)
		return s.failed
	}
	s.persisted = ver
	return nil
}

// write applies op to the recovery batch (committing it when it has grown
// past RecoveryBatchBytes) or, once recovered, commits it immediately.
func (s *pebbleStore) write(op func(*pebble.Batch) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.failed != nil {
		return s.failed
	}
	if s.batch == nil {
		return s.commit(op)
	}
	if err := op(s.batch); err != nil {
		return err
	}
	if s.batch.Len() >= s.opts.RecoveryBatchBytes {
		return s.flushLocked(s.wo)
	}
	return nil
}

// Set stores value under key; a nil value is stored as empty.
func (s *pebbleStore) Set(key string, value []byte) error {
	return s.write(func(b *pebble.Batch) error {
		if err := b.Set(dataKeyString(key), value, nil); err != nil {
			return fmt.Errorf("set %q: %w", key, err)
		}
		return nil
	})
}

// Delete removes key; deleting a missing key is not an error.
func (s *pebbleStore) Delete(key string) error {
	return s.write(func(b *pebble.Batch) error {
		if err := b.Delete(dataKeyString(key), nil); err != nil {
			return fmt.Errorf("delete %q: %w", key, err)
		}
		return nil
	})
}

// SetOffset records the offset in memory. It reaches disk with the next
// write, the next recovery batch, the flush ticker or Close.
func (s *pebbleStore) SetOffset(offset int64) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.offset.set(offset)
	if s.recovered.Load() {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.batch != nil && s.batch.Len() >= s.opts.RecoveryBatchBytes {
		return s.flushLocked(s.wo)
	}
	return nil
}

// GetOffset returns the newest offset handed in (or loaded at open), or def.
func (s *pebbleStore) GetOffset(def int64) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	if snap := s.offset.snapshot(); snap.set {
		return snap.value, nil
	}
	return def, nil
}

// MarkRecovered commits the recovery batch with an fsync and switches to
// committing every write immediately. Calling it again is a no-op.
func (s *pebbleStore) MarkRecovered() error {
	err := func() error {
		s.mu.RLock()
		defer s.mu.RUnlock()
		if s.closed {
			return ErrClosed
		}
		s.wmu.Lock()
		defer s.wmu.Unlock()
		if s.batch == nil {
			return errAlreadyRecovered
		}
		if err := s.flushLocked(s.wo); err != nil {
			return err
		}
		// Earlier batches may have been committed unsynced; a synced empty
		// record makes the whole recovered state durable at once.
		if !s.opts.Sync {
			if err := s.db.LogData(nil, pebble.Sync); err != nil {
				return fmt.Errorf("sync recovered state: %w", err)
			}
		}
		s.batch.Close()
		s.batch = nil
		s.recovered.Store(true)
		return nil
	}()
	if errors.Is(err, errAlreadyRecovered) {
		return nil
	}
	if err == nil && s.opts.OnRecovered != nil {
		s.opts.OnRecovered(s.topic, s.partition, s)
	}
	return err
}

var errAlreadyRecovered = errors.New("already recovered")

// Close persists pending writes and the offset, releases leftover
// iterators and closes the database.
func (s *pebbleStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.wmu.Lock()
	err := s.flushLocked(s.wo)
	if s.batch != nil {
		s.batch.Close()
		s.batch = nil
	}
	s.wmu.Unlock()
	s.closed = true
	close(s.stop)
	s.iters.closeAll()
	if cerr := s.db.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close pebble: %w", cerr))
	}
	s.release()
	s.mu.Unlock()
	s.done.Wait()
	if s.opts.OnClose != nil {
		s.opts.OnClose(s.topic, s.partition)
	}
	return err
}
