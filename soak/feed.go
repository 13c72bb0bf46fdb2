package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/stocksync/stocksync/contract"
)

// feeder sends adjusts and snapshots and reads stock over the HTTP API.
type feeder struct {
	h     *History
	hc    *http.Client // short timeout: a paused instance must not hold a poller
	bases []string     // http://127.0.0.1:port of each instance
}

// do sends a request with a JSON body (nil for none) and decodes a 200
// answer into out.
func (f *feeder) do(ctx context.Context, method, url string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, bytes.TrimSpace(data))
	}
	return json.Unmarshal(data, out)
}

// feed sends one adjust or snapshot through instance i and records it.
func (f *feeder) feed(ctx context.Context, i int, msg contract.FeedMessage) *Feed {
	rec := &Feed{Msg: msg, Instance: i, Sent: time.Now()}
	u := f.bases[i] + "/v1/stock/" + url.PathEscape(msg.SKU) + "/locations/" + url.PathEscape(msg.Location)
	var ans contract.FeedAnswer
	var err error
	if msg.Type == contract.Snapshot {
		err = f.do(ctx, http.MethodPut, u, map[string]any{"on_hand": *msg.OnHand, "source": msg.Source, "version": msg.Version}, &ans)
	} else {
		err = f.do(ctx, http.MethodPost, u+"/adjust", map[string]any{"delta": msg.Delta, "reason": msg.Reason, "id": msg.ID}, &ans)
	}
	rec.Answered = time.Now()
	if err != nil {
		rec.Err = err.Error()
	} else {
		rec.Status, rec.Ignored = ans.Status, ans.Ignored
	}
	f.h.addFeed(rec)
	return rec
}

// stock reads a SKU on instance i and records the read.
func (f *feeder) stock(ctx context.Context, i int, sku string) *Read {
	r := &Read{Instance: i}
	var v contract.StockView
	err := f.do(ctx, http.MethodGet, f.bases[i]+"/v1/stock/"+url.PathEscape(sku), nil, &v)
	r.At = time.Now()
	if err != nil {
		r.Err = err.Error()
	} else {
		r.Stock = &v
	}
	f.h.addRead(r)
	return r
}

// order reads an order on instance i; nil when it cannot be read.
func (f *feeder) order(ctx context.Context, i int, id string) *contract.OrderView {
	var v contract.OrderView
	asked := time.Now() // the state read held at some time after this: a late expiry is judged from here
	if err := f.do(ctx, http.MethodGet, f.bases[i]+"/v1/orders/"+url.PathEscape(id), nil, &v); err != nil {
		return nil
	}
	f.h.addOrderRead(id, OrderRead{Instance: i, At: asked, View: &v})
	return &v
}

// feedWorker restocks (adjusts, one in ten sent twice with its id) and
// sets snapshots, one SKU and location at a time, so that no adjust of its
// own races a snapshot: a snapshot is the last read on_hand plus 0..3, and
// is only sent when every adjust before it was applied.
func (l *load) feedWorker(stop context.Context) {
	f := l.feeds
	rng := rand.New(rand.NewPCG(uint64(l.seed), 2000))
	unsure := map[string]bool{} // sku/location with an adjust not known applied
	for n := 0; stop.Err() == nil; n++ {
		sku, loc := skus[rng.IntN(len(skus))], l.locs[rng.IntN(len(l.locs))]
		i := rng.IntN(len(f.bases))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if rng.IntN(5) == 0 && !unsure[sku+"/"+loc] {
			if r := f.stock(ctx, i, sku); r.Stock != nil {
				for _, lv := range r.Stock.Locations {
					if lv.Location == loc {
						v := lv.OnHand + int64(rng.IntN(4))
						f.feed(ctx, i, contract.FeedMessage{Type: contract.Snapshot, SKU: sku, Location: loc, OnHand: &v, Source: "erp", Version: time.Now().UnixMicro()})
					}
				}
			}
		} else {
			msg := contract.FeedMessage{Type: contract.Adjust, SKU: sku, Location: loc, Delta: int64(1 + rng.IntN(6)), Reason: "restock", ID: fmt.Sprintf("adj-%d", n)}
			rec := f.feed(ctx, i, msg)
			if rng.IntN(10) == 0 {
				rec = f.feed(ctx, (i+1)%len(f.bases), msg) // a duplicate: must count once
			}
			unsure[sku+"/"+loc] = unsure[sku+"/"+loc] || rec.Status != contract.FeedApplied
		}
		cancel()
		select {
		case <-stop.Done():
		case <-time.After(time.Duration(150+rng.IntN(200)) * time.Millisecond):
		}
	}
}

// clockWorker snapshots clockSKU every second with on_hand = version.
func (l *load) clockWorker(stop context.Context) {
	for n := int64(2); stop.Err() == nil; n++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		v := n
		l.feeds.feed(ctx, int(n)%len(l.feeds.bases), contract.FeedMessage{Type: contract.Snapshot, SKU: clockSKU, Location: l.locs[0], OnHand: &v, Source: "clock", Version: n})
		cancel()
		select {
		case <-stop.Done():
		case <-time.After(time.Second):
		}
	}
}

// pollWorker reads every SKU (and the clock) on instance i twice a second.
func (l *load) pollWorker(stop context.Context, i int) {
	for stop.Err() == nil {
		for _, sku := range append([]string{clockSKU}, skus...) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			l.feeds.stock(ctx, i, sku)
			cancel()
		}
		select {
		case <-stop.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}
