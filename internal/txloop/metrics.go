package txloop

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Metrics say how large the cycles are and what their transactions cost:
// the broker's work grows with transactions and the partitions each
// touches, not with records, so records per cycle is the figure to watch.
type Metrics struct {
	cycles  *prometheus.CounterVec
	inputs  prometheus.Histogram
	records prometheus.Histogram
	commit  prometheus.Histogram
	stage   *prometheus.HistogramVec
	// requests counts the loop client's requests to the brokers by kind.
	// A transaction costs the broker about ten requests (produce, offset
	// commit, heartbeat, EndTxn, and the broker's own partition checks and
	// markers), whatever its size: requests per order is the cost that
	// larger cycles lower.
	requests *prometheus.CounterVec
	// byKey holds requests' counters by request key, found once: a label
	// lookup per request was 1 % of the engine's CPU.
	byKey [kmsg.MaxKey + 1]atomic.Pointer[prometheus.Counter]
}

// stages is where one cycle's time went. The loop is serial, so an order
// that arrives during a slow stage waits for it: these say which one to
// look at when the tail grows.
type stages struct {
	wait    time.Duration // the poll, until records came
	fresh   time.Duration // the second, short poll for what came during the last cycle
	decide  time.Duration // the handler's decisions and tick, in memory
	produce time.Duration // producing the cycle's records until every one is acknowledged
	end     time.Duration // ending the transaction: offsets, heartbeat, EndTxn
	apply   time.Duration // writing the stores and answering in process
}

// NewMetrics registers the loop's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		cycles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stocksync_engine_cycles_total",
			Help: "Transactions of the engine's loop, by outcome (committed, aborted)."}, []string{"outcome"}),
		inputs: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "stocksync_engine_cycle_inputs",
			Help: "Input records decided per committed cycle.", Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
		records: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "stocksync_engine_cycle_records",
			Help: "Records written per committed cycle (outputs and changelog).", Buckets: prometheus.ExponentialBuckets(1, 2, 16)}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "stocksync_engine_cycle_commit_seconds",
			Help: "From a cycle's begin to its transaction's end: produce, flush and commit.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "stocksync_engine_cycle_stage_seconds",
			Help:    "Where the time of committed cycles with input went, by stage (wait, fresh, decide, produce, end, apply).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, []string{"stage"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stocksync_engine_kafka_requests_total",
			Help: "Requests the engine's loop (its session and restores) sent to the brokers, by kind (Produce, Fetch, EndTxn, …)."}, []string{"request"}),
	}
	reg.MustRegister(m.cycles, m.inputs, m.records, m.commit, m.stage, m.requests)
	return m
}

// OnBrokerWrite counts a request written to a broker (kgo.HookBrokerWrite).
func (m *Metrics) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err != nil {
		return
	}
	if key < 0 || int(key) >= len(m.byKey) { // a kind newer than this build's kmsg
		m.requests.WithLabelValues(kmsg.NameForKey(key)).Inc()
		return
	}
	c := m.byKey[key].Load()
	if c == nil {
		counter := m.requests.WithLabelValues(kmsg.NameForKey(key))
		c = &counter
		m.byKey[key].Store(c)
	}
	(*c).Inc()
}

func (m *Metrics) observeStages(s stages) {
	if m == nil {
		return
	}
	for _, st := range []struct {
		name string
		d    time.Duration
	}{{"wait", s.wait}, {"fresh", s.fresh}, {"decide", s.decide}, {"produce", s.produce}, {"end", s.end}, {"apply", s.apply}} {
		m.stage.WithLabelValues(st.name).Observe(st.d.Seconds())
	}
}

func (m *Metrics) observe(committed bool, inputs, outputs, writes int, took time.Duration) {
	if m == nil {
		return
	}
	if !committed {
		m.cycles.WithLabelValues("aborted").Inc()
		return
	}
	m.cycles.WithLabelValues("committed").Inc()
	m.inputs.Observe(float64(inputs))
	m.records.Observe(float64(outputs + writes))
	m.commit.Observe(took.Seconds())
}
