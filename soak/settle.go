package soak

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/stocksync/stocksync/contract"
)

// settle waits until no unit is reserved any more (every TTL passed), then
// reads the final stock on every instance, every order, and every
// channel's value once it stops moving.
func settle(ctx context.Context, l *load, insts []*instance) (final, error) {
	f := l.feeds
	fin := final{Stock: map[int]map[string]*contract.StockView{}, Orders: map[string]*contract.OrderView{},
		Channels: map[string]map[string]*contract.ChannelStockView{}}
	deadline := time.Now().Add(normalTTL + time.Minute)
	for {
		reserved := int64(0)
		for _, sku := range skus {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if r := f.stock(rctx, 0, sku); r.Stock != nil {
				reserved += r.Stock.Reserved
			} else {
				reserved++
			}
			cancel()
		}
		if reserved == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	time.Sleep(2 * time.Second) // the last changes reach the other instances' views
	for i := range insts {
		fin.Stock[i] = map[string]*contract.StockView{}
		for _, sku := range append([]string{clockSKU}, skus...) {
			for try := 0; try < 10; try++ {
				rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				r := f.stock(rctx, i, sku)
				cancel()
				if r.Stock != nil {
					fin.Stock[i][sku] = r.Stock
					break
				}
				time.Sleep(time.Second)
			}
		}
	}
	l.h.mu.Lock()
	ids := map[string]bool{}
	for _, a := range l.h.Attempts {
		ids[a.OrderID] = true
	}
	l.h.mu.Unlock()
	work := make(chan string)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for id := range work {
				for try := 0; try < 5; try++ {
					rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					v := f.order(rctx, (w+try)%len(insts), id)
					cancel()
					if v != nil {
						mu.Lock()
						fin.Orders[id] = v
						mu.Unlock()
						break
					}
				}
			}
		})
	}
	for id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	// Channels: read until acknowledged = projected, for at most a minute.
	chDeadline := time.Now().Add(time.Minute)
	for _, ch := range l.chans {
		fin.Channels[ch.Name] = map[string]*contract.ChannelStockView{}
		for _, sku := range skus {
			for {
				var v contract.ChannelStockView
				rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := f.do(rctx, http.MethodGet, fmt.Sprintf("%s/v1/channels/%s/stock/%s", f.bases[0], url.PathEscape(ch.Name), url.PathEscape(sku)), nil, &v)
				cancel()
				if err == nil {
					fin.Channels[ch.Name][sku] = &v
					if v.Acknowledged == v.Projected {
						break
					}
				}
				if time.Now().After(chDeadline) {
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
		}
	}
	return fin, nil
}
