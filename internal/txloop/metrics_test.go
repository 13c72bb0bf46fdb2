package txloop

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCycleStagesAreCounted decides records through a member with metrics:
// an operator reading stocksync_engine_cycle_stage_seconds must find every
// committed cycle with input once in each stage, and the stages' times
// within the cycle they belong to.
func TestCycleStagesAreCounted(t *testing.T) {
	brokers, prefix, cl, ctx := testKafka(t, "txm", 2*time.Minute, kgo.ProducerLinger(0))
	in, out, changelog := prefix+"in", prefix+"out", prefix+"table"
	createTopics(t, ctx, cl, 2, changelog, in, out)
	reg := prometheus.NewRegistry()
	stop, _ := runMember(t, ctx, "a", Config{Brokers: brokers, Group: prefix + "g", TransactionalID: prefix + "a", Inputs: []string{in},
		Changelog: changelog, Partitions: 2, Dir: t.TempDir(), Handler: counter{out: out}, Metrics: NewMetrics(reg)})
	defer stop()
	const sent = 40
	for i := range sent {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: in, Key: fmt.Appendf(nil, "k%d", i%5), Value: []byte("inc")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var cycles uint64
	for {
		inputs, n := histogram(t, reg, "stocksync_engine_cycle_inputs", "")
		if inputs == sent {
			cycles = n
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%v of %d inputs decided", inputs, sent)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, commits := histogram(t, reg, "stocksync_engine_cycle_commit_seconds", "")
	for _, stage := range []string{"wait", "fresh", "decide", "produce", "end", "apply"} {
		if _, n := histogram(t, reg, "stocksync_engine_cycle_stage_seconds", stage); n != cycles {
			t.Errorf("stage %s counts %d cycles; %d committed with input", stage, n, cycles)
		}
	}
	produce, _ := histogram(t, reg, "stocksync_engine_cycle_stage_seconds", "produce")
	end, _ := histogram(t, reg, "stocksync_engine_cycle_stage_seconds", "end")
	commit, _ := histogram(t, reg, "stocksync_engine_cycle_commit_seconds", "")
	if commits != cycles || produce+end > commit {
		t.Errorf("produce %.4fs + end %.4fs over %d cycles; the commits (produce through end) took %.4fs over %d", produce, end, cycles, commit, commits)
	}
	// Every committed cycle with input produced its records and ended its
	// transaction with a request of its own.
	for _, kind := range []string{"Produce", "EndTxn", "TxnOffsetCommit"} {
		if n := series(t, reg, "stocksync_engine_kafka_requests_total", "request", kind).GetCounter().GetValue(); n < float64(cycles) {
			t.Errorf("%v %s requests counted; %d cycles committed with input", n, kind, cycles)
		}
	}
}

// series is the series of a metric of reg whose label has the value ("" for
// a series without that label), or nil.
func series(t *testing.T, reg *prometheus.Registry, name, label, value string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					got = l.GetValue()
				}
			}
			if got == value {
				return m
			}
		}
	}
	return nil
}

// histogram is the sum and count of a histogram of reg, of the series
// whose "stage" label is stage ("" for a histogram without labels).
func histogram(t *testing.T, reg *prometheus.Registry, name, stage string) (sum float64, count uint64) {
	t.Helper()
	h := series(t, reg, name, "stage", stage).GetHistogram()
	return h.GetSampleSum(), h.GetSampleCount()
}
