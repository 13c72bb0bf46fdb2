package fraud

import "errors"

var (
	// ErrPartitionMismatch is returned by Service.Run when an existing
	// topic has another partition count than kafka.partitions.
	ErrPartitionMismatch = errors.New("fraud: topic partition count differs from the config")
	// ErrUnknownAlert is returned by Label when this instance holds no
	// alert with the id.
	ErrUnknownAlert = errors.New("fraud: unknown alert")
)
