package topology

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Vectors from the Java client's UtilsTest.testMurmur2 (org.apache.kafka.common.utils).
func TestMurmur2JavaVectors(t *testing.T) {
	tests := []struct {
		name string
		key  string
		want int32
	}{
		{name: "21", key: "21", want: -973932308},
		{name: "foobar", key: "foobar", want: -790332482},
		{name: "a-little-bit-long-string", key: "a-little-bit-long-string", want: -985981536},
		{name: "a-little-bit-longer-string", key: "a-little-bit-longer-string", want: -1486304829},
		{name: "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", key: "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", want: -58897971},
		{name: "abc", key: "abc", want: 479470107},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Murmur2([]byte(tc.key)); got != tc.want {
				t.Fatalf("Murmur2(%q) = %d, want %d (Java client)", tc.key, got, tc.want)
			}
		})
	}
}

// The goka hasher, the sarama partitioner goka installs, and franz-go's default
// partitioner must agree on every key, or one SKU gets two writers.
func TestHasherMatchesFranzGo(t *testing.T) {
	const partitions = 12
	franz := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for i := 0; i < 5000; i++ {
		key := []byte("sku-" + string(rune('a'+i%26)) + itoa(i))
		want := franz.Partition(&kgo.Record{Key: key}, partitions)
		h := NewHasher()
		h.Write(key)
		goka := int32(h.Sum32()) // goka: abs(int32(Sum32())) % n; Sum32 is already positive
		if goka < 0 {
			goka = -goka
		}
		if got := goka % partitions; int(got) != want {
			t.Fatalf("key %q: goka hasher picks %d, franz-go picks %d", key, got, want)
		}
		if got := Partition(key, partitions); int(got) != want {
			t.Fatalf("key %q: Partition picks %d, franz-go picks %d", key, got, want)
		}
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestPartitionKeysLandOnTheirPartition(t *testing.T) {
	for _, n := range []int32{1, 4, 12, 256} {
		keys := PartitionKeys("unpark:web:", n)
		if len(keys) != int(n) {
			t.Fatalf("%d partitions: %d keys", n, len(keys))
		}
		for p, k := range keys {
			if got := PartitionOf(k, n); got != int32(p) {
				t.Errorf("%d partitions: key %q for partition %d lands on %d", n, k, p, got)
			}
		}
	}
}
