package engine

import "errors"

// ErrPartitionMismatch is returned by Run when an existing topic's partition
// count differs from the configured one: keys would move between partitions,
// so the engine refuses to start rather than re-key silently.
var ErrPartitionMismatch = errors.New("engine: topic partition count differs from the config")
