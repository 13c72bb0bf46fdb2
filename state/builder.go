package state

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/lovoo/goka/storage"
)

// pebbleBuilder shares one block cache between all stores it opened. The
// cache lives while at least one store is open, so a builder that is simply
// dropped leaks nothing once its stores are closed.
type pebbleBuilder struct {
	opts Options

	mu    sync.Mutex
	cache *pebble.Cache
	open  int
}

// NewBuilder returns a goka storage.Builder that opens one Pebble database
// per topic-partition at <Dir>/<topic>.<partition>.
func NewBuilder(opts Options) (storage.Builder, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	b := &pebbleBuilder{opts: opts.withDefaults()}
	return b.build, nil
}

func (b *pebbleBuilder) acquireCache() *pebble.Cache {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cache == nil {
		b.cache = pebble.NewCache(b.opts.CacheBytes)
	}
	b.open++
	return b.cache
}

// releaseCache drops the builder's reference once no store needs the cache;
// each open DB holds its own reference until it closes.
func (b *pebbleBuilder) releaseCache() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.open--
	if b.open == 0 {
		b.cache.Unref()
		b.cache = nil
	}
}

func (b *pebbleBuilder) build(topic string, partition int32) (storage.Storage, error) {
	name, err := storeName(topic, partition)
	if err != nil {
		return nil, err
	}
	path := b.opts.FS.PathJoin(b.opts.Dir, name)
	db, err := pebble.Open(path, &pebble.Options{
		FS: b.opts.FS, Cache: b.acquireCache(), Logger: quietLogger{},
	})
	if err != nil {
		b.releaseCache()
		return nil, fmt.Errorf("open pebble %s: %w", path, err)
	}
	s, err := newPebbleStore(db, b.opts, topic, partition, b.releaseCache)
	if err != nil {
		err = errors.Join(err, db.Close())
		b.releaseCache()
		return nil, fmt.Errorf("open pebble %s: %w", path, err)
	}
	return s, nil
}

// quietLogger drops Pebble's informational lines ("Found 0 WALs", one set
// per store and open); errors and fatal errors still reach the std logger.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}

func (quietLogger) Errorf(format string, args ...any) {
	pebble.DefaultLogger.Errorf(format, args...)
}

func (quietLogger) Fatalf(format string, args ...any) {
	pebble.DefaultLogger.Fatalf(format, args...)
}
