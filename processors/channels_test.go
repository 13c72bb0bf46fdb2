package processors

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/lovoo/goka/tester"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/stocksync/stocksync/marketplace"
	"github.com/stocksync/stocksync/sinks"
	"github.com/stocksync/stocksync/stock"
	"github.com/stocksync/stocksync/topology"
)

// idleAdapter is a marketplace the test never lets a pusher call: the
// pushers are not run, so what the processor offers stays pending.
type idleAdapter struct{}

func (idleAdapter) Name() string               { return "idle" }
func (idleAdapter) Limits() marketplace.Limits { return marketplace.Limits{MaxBatch: 100} }
func (idleAdapter) Push(context.Context, []marketplace.Update) ([]marketplace.ItemResult, error) {
	return nil, fmt.Errorf("idleAdapter: not to be called")
}

type channelsRig struct {
	t       *testing.T
	tt      *tester.Tester
	names   topology.Names
	proc    *goka.Processor
	pushers map[string]*sinks.Pusher
	out     *tester.QueueTracker
	dlq     *tester.QueueTracker
	sm      *sinks.Metrics
}

// idlePushers are the test catalogue's pushers, never run.
func idlePushers(t *testing.T, sm *sinks.Metrics) map[string]*sinks.Pusher {
	pushers := map[string]*sinks.Pusher{}
	for _, ch := range testCatalog().Channels() {
		p, err := sinks.New(sinks.Config{Channel: ch, Adapter: idleAdapter{}, Metrics: sm, Logger: quiet,
			Send: func(context.Context, sinks.Verdict, func(error)) {}})
		if err != nil {
			t.Fatal(err)
		}
		pushers[ch] = p
	}
	return pushers
}

func newChannelsRig(t *testing.T) *channelsRig {
	t.Helper()
	names := topology.New("")
	reg := prometheus.NewRegistry()
	sm := sinks.NewMetrics(reg)
	r := &channelsRig{t: t, tt: tester.New(t), names: names, pushers: idlePushers(t, sm), sm: sm}
	var err error
	r.proc, err = NewChannels(ChannelsConfig{Names: names, Partitions: 1, Catalog: testCatalog(), Pushers: r.pushers,
		Metrics: NewMetrics(reg), SinkMetrics: sm, Logger: quiet}, goka.WithTester(r.tt), goka.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.proc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("channels processor stopped with: %v", err)
		}
	})
	r.out = r.tt.NewQueueTracker(string(names.ChannelStock))
	r.dlq = r.tt.NewQueueTracker(string(names.DLQ))
	return r
}

// change consumes a stock change of SKU A (available per location msk-1,
// spb-1, dark-1) and returns the channel.stock messages it caused.
func (r *channelsRig) change(seq int64, msk, spb, dark int64) string {
	c := stock.Change{SKU: "A", Seq: seq, At: 1000 * seq, Locations: []stock.LocationQty{
		{Location: "msk-1", Available: msk}, {Location: "spb-1", Available: spb}, {Location: "dark-1", Available: dark}}}
	r.tt.Consume(string(r.names.StockChanges), "A", mustJSON(c))
	var out []string
	for {
		_, v, ok := r.out.NextRaw()
		if !ok {
			return strings.Join(out, " ")
		}
		out = append(out, string(v))
	}
}

func (r *channelsRig) verdict(v sinks.Verdict) {
	r.tt.Consume(string(r.names.SinkVerdicts), v.SKU, mustJSON(v))
}

func (r *channelsRig) state() *ChannelsState {
	v := r.tt.TableValue(goka.GroupTable(r.names.Channels), "A")
	raw, _ := v.([]byte)
	st, err := DecodeChannelsState(raw)
	if err != nil {
		r.t.Fatalf("channels table value of A: %v (%s)", err, raw)
	}
	return st
}

// pending prints what a channel's pusher holds: "SKU=available@version".
func (r *channelsRig) pending(ch string) string {
	var out []string
	for _, p := range r.pushers[ch].Pending() {
		out = append(out, fmt.Sprintf("%s=%d@%d", p.SKU, p.Available, p.Version))
	}
	return strings.Join(out, " ")
}

