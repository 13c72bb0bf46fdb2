package fraud

import "errors"

var (
	// ErrPartitionMismatch is returned by Service.Run when an existing
	// topic has another partition count than kafka.partitions.
	ErrPartitionMismatch = errors.New("fraud: topic partition count differs from the config")
	// ErrUnknownAlert is returned by Labels when no alert has the id.
	ErrUnknownAlert = errors.New("fraud: unknown alert")
	// ErrNotRunning is returned by Send before Run started the producer
	// and after it stopped.
	ErrNotRunning = errors.New("fraud: the service is not running")
)
