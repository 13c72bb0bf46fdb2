package bench

import (
	"testing"

	"github.com/stocksync/stocksync/topology"
)

// TestMultiLineSpansItsShare checks the multi-line workload as a reader of
// its figures relies on it: two different SKUs in every order, and the
// asked share of orders on two partitions.
func TestMultiLineSpansItsShare(t *testing.T) {
	for _, share := range []float64{0.3, 1} {
		g, err := newGenerator(WorkloadConfig{Kind: MultiLine, SKUs: 5000, Partitions: 4, SpanShare: share, Seed: 3}, "t")
		if err != nil {
			t.Fatal(err)
		}
		const n = 4000
		spanning := 0
		for range n {
			op := g.Next()
			if op.Kind != OpReserve || len(op.Lines) != 2 || op.Lines[0].SKU == op.Lines[1].SKU {
				t.Fatalf("share %g: want a reserve of two different SKUs, got %+v", share, op)
			}
			if topology.PartitionOf(op.Lines[0].SKU, 4) != topology.PartitionOf(op.Lines[1].SKU, 4) {
				spanning++
			}
		}
		if got := float64(spanning) / n; got < share-0.03 || got > share+0.03 {
			t.Errorf("share %g: %.3f of the orders span two partitions", share, got)
		}
	}
	if _, err := newGenerator(WorkloadConfig{Kind: MultiLine, SKUs: 100, Partitions: 1, SpanShare: 0.3}, "t"); err == nil {
		t.Error("a spanning share over one partition was accepted")
	}
}
