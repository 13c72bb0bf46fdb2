package queryapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/stocksync/stocksync/contract"
)

// OrderReader answers GET /v1/orders/{order_id}: contract.ErrNotFound for
// an order the engine has no record of.
type OrderReader interface {
	Order(ctx context.Context, orderID string) (contract.OrderView, error)
}

// OrderSubmitter hands an order command to the engine and waits for its
// decision.
type OrderSubmitter interface {
	SubmitOrder(ctx context.Context, cmd contract.OrderCommand) (contract.OrderResult, error)
}

// reserveBody is the body of POST /v1/orders/{order_id}/reserve. The order
// id comes from the path, so a body naming it (or the type) is refused as
// having an unknown field.
type reserveBody struct {
	Lines   []contract.Line `json:"lines"`
	Channel string          `json:"channel"`
	TTLS    int64           `json:"ttl_s"` // 0 or absent: contract.DefaultTTLS
	// RequestID, optional, is echoed in the answer; without one the engine
	// names the request itself.
	RequestID string `json:"request_id"`
}

// stepBody is the body of confirm, release and ship: nothing, {}, or a
// request id to echo.
type stepBody struct {
	RequestID string `json:"request_id"`
}

// getOrder answers GET /v1/orders/{order_id}.
func (a *api) getOrder(w http.ResponseWriter, r *http.Request) {
	id, ok := a.pathKey(w, r, "order_id")
	if !ok {
		return
	}
	view, err := a.orders.Order(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, view)
}

// reserve answers POST /v1/orders/{order_id}/reserve once the engine has
// reserved every line (200) or none (409).
func (a *api) reserve(w http.ResponseWriter, r *http.Request) {
	id, ok := a.pathKey(w, r, "order_id")
	if !ok {
		return
	}
	body := decodeBody[reserveBody](a, w, r, false /* emptyOK */)
	if body == nil {
		return
	}
	a.submitOrder(w, r, contract.OrderCommand{
		Type:      contract.Reserve,
		OrderID:   id,
		Lines:     body.Lines,
		Channel:   body.Channel,
		TTLS:      body.TTLS,
		RequestID: body.RequestID,
	}, contract.StatusReserved)
}

// transition returns the handler of POST /v1/orders/{order_id}/<cmdType>,
// which answers 200 when the engine's result has status success.
func (a *api) transition(cmdType, success string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := a.pathKey(w, r, "order_id")
		if !ok {
			return
		}
		body := decodeBody[stepBody](a, w, r, true /* emptyOK */)
		if body == nil {
			return
		}
		a.submitOrder(w, r, contract.OrderCommand{Type: cmdType, OrderID: id, RequestID: body.RequestID}, success)
	}
}

// submitOrder validates cmd, waits for the engine's decision and answers it:
// 200 with the result on success, 409 with the result when it was rejected
// (the result's "error" says why).
func (a *api) submitOrder(w http.ResponseWriter, r *http.Request, cmd contract.OrderCommand, success string) {
	if err := cmd.Validate(); err != nil {
		a.fail(w, r, err)
		return
	}
	ctx, cancel := a.writeCtx(r)
	defer cancel()
	res, err := a.commands.SubmitOrder(ctx, cmd)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	switch res.Status {
	case success:
		writeJSON(w, http.StatusOK, res)
	case contract.StatusRejected:
		writeJSON(w, http.StatusConflict, res)
	default:
		a.internal(w, r, fmt.Errorf("engine answered %s of order %q with status %q", cmd.Type, cmd.OrderID, res.Status))
	}
}