func TestChannelsProjectPushAndRecordVerdicts(t *testing.T) {
	r := newChannelsRig(t)
	expect := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Fatalf("%s:\n got %s\nwant %s", what, got, want)
		}
	}

	// web = msk-1 + spb-1; ozon = floor(0.5 × dark-1) − 1.
	expect("first change emits both channels", r.change(1, 5, 3, 10),
		`{"channel":"ozon","sku":"A","available":4,"version":1} {"channel":"web","sku":"A","available":8,"version":1}`)
	expect("web pusher", r.pending("web"), "A=8@1")
	expect("ozon pusher", r.pending("ozon"), "A=4@1")

	// Only web's value changes: only web is emitted and offered anew.
	expect("second change", r.change(2, 4, 3, 10), `{"channel":"web","sku":"A","available":7,"version":2}`)
	expect("web pusher after the second change", r.pending("web"), "A=7@2")
	if s := r.state().Sinks["ozon"]; s.WantVersion != 1 || s.Want != 4 {
		t.Fatalf("ozon's wanted value moved without a change: %+v", *s)
	}

	// An older change is ignored; a replay of the newest re-emits and re-offers.
	expect("older change", r.change(1, 0, 0, 0), "")
	expect("replayed change", r.change(2, 4, 3, 10),
		`{"channel":"ozon","sku":"A","available":4,"version":2} {"channel":"web","sku":"A","available":7,"version":2}`)

	// web acknowledges version 1 (superseded) then 2: only 2 settles it.
	r.verdict(sinks.Verdict{Channel: "web", SKU: "A", Version: 1, Available: 8, OK: true, At: 5000})
	expect("web pusher after a stale ack", r.pending("web"), "A=7@2")
	r.verdict(sinks.Verdict{Channel: "web", SKU: "A", Version: 2, Available: 7, OK: true, At: 6000})
	expect("web pusher after the ack", r.pending("web"), "")
	if s := r.state().Sinks["web"]; s.Acked != 7 || s.AckedVersion != 2 || s.AckedAt != 6000 || s.Pending() {
		t.Fatalf("web's sink state after the ack: %+v", *s)
	}

	// Ozon refuses version 1 for good: parked, in the DLQ, not pending.
	r.verdict(sinks.Verdict{Channel: "ozon", SKU: "A", Version: 1, Available: 4, OK: false, Reason: "offer archived", At: 7000})
	if s := r.state().Sinks["ozon"]; s.Parked != "offer archived" || s.Pending() {
		t.Fatalf("ozon's sink state after the refusal: %+v", *s)
	}
	expect("ozon pusher after the refusal", r.pending("ozon"), "")
	_, v, ok := r.dlq.NextRaw()
	var dl DeadLetter
	if !ok || json.Unmarshal(v, &dl) != nil || !strings.Contains(dl.Reason, "channel ozon") || !strings.Contains(dl.Reason, "offer archived") {
		t.Fatalf("DLQ after the refusal: %s", v)
	}

	// A verdict of a channel that is not configured changes nothing.
	before := r.state()
	r.verdict(sinks.Verdict{Channel: "yandex", SKU: "A", Version: 9, OK: true, At: 8000})
	if after := r.state(); len(after.Sinks) != len(before.Sinks) {
		t.Fatalf("an unknown channel's verdict was recorded: %+v", after.Sinks)
	}

	// The DLQ replay releases ozon's parked value for another push.
	if err := r.proc.VisitAll(context.Background(), "unpark", "ozon"); err != nil {
		t.Fatal(err)
	}
	expect("ozon pusher after the replay", r.pending("ozon"), "A=4@1")
	if s := r.state().Sinks["ozon"]; s.Parked != "" {
		t.Fatalf("ozon still parked after the replay: %+v", *s)
	}
}

// A SKU's first value at a channel (a new listing) is told apart from the
// changes that follow, so propagation can be read for either.
func TestFirstValuesAreCountedApart(t *testing.T) {
	r := newChannelsRig(t)
	count := func(h *prometheus.HistogramVec) uint64 {
		var m dto.Metric
		if err := h.WithLabelValues("web").(prometheus.Histogram).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetHistogram().GetSampleCount()
	}
	r.change(1, 5, 3, 10)
	r.verdict(sinks.Verdict{Channel: "web", SKU: "A", Version: 1, Available: 8, OK: true, At: 1500})
	r.change(2, 4, 3, 10)
	r.verdict(sinks.Verdict{Channel: "web", SKU: "A", Version: 2, Available: 7, OK: true, At: 2500})
	if all, first := count(r.sm.E2E), count(r.sm.First); all != 2 || first != 1 {
		t.Fatalf("web acknowledged a first value and a change: e2e counted %d, first %d; want 2 and 1", all, first)
	}
}

func TestSeedPushers(t *testing.T) {
	r := newChannelsRig(t)
	r.change(1, 5, 3, 10)
	r.verdict(sinks.Verdict{Channel: "web", SKU: "A", Version: 1, Available: 8, OK: true, At: 5000})

	// A restarted instance: empty pushers, the table as recovered.
	pushers := idlePushers(t, sinks.NewMetrics(prometheus.NewRegistry()))
	store := storage.NewMemory()
	raw := r.state().AppendBinary(nil)
	if err := store.Set("A", raw); err != nil {
		t.Fatal(err)
	}
	if err := SeedPushers(pushers, 0, store); err != nil {
		t.Fatal(err)
	}
	if got := pushers["web"].Pending(); len(got) != 0 {
		t.Errorf("web was acknowledged, yet seeded: %+v", got)
	}
	if got := pushers["ozon"].Pending(); len(got) != 1 || got[0].SKU != "A" || got[0].Available != 4 || got[0].Version != 1 {
		t.Errorf("ozon seeded with %+v, want A=4@1", got)
	}
}
