package state

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// User keys may be any bytes, so no reserved key inside their space is safe.
// Instead every user key is stored under dataPrefix and metadata under
// metaPrefix; iterators are bounded to [dataPrefix, dataPrefix+1).
const (
	dataPrefix = 'd'
	metaPrefix = 'm'
)

var (
	offsetKey = []byte{metaPrefix, 'o', 'f', 'f', 's', 'e', 't'}
	dataEnd   = []byte{dataPrefix + 1}
)

func dataKey(key []byte) []byte {
	k := make([]byte, 1+len(key))
	k[0] = dataPrefix
	copy(k[1:], key)
	return k
}

func dataKeyString(key string) []byte {
	k := make([]byte, 1+len(key))
	k[0] = dataPrefix
	copy(k[1:], key)
	return k
}

func encodeOffset(o int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(o))
}

func decodeOffset(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: %d bytes", ErrCorruptOffset, len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// userRange resolves goka's range convention: [start, limit) when limit is
// non-empty, otherwise every key with prefix start (as goleveldb's
// util.BytesPrefix). hi == nil means unbounded; empty reports a range that
// can hold no key.
func userRange(start, limit []byte) (lo, hi []byte, empty bool) {
	if len(limit) == 0 {
		return start, prefixEnd(start), false
	}
	return start, limit, bytes.Compare(start, limit) >= 0
}

// prefixEnd returns the smallest key greater than every key with prefix p,
// or nil if there is none (p empty or all 0xff).
func prefixEnd(p []byte) []byte {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0xff {
			end := append([]byte(nil), p[:i+1]...)
			end[i]++
			return end
		}
	}
	return nil
}
