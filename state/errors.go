package state

import "errors"

var (
	// ErrClosed is returned by every Storage and Iterator method called after
	// the store was closed, including a second Close.
	ErrClosed = errors.New("state: store is closed")

	// ErrInvalidOptions is wrapped by every problem Options.Validate reports.
	ErrInvalidOptions = errors.New("state: invalid options")

	// ErrInvalidTopic is returned by a builder when the topic or partition
	// cannot name a store directory (empty, a path element, or a negative
	// partition).
	ErrInvalidTopic = errors.New("state: invalid topic or partition")

	// ErrCorruptOffset is returned when opening a store whose persisted offset
	// cannot be decoded.
	ErrCorruptOffset = errors.New("state: stored offset is corrupt")
)
