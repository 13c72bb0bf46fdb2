package imports

import "errors"

var (
	// ErrBadRows is returned by Run when the import finished but some rows
	// were bad: the good ones were sent, Summary.BadRows says which not.
	ErrBadRows = errors.New("imports: some rows were bad and not sent")
	// ErrFormat is returned when the file cannot be read as its format at
	// all (no header, a header without the needed columns).
	ErrFormat = errors.New("imports: not an export file")
	// ErrRefused is returned when the target refuses the import for good
	// (401, 403, 400 on the whole request): retrying will not help.
	ErrRefused = errors.New("imports: the target refused the import")
)
