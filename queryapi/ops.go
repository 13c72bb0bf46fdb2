package queryapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/opsui"
)

// The ops console's routes (opsui): live series, top SKUs, the cluster,
// order history and the DLQ. The engine's own roles are on Config; these
// read what opsui.Console gathers beside it.

// Console is what the console's routes read (opsui.Console implements it).
type Console interface {
	Series(since time.Time) opsui.Series
	Top(n int) opsui.Top
	History(orderID string) []opsui.Event
	Cluster(ctx context.Context) (opsui.ClusterView, error)
	DeadLetters(ctx context.Context, class string, limit int) (opsui.DeadLetterPage, error)
	DeadLetter(ctx context.Context, id string) (opsui.DeadLetter, error)
	Replay(ctx context.Context, ids []string) []opsui.Replayed
}

// consoleOff answers the console's routes on an instance without one.
func consoleOff(w http.ResponseWriter, _ *http.Request) {
	writeError(w, http.StatusNotFound, ErrorNotFound, "the ops console's data is off on this instance (queryapi.Config.Console is not set)")
}

// consoleRoute serves h when the API has a console, else 404.
func (a *api) consoleRoute(h http.HandlerFunc) http.HandlerFunc {
	if a.console == nil {
		return consoleOff
	}
	return h
}

// intParam reads a non-negative integer query parameter, def when absent,
// capped at most; on a bad value it answers 400 and returns false.
func (a *api) intParam(w http.ResponseWriter, r *http.Request, name string, def, most int) (int, bool) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		a.fail(w, r, &contract.InvalidError{Field: name, Reason: "must be a whole number ≥ 0, is " + strconv.Quote(s)})
		return 0, false
	}
	return min(n, most), true
}

// series answers GET /v1/ops/series?since=<unix ms>: the samples after since.
func (a *api) series(w http.ResponseWriter, r *http.Request) {
	since, ok := a.intParam(w, r, "since", 0, 1<<62)
	if ok {
		writeJSON(w, http.StatusOK, a.console.Series(time.UnixMilli(int64(since))))
	}
}

// top answers GET /v1/ops/top?n=10.
func (a *api) top(w http.ResponseWriter, r *http.Request) {
	n, ok := a.intParam(w, r, "n", 10, 100)
	if ok {
		writeJSON(w, http.StatusOK, a.console.Top(n))
	}
}

// cluster answers GET /v1/ops/cluster.
func (a *api) cluster(w http.ResponseWriter, r *http.Request) {
	v, err := a.console.Cluster(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// historyAnswer is the body of GET /v1/orders/{order_id}/history.
type historyAnswer struct {
	OrderID string        `json:"order_id"`
	Events  []opsui.Event `json:"events"`
}

// orderHistory answers GET /v1/orders/{order_id}/history: the answers this
// instance saw for the order, oldest first ([] when it saw none).
func (a *api) orderHistory(w http.ResponseWriter, r *http.Request) {
	id, ok := a.pathKey(w, r, "order_id")
	if !ok {
		return
	}
	evs := a.console.History(id)
	if evs == nil {
		evs = []opsui.Event{}
	}
	writeJSON(w, http.StatusOK, historyAnswer{OrderID: id, Events: evs})
}

// deadLetters answers GET /v1/dlq?class=&limit=.
func (a *api) deadLetters(w http.ResponseWriter, r *http.Request) {
	limit, ok := a.intParam(w, r, "limit", 100, 1000)
	if !ok {
		return
	}
	page, err := a.console.DeadLetters(r.Context(), r.URL.Query().Get("class"), limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// deadLetter answers GET /v1/dlq/{id}.
func (a *api) deadLetter(w http.ResponseWriter, r *http.Request) {
	id, ok := a.pathKey(w, r, "id")
	if !ok {
		return
	}
	d, err := a.console.DeadLetter(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// replayBody is the body of POST /v1/dlq/replay: the ids to replay, or all
// of a class (all of the scanned messages with class "").
type replayBody struct {
	IDs   []string `json:"ids"`
	All   bool     `json:"all"`
	Class string   `json:"class"`
}

// maxReplay bounds the messages one replay sends.
const maxReplay = 1000

func (a *api) replayDeadLetters(w http.ResponseWriter, r *http.Request) {
	body := decodeBody[replayBody](a, w, r, false)
	if body == nil {
		return
	}
	ids := body.IDs
	switch {
	case body.All && len(ids) > 0:
		a.fail(w, r, &contract.InvalidError{Field: "ids", Reason: "give ids or all, not both"})
		return
	case body.All:
		page, err := a.console.DeadLetters(r.Context(), body.Class, maxReplay)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		for _, d := range page.Items {
			if d.Replayed == "" {
				ids = append(ids, d.ID)
			}
		}
	case len(ids) == 0:
		a.fail(w, r, &contract.InvalidError{Field: "ids", Reason: "name at least one message, or set all"})
		return
	case len(ids) > maxReplay:
		a.fail(w, r, &contract.InvalidError{Field: "ids", Reason: "at most " + strconv.Itoa(maxReplay) + " per request"})
		return
	}
	ctx, cancel := a.writeCtx(r)
	defer cancel()
	writeJSON(w, http.StatusOK, map[string]any{"replayed": a.console.Replay(ctx, ids)})
}
