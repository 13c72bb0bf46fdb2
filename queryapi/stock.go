package queryapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/stocksync/stocksync/contract"
)

// StockReader answers GET /v1/stock/{sku}: contract.ErrNotFound for a SKU
// the engine has no record of.
type StockReader interface {
	Stock(ctx context.Context, sku string) (contract.StockView, error)
}

// FeedSubmitter applies a snapshot or an adjust and answers once it is
// applied or durably queued (FeedAnswer.Status says which).
type FeedSubmitter interface {
	SubmitFeed(ctx context.Context, msg contract.FeedMessage) (contract.FeedAnswer, error)
}

// snapshotBody is the body of PUT /v1/stock/{sku}/locations/{location}. The
// SKU and location come from the path, so a body naming them (or the type) is
// refused as having an unknown field.
type snapshotBody struct {
	OnHand  *int64 `json:"on_hand"` // a pointer: 0 is a valid count, absent is not
	Source  string `json:"source"`
	Version int64  `json:"version"`
}

// adjustBody is the body of POST /v1/stock/{sku}/locations/{location}/adjust.
type adjustBody struct {
	Delta  int64  `json:"delta"`
	Reason string `json:"reason"`
	ID     string `json:"id"`
}

// getStock answers GET /v1/stock/{sku}.
func (a *api) getStock(w http.ResponseWriter, r *http.Request) {
	sku, ok := a.pathKey(w, r, "sku")
	if !ok {
		return
	}
	view, err := a.stock.Stock(r.Context(), sku)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, view)
}

// putSnapshot answers PUT /v1/stock/{sku}/locations/{location}: a snapshot
// that sets on_hand absolutely if its version is newer.
func (a *api) putSnapshot(w http.ResponseWriter, r *http.Request) {
	sku, location, ok := a.stockPath(w, r)
	if !ok {
		return
	}
	body := decodeBody[snapshotBody](a, w, r, false /* emptyOK */)
	if body == nil {
		return
	}
	a.submitFeed(w, r, contract.FeedMessage{
		Type:     contract.Snapshot,
		SKU:      sku,
		Location: location,
		OnHand:   body.OnHand,
		Source:   body.Source,
		Version:  body.Version,
	})
}

// postAdjust answers POST /v1/stock/{sku}/locations/{location}/adjust.
func (a *api) postAdjust(w http.ResponseWriter, r *http.Request) {
	sku, location, ok := a.stockPath(w, r)
	if !ok {
		return
	}
	body := decodeBody[adjustBody](a, w, r, false /* emptyOK */)
	if body == nil {
		return
	}
	a.submitFeed(w, r, contract.FeedMessage{
		Type:     contract.Adjust,
		SKU:      sku,
		Location: location,
		Delta:    body.Delta,
		Reason:   body.Reason,
		ID:       body.ID,
	})
}

func (a *api) stockPath(w http.ResponseWriter, r *http.Request) (sku, location string, ok bool) {
	if sku, ok = a.pathKey(w, r, "sku"); !ok {
		return "", "", false
	}
	if location, ok = a.pathKey(w, r, "location"); !ok {
		return "", "", false
	}
	return sku, location, true
}

// submitFeed validates msg, hands it to the engine and answers 200 when the
// change is applied, 202 when it is durably queued but not yet applied.
func (a *api) submitFeed(w http.ResponseWriter, r *http.Request, msg contract.FeedMessage) {
	if err := msg.Validate(); err != nil {
		a.fail(w, r, err)
		return
	}
	ctx, cancel := a.writeCtx(r)
	defer cancel()
	answer, err := a.feed.SubmitFeed(ctx, msg)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	switch answer.Status {
	case contract.FeedApplied:
		writeJSON(w, http.StatusOK, answer)
	case contract.FeedAccepted:
		writeJSON(w, http.StatusAccepted, answer)
	default:
		a.internal(w, r, fmt.Errorf("engine answered a %s with status %q", msg.Type, answer.Status))
	}
}
