package state

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/lovoo/goka/storage"
)

// Get returns a copy of the value of key, or nil if key is missing. During
// recovery it reads through the indexed recovery batch, so writes not yet
// committed are visible.
func (s *pebbleStore) Get(key string) ([]byte, error) {
	v, _, err := s.get(key)
	return v, err
}

// Has reports whether key exists.
func (s *pebbleStore) Has(key string) (bool, error) {
	_, ok, err := s.get(key)
	return ok, err
}

func (s *pebbleStore) get(key string) ([]byte, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, false, ErrClosed
	}
	get := s.db.Get
	if !s.recovered.Load() {
		// The batch is mutated by the writer, so reading it needs wmu.
		s.wmu.Lock()
		defer s.wmu.Unlock()
		if s.batch != nil {
			get = s.batch.Get
		}
	}
	v, closer, err := get(dataKeyString(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get %q: %w", key, err)
	}
	// Non-nil even when empty, so a stored empty value differs from a miss.
	out := append(make([]byte, 0, len(v)), v...)
	return out, true, closer.Close()
}

// Iterator returns a snapshot iterator over all keys.
func (s *pebbleStore) Iterator() (storage.Iterator, error) {
	return s.IteratorWithRange(nil, nil)
}

// IteratorWithRange returns a snapshot iterator over [start, limit), or over
// all keys with prefix start when limit is empty. During recovery the batch
// is committed first (with its offset, so atomically) to make it visible.
func (s *pebbleStore) IteratorWithRange(start, limit []byte) (storage.Iterator, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	lo, hi, empty := userRange(start, limit)
	if empty {
		return &pebbleIter{}, nil
	}
	if !s.recovered.Load() {
		s.wmu.Lock()
		err := s.flushLocked(s.wo)
		s.wmu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	opts := &pebble.IterOptions{LowerBound: dataKey(lo), UpperBound: dataEnd}
	if hi != nil {
		opts.UpperBound = dataKey(hi)
	}
	// A Pebble iterator reads the state as of its creation: a snapshot.
	it, err := s.db.NewIter(opts)
	if err != nil {
		return nil, fmt.Errorf("new iterator: %w", err)
	}
	pi := &pebbleIter{it: it, reg: &s.iters}
	s.iters.add(pi)
	return pi, nil
}

// iterRegistry tracks open iterators so Close can release the ones callers
// forgot; Pebble refuses to close cleanly with iterators open.
type iterRegistry struct {
	mu   sync.Mutex
	open map[*pebbleIter]struct{}
}

func (r *iterRegistry) add(it *pebbleIter) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.open == nil {
		r.open = make(map[*pebbleIter]struct{})
	}
	r.open[it] = struct{}{}
}

func (r *iterRegistry) remove(it *pebbleIter) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.open, it)
}

func (r *iterRegistry) closeAll() {
	r.mu.Lock()
	open := r.open
	r.open = nil
	r.mu.Unlock()
	for it := range open {
		it.release(ErrClosed)
	}
}

// pebbleIter follows goleveldb's iterator semantics, which goka's merge
// iterator relies on: Next before the first pair, Seek positions on the
// first key >= target so Key/Value are valid right after it.
type pebbleIter struct {
	mu      sync.Mutex // Close may release the iterator from another goroutine
	it      *pebble.Iterator
	reg     *iterRegistry
	started bool
	err     error
}

func (i *pebbleIter) Next() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.it == nil {
		return false
	}
	if !i.started {
		i.started = true
		return i.it.First()
	}
	return i.it.Next()
}

func (i *pebbleIter) Seek(key []byte) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.it == nil {
		return false
	}
	i.started = true
	return i.it.SeekGE(dataKey(key))
}

// Key returns the current key without the storage prefix; nil when not
// positioned.
func (i *pebbleIter) Key() []byte {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.it == nil || !i.it.Valid() {
		return nil
	}
	return i.it.Key()[1:]
}

func (i *pebbleIter) Value() ([]byte, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.it == nil || !i.it.Valid() {
		return nil, nil
	}
	return i.it.ValueAndErr()
}

// Err returns the iteration error, or ErrClosed if the store was closed
// under the iterator.
func (i *pebbleIter) Err() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.err != nil || i.it == nil {
		return i.err
	}
	return i.it.Error()
}

func (i *pebbleIter) Release() {
	i.release(nil)
	if i.reg != nil {
		i.reg.remove(i)
	}
}

func (i *pebbleIter) release(reason error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.it == nil {
		return
	}
	// Close reports only errors already seen by Err; a released iterator has
	// no caller left to tell.
	_ = i.it.Close()
	i.it = nil
	i.err = reason
}
