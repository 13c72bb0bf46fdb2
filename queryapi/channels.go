package queryapi

import (
	"context"
	"encoding/csv"
	"math"
	"net/http"
	"strconv"

	"github.com/stocksync/stocksync/contract"
)

// The channel routes: what each channel's marketplace acknowledged, and the
// operators' controls (manual mode, push now, DLQ replay).

// ChannelOperator is what the channel routes read of a channel and the
// operators' controls over it. An unknown channel is contract.ErrNotFound.
type ChannelOperator interface {
	// ChannelStock is what the channel shows of sku against what its
	// marketplace acknowledged.
	ChannelStock(ctx context.Context, channel, sku string) (contract.ChannelStockView, error)
	// SetChannelMode sets the channel's mode for every instance; a mode
	// that is not one of the contract's is a *contract.InvalidError
	// (contract.ChannelMode.Validate).
	SetChannelMode(ctx context.Context, channel string, mode contract.ChannelMode) (contract.ChannelInfo, error)
	// PendingChannelStock is every value the marketplace has not
	// acknowledged yet, sorted by SKU.
	PendingChannelStock(channel string) ([]contract.PendingValue, error)
	// PushChannelNow asks for a push now, not at the next tick.
	PushChannelNow(channel string) error
	// ReplayChannelDLQ releases the channel's parked values for another push.
	ReplayChannelDLQ(ctx context.Context, channel string) error
}

func (a *api) channelStock(w http.ResponseWriter, r *http.Request) {
	name, ok := a.pathKey(w, r, "name")
	if !ok {
		return
	}
	sku, ok := a.pathKey(w, r, "sku")
	if !ok {
		return
	}
	v, err := a.channelOps.ChannelStock(r.Context(), name, sku)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

type modeBody struct {
	Mode string `json:"mode"`
}

func (a *api) setMode(w http.ResponseWriter, r *http.Request) {
	name, ok := a.pathKey(w, r, "name")
	if !ok {
		return
	}
	body := decodeBody[modeBody](a, w, r, false)
	if body == nil {
		return
	}
	ctx, cancel := a.writeCtx(r)
	defer cancel()
	info, err := a.channelOps.SetChannelMode(ctx, name, contract.ChannelMode(body.Mode))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// pendingAnswer is the body of GET /v1/channels/{name}/pending: a page of
// the values sorted by SKU, and how many there are in all.
type pendingAnswer struct {
	Channel string                  `json:"channel"`
	Total   int                     `json:"total"`
	Offset  int                     `json:"offset"`
	Items   []contract.PendingValue `json:"items"`
}

// pending answers GET /v1/channels/{name}/pending?offset=&limit=; without
// limit, every value from offset on.
func (a *api) pending(w http.ResponseWriter, r *http.Request) {
	offset, ok := a.intParam(w, r, "offset", 0, math.MaxInt)
	if !ok {
		return
	}
	limit, ok := a.intParam(w, r, "limit", math.MaxInt, math.MaxInt)
	if !ok {
		return
	}
	name, items, ok := a.pendingOf(w, r)
	if !ok {
		return
	}
	total := len(items)
	items = items[min(offset, total):]
	items = items[:min(limit, len(items))]
	writeJSON(w, http.StatusOK, pendingAnswer{Channel: name, Total: total, Offset: offset, Items: items})
}

// pendingCSV exports what a channel's marketplace should show but has not
// acknowledged, for an operator to upload by hand.
func (a *api) pendingCSV(w http.ResponseWriter, r *http.Request) {
	name, items, ok := a.pendingOf(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`-pending.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"sku", "available", "version", "since", "attempts", "last_error"})
	for _, p := range items {
		_ = cw.Write([]string{p.SKU, strconv.FormatInt(p.Available, 10), strconv.FormatInt(p.Version, 10),
			p.Since, strconv.Itoa(p.Attempts), p.LastError})
	}
	cw.Flush()
}

func (a *api) pendingOf(w http.ResponseWriter, r *http.Request) (string, []contract.PendingValue, bool) {
	name, ok := a.pathKey(w, r, "name")
	if !ok {
		return "", nil, false
	}
	items, err := a.channelOps.PendingChannelStock(name)
	if err != nil {
		a.fail(w, r, err)
		return "", nil, false
	}
	if items == nil {
		items = []contract.PendingValue{}
	}
	return name, items, true
}

// statusAnswer is the body of an accepted operator command.
type statusAnswer struct {
	Status string `json:"status"`
}

func (a *api) pushNow(w http.ResponseWriter, r *http.Request) {
	name, ok := a.pathKey(w, r, "name")
	if !ok || decodeBody[struct{}](a, w, r, true) == nil {
		return
	}
	if err := a.channelOps.PushChannelNow(name); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, statusAnswer{Status: "push requested"})
}

func (a *api) replayDLQ(w http.ResponseWriter, r *http.Request) {
	name, ok := a.pathKey(w, r, "name")
	if !ok || decodeBody[struct{}](a, w, r, true) == nil {
		return
	}
	ctx, cancel := a.writeCtx(r)
	defer cancel()
	if err := a.channelOps.ReplayChannelDLQ(ctx, name); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, statusAnswer{Status: "parked values sent again"})
}
