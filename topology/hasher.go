package topology

import (
	"hash"
	"strconv"
)

// Murmur2 returns Kafka's murmur2 hash of key, as the Java client computes it
// (org.apache.kafka.common.utils.Utils.murmur2).
func Murmur2(key []byte) int32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	length := len(key)
	h := uint32(seed) ^ uint32(length)
	i := 0
	for ; length-i >= 4; i += 4 {
		k := uint32(key[i]) | uint32(key[i+1])<<8 | uint32(key[i+2])<<16 | uint32(key[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch length - i {
	case 3:
		h ^= uint32(key[i+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(key[i+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(key[i])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// Partition is the partition the Java client's default partitioner picks for a
// keyed record: toPositive(murmur2(key)) % partitions.
func Partition(key []byte, partitions int32) int32 {
	return (Murmur2(key) & 0x7fffffff) % partitions
}

// PartitionOf is Partition for a string key without copying it.
func PartitionOf(key string, partitions int32) int32 {
	return Partition([]byte(key), partitions)
}

// PartitionKeys returns, for each of n partitions, a key murmur2 puts
// there: prefix and the smallest number that lands on it. A record meant for
// every partition (a control message) is sent once under each, and its
// receiver can tell it from one that landed elsewhere, as for any key.
func PartitionKeys(prefix string, n int32) []string {
	keys := make([]string, n)
	for i, found := 0, int32(0); found < n; i++ {
		k := prefix + strconv.Itoa(i)
		if p := PartitionOf(k, n); keys[p] == "" {
			keys[p] = k
			found++
		}
	}
	return keys
}

// NewHasher returns a hash.Hash32 for goka (WithHasher, WithViewHasher,
// WithEmitterHasher) and sarama's custom-hash partitioner. Its Sum32 is the
// positive murmur2 of the written bytes, so goka's abs(int32(Sum32())) % n and
// sarama's partitioner both equal the Java client's choice. One SKU therefore
// has one partition, whoever produced it: the single-writer guarantee.
func NewHasher() hash.Hash32 { return &murmur2Hasher{} }

type murmur2Hasher struct{ buf []byte }

func (h *murmur2Hasher) Write(p []byte) (int, error) {
	h.buf = append(h.buf, p...)
	return len(p), nil
}
func (h *murmur2Hasher) Sum(b []byte) []byte {
	s := h.Sum32()
	return append(b, byte(s>>24), byte(s>>16), byte(s>>8), byte(s))
}
func (h *murmur2Hasher) Sum32() uint32  { return uint32(Murmur2(h.buf) & 0x7fffffff) }
func (h *murmur2Hasher) Reset()         { h.buf = h.buf[:0] }
func (h *murmur2Hasher) Size() int      { return 4 }
func (h *murmur2Hasher) BlockSize() int { return 4 }
