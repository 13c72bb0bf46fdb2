package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/stocksync/stocksync/contract"
	"github.com/twmb/franz-go/pkg/kgo"
)

// SendFeed writes feed messages to stock.feed, keyed by SKU, and returns
// once all are acknowledged (queryapi.FeedBatcher, for POST /v1/imports).
// The caller has validated them; the inventory processor applies them in
// order per SKU.
func (e *Engine) SendFeed(ctx context.Context, msgs []contract.FeedMessage) error {
	topic := string(e.Names().StockFeed)
	recs := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		value, err := json.Marshal(m)
		if err != nil {
			return err
		}
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(m.SKU), Value: value}
	}
	if err := e.Producer().ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("%w: writing %d feed messages to %s: %v", contract.ErrUnavailable, len(msgs), topic, err)
	}
	return nil
}
