package state

import (
	"bytes"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/lovoo/goka/storage"
)

// NewMemoryBuilder returns a builder of in-memory stores with the same
// semantics as NewBuilder's, for tests. Every call builds an empty store, so
// a rebuilt partition recovers from the changelog as after losing its disk.
// Only OnRecovered and OnClose are used from opts.
func NewMemoryBuilder(opts Options) storage.Builder {
	return func(topic string, partition int32) (storage.Storage, error) {
		return &memStore{opts: opts, topic: topic, partition: partition, data: map[string][]byte{}}, nil
	}
}

type memStore struct {
	opts      Options
	topic     string
	partition int32

	mu        sync.RWMutex
	data      map[string][]byte // values are private copies, never mutated
	offset    int64
	hasOffset bool
	recovered bool
	closed    atomic.Bool // read by iterators without mu
}

func (m *memStore) Open() error {
	if m.closed.Load() {
		return ErrClosed
	}
	return nil
}

func (m *memStore) Close() error {
	m.mu.Lock()
	if m.closed.Swap(true) {
		m.mu.Unlock()
		return ErrClosed
	}
	m.data = nil
	m.mu.Unlock()
	if m.opts.OnClose != nil {
		m.opts.OnClose(m.topic, m.partition)
	}
	return nil
}

func (m *memStore) Has(key string) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed.Load() {
		return false, ErrClosed
	}
	_, ok := m.data[key]
	return ok, nil
}

func (m *memStore) Get(key string) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed.Load() {
		return nil, ErrClosed
	}
	v, ok := m.data[key]
	if !ok {
		return nil, nil
	}
	return append(make([]byte, 0, len(v)), v...), nil
}

func (m *memStore) Set(key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return ErrClosed
	}
	m.data[key] = append(make([]byte, 0, len(value)), value...)
	return nil
}

func (m *memStore) Delete(key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return ErrClosed
	}
	delete(m.data, key)
	return nil
}

func (m *memStore) GetOffset(def int64) (int64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed.Load() {
		return 0, ErrClosed
	}
	if !m.hasOffset {
		return def, nil
	}
	return m.offset, nil
}

func (m *memStore) SetOffset(offset int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return ErrClosed
	}
	m.offset, m.hasOffset = offset, true
	return nil
}

// MarkRecovered calls OnRecovered the first time; later calls are no-ops.
func (m *memStore) MarkRecovered() error {
	m.mu.Lock()
	if m.closed.Load() {
		m.mu.Unlock()
		return ErrClosed
	}
	first := !m.recovered
	m.recovered = true
	m.mu.Unlock()
	if first && m.opts.OnRecovered != nil {
		m.opts.OnRecovered(m.topic, m.partition, m)
	}
	return nil
}

func (m *memStore) Iterator() (storage.Iterator, error) {
	return m.IteratorWithRange(nil, nil)
}

// IteratorWithRange copies the matching pairs, which makes the iterator a
// snapshot; values are shared because they are never mutated.
func (m *memStore) IteratorWithRange(start, limit []byte) (storage.Iterator, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed.Load() {
		return nil, ErrClosed
	}
	lo, hi, empty := userRange(start, limit)
	it := &memIter{store: m, pos: -1}
	if empty {
		return it, nil
	}
	for k, v := range m.data {
		kb := []byte(k)
		if bytes.Compare(kb, lo) >= 0 && (hi == nil || bytes.Compare(kb, hi) < 0) {
			it.pairs = append(it.pairs, memPair{kb, v})
		}
	}
	slices.SortFunc(it.pairs, func(a, b memPair) int { return bytes.Compare(a.key, b.key) })
	return it, nil
}

type memPair struct{ key, value []byte }

// memIter mirrors pebbleIter's semantics, including reporting ErrClosed once
// its store is closed.
type memIter struct {
	store    *memStore
	pairs    []memPair
	pos      int // -1 before the first Next; len(pairs) when exhausted
	released bool
}

func (i *memIter) usable() bool { return !i.released && !i.store.closed.Load() }

func (i *memIter) valid() bool { return i.usable() && i.pos >= 0 && i.pos < len(i.pairs) }

func (i *memIter) Next() bool {
	if !i.usable() {
		return false
	}
	if i.pos < len(i.pairs) {
		i.pos++
	}
	return i.pos < len(i.pairs)
}

func (i *memIter) Seek(key []byte) bool {
	if !i.usable() {
		return false
	}
	i.pos = sort.Search(len(i.pairs), func(n int) bool { return bytes.Compare(i.pairs[n].key, key) >= 0 })
	return i.pos < len(i.pairs)
}

func (i *memIter) Key() []byte {
	if !i.valid() {
		return nil
	}
	return i.pairs[i.pos].key
}

func (i *memIter) Value() ([]byte, error) {
	if !i.valid() {
		return nil, nil
	}
	return i.pairs[i.pos].value, nil
}

func (i *memIter) Err() error {
	if !i.released && i.store.closed.Load() {
		return ErrClosed
	}
	return nil
}

func (i *memIter) Release() {
	i.released = true
	i.pairs = nil
}
