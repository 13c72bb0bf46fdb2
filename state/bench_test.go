package state

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/lovoo/goka/storage"
)

// openBenchStore opens a store on the real filesystem, where WAL writes
// cost what they cost in production.
func openBenchStore(b *testing.B) storage.Storage {
	b.Helper()
	s := openStore(b, Options{Dir: b.TempDir()})
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkPebbleSet measures a processed-mode Set of a 200-byte value,
// each committed as its own batch together with the offset acked before it.
func BenchmarkPebbleSet(b *testing.B) {
	s := openBenchStore(b)
	must(b, s.MarkRecovered())
	value := bytes.Repeat([]byte("x"), 200)
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		must(b, s.Set("key-"+strconv.Itoa(i%100000), value))
		must(b, s.SetOffset(int64(i)))
		i++
	}
}

// BenchmarkPebbleRecovery measures replaying changelog messages (Set then
// SetOffset, 200-byte values) into the recovery batch, including the final
// MarkRecovered commit.
func BenchmarkPebbleRecovery(b *testing.B) {
	s := openBenchStore(b)
	value := bytes.Repeat([]byte("x"), 200)
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		must(b, s.Set("key-"+strconv.Itoa(i%100000), value))
		must(b, s.SetOffset(int64(i)))
		i++
	}
	must(b, s.MarkRecovered())
}

// BenchmarkPebbleReadModifyWrite is what a processor callback does to its
// table: read a key, write it back with the offset, over 10k hot keys, and
// look up a key never written (a new order id). It runs long enough for the
// memtable to flush, so reads meet several L0 files.
func BenchmarkPebbleReadModifyWrite(b *testing.B) {
	s := openBenchStore(b)
	must(b, s.MarkRecovered())
	value := bytes.Repeat([]byte("x"), 300)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		key := "sku-" + strconv.Itoa(i%10000)
		if _, err := s.Get(key); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Get("order-" + strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
		must(b, s.Set(key, value))
		must(b, s.SetOffset(int64(i)))
		i++
	}
}
