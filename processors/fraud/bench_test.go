package fraud

import (
	"fmt"
	"testing"
	"time"

	"github.com/stocksync/stocksync/config"
)

// BenchmarkCustomerEvent is one loyalty event of a busy customer (a month
// of heavy shopping in the row): decode the row, apply, score, encode.
func BenchmarkCustomerEvent(b *testing.B) {
	f := config.Fraud{}
	f.Defaults()
	w := newWindows(f)
	st := &customerState{}
	st.init()
	t0 := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	add := func(e Event) {
		n++
		admitID(st.Seen, &st.Newest, e.ID(), e.TS.UnixMilli(), w.dedupe)
		st.apply(&e, w)
	}
	for d := 0; d < 30; d++ {
		ts := t0.Add(time.Duration(d) * 24 * time.Hour)
		for l := 0; l < 2; l++ {
			add(Event{Type: TypeSale, SaleID: fmt.Sprint("sl-", n), Store: "s01", Cashier: "k1", CustomerID: "c1", SKU: fmt.Sprint("sku-", n), Qty: 1, Amount: 10, ReceiptID: fmt.Sprint("rc-", d), TS: ts})
		}
		add(Event{Type: TypeAccrual, EventID: fmt.Sprint("ly-", n), Store: "s01", CustomerID: "c1", Points: 20, TS: ts})
	}
	sc := &scoring{scorer: NewRuleScorer(f), alpha: f.EWMAAlpha, cooldown: f.Cooldown.Duration, windows: w, cfg: f,
		metrics: mustMetrics(b), now: time.Now}
	codec := customerCodec{}
	row, _ := codec.Encode(st)
	b.ReportMetric(float64(len(row)), "row-bytes")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, _ := codec.Decode(row)
		s := v.(*customerState)
		s.init()
		e := Event{Type: TypeAccrual, EventID: fmt.Sprint("b-", i), Store: "s01", CustomerID: "c1", Points: 20, TS: t0.Add(30 * 24 * time.Hour)}
		admitID(s.Seen, &s.Newest, e.ID(), e.TS.UnixMilli(), w.dedupe)
		feats, _ := s.apply(&e, w)
		sc.score(EntityCustomer, "c1", e.ID(), e.TS, feats, s.Own, s.Alerted, func(r string) string { return r })
		if _, err := codec.Encode(s); err != nil {
			b.Fatal(err)
		}
	}
}
