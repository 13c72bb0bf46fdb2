package state

import (
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/lovoo/goka/storage"
)

const (
	defaultCacheBytes         = 64 << 20
	defaultRecoveryBatchBytes = 1 << 20

	// offsetFlushInterval bounds how long an offset handed in via SetOffset
	// stays in memory only while no writes arrive to carry it.
	offsetFlushInterval = time.Second
)

// Options configures the stores created by NewBuilder and NewMemoryBuilder.
// Zero values mean "use the default".
type Options struct {
	// Dir is the parent directory of all stores; each topic-partition gets
	// <Dir>/<topic>.<partition>. Required by NewBuilder, ignored by
	// NewMemoryBuilder. No default.
	Dir string

	// FS is the filesystem Pebble uses. Default: vfs.Default (the OS);
	// tests pass vfs.NewMem() or vfs.NewCrashableMem().
	FS vfs.FS

	// Sync fsyncs the WAL on every commit. Default: false, writes reach the
	// WAL without fsync. Pebble buffers unsynced WAL records in-process (up to
	// a 32 KiB block), so a crash of the process or the OS may lose the most
	// recent writes; the offset is lost with them, so goka replays them from
	// the changelog. MarkRecovered and Close always sync.
	Sync bool

	// CacheBytes is the size of the block cache shared by all stores of one
	// builder. Default: 64 MiB.
	CacheBytes int64

	// RecoveryBatchBytes is how many bytes of recovery writes are buffered
	// before they are committed together with the offset. Default: 1 MiB.
	RecoveryBatchBytes int

	// OnRecovered, if set, is called after MarkRecovered has committed the
	// recovered state. Default: nil.
	OnRecovered func(topic string, partition int32, s storage.Storage)

	// OnClose, if set, is called after a store has closed. Default: nil.
	OnClose func(topic string, partition int32)
}

// Validate reports every problem with the options at once. NewBuilder calls
// it; zero values are valid because they select defaults.
func (o *Options) Validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, fmt.Errorf("%w: Dir is required", ErrInvalidOptions))
	}
	if o.CacheBytes < 0 {
		errs = append(errs, fmt.Errorf("%w: CacheBytes %d is negative", ErrInvalidOptions, o.CacheBytes))
	}
	if o.RecoveryBatchBytes < 0 {
		errs = append(errs, fmt.Errorf("%w: RecoveryBatchBytes %d is negative", ErrInvalidOptions, o.RecoveryBatchBytes))
	}
	return errors.Join(errs...)
}

// withDefaults returns a copy with every zero field replaced by its default;
// it is the only place defaults are applied.
func (o Options) withDefaults() Options {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = defaultCacheBytes
	}
	if o.RecoveryBatchBytes == 0 {
		o.RecoveryBatchBytes = defaultRecoveryBatchBytes
	}
	return o
}

// storeName is the directory name of one topic-partition. Kafka topic names
// are restricted to [a-zA-Z0-9._-]; enforcing that keeps the name from
// escaping Dir.
func storeName(topic string, partition int32) (string, error) {
	if topic == "" || topic == "." || topic == ".." || partition < 0 {
		return "", fmt.Errorf("%w: %q/%d", ErrInvalidTopic, topic, partition)
	}
	for _, c := range topic {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-'
		if !ok {
			return "", fmt.Errorf("%w: %q/%d", ErrInvalidTopic, topic, partition)
		}
	}
	return fmt.Sprintf("%s.%d", topic, partition), nil
}
