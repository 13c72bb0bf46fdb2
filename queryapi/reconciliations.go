package queryapi

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/stocksync/stocksync/contract"
	"github.com/stocksync/stocksync/imports"
	"github.com/stocksync/stocksync/reconcile"
)

// Reconciliations runs reconciliations and keeps their reports
// (reconcile.Service has it).
type Reconciliations interface {
	Start(ctx context.Context, in reconcile.Input) (reconcile.Run, error)
	List(limit int) []reconcile.Run
	Get(id string) (reconcile.Run, error)
	Decide(ctx context.Context, d reconcile.Decision) (reconcile.Row, error)
}

const defaultRunsListed = 50

// postReconciliation answers POST /v1/reconciliations: the body is the
// export; the run goes on after the 202.
func (a *api) postReconciliation(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	in := reconcile.Input{Body: r.Body, Source: q.Get("source"), Peers: a.peersFor(r)}
	switch f := q.Get("format"); f {
	case "":
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct == "application/x-ndjson" || ct == "application/jsonl" || ct == "application/json" {
			in.Format = imports.JSONL
		}
	case imports.CSV, imports.JSONL:
		in.Format = f
	default:
		a.fail(w, r, &contract.InvalidError{Field: "format", Reason: fmt.Sprintf("%q is not one of csv, jsonl", f)})
		return
	}
	if v := q.Get("version"); v != "" {
		var err error
		if in.Version, err = strconv.ParseInt(v, 10, 64); err != nil || in.Version < 0 {
			a.fail(w, r, &contract.InvalidError{Field: "version", Reason: fmt.Sprintf("query parameter %q is not a whole number ≥ 0", v)})
			return
		}
	}
	for _, l := range strings.Split(q.Get("locations"), ",") {
		if l = strings.TrimSpace(l); l != "" {
			in.Locations = append(in.Locations, l)
		}
	}
	run, err := a.recon.Start(r.Context(), in)
	if err != nil {
		a.reconFailed(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/reconciliations/"+url.PathEscape(run.ID))
	writeJSON(w, http.StatusAccepted, run)
}

// listReconciliations answers GET /v1/reconciliations.
func (a *api) listReconciliations(w http.ResponseWriter, r *http.Request) {
	limit := defaultRunsListed
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			a.fail(w, r, &contract.InvalidError{Field: "limit", Reason: fmt.Sprintf("query parameter %q is not a whole number ≥ 1", v)})
			return
		}
		limit = n
	}
	writeJSON(w, http.StatusOK, struct {
		Runs []reconcile.Run `json:"runs"`
	}{a.recon.List(limit)})
}

// getReconciliation answers GET /v1/reconciliations/{id}.
func (a *api) getReconciliation(w http.ResponseWriter, r *http.Request) {
	run, ok := a.run(w, r)
	if ok {
		writeJSON(w, http.StatusOK, run)
	}
}

// reconciliationCSV answers GET /v1/reconciliations/{id}/report.csv: one
// line per fixed and reported row.
func (a *api) reconciliationCSV(w http.ResponseWriter, r *http.Request) {
	run, ok := a.run(w, r)
	if !ok {
		return
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write([]string{"sku", "location", "class", "reason", "erp_on_hand", "on_hand", "reserved", "committed", "drift", "decision", "decided_at"})
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, row := range append(run.Fixed, run.Reported...) {
		at := ""
		if row.DecidedAt != nil {
			at = row.DecidedAt.Format(time.RFC3339)
		}
		_ = cw.Write([]string{row.SKU, row.Location, string(row.Class), row.Reason, n(row.ERP), n(row.OnHand), n(row.Reserved),
			n(row.Committed), n(row.Drift), row.Decision, at})
	}
	cw.Flush()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.csv"`, run.ID))
	_, _ = w.Write(buf.Bytes())
}

// decideBody is the body of POST /v1/reconciliations/{id}/apply and /dismiss.
type decideBody struct {
	SKU      string `json:"sku"`
	Location string `json:"location"`
}

// decide answers POST /v1/reconciliations/{id}/apply (apply) or /dismiss.
func (a *api) decide(apply bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := a.pathKey(w, r, "id")
		if !ok {
			return
		}
		body := decodeBody[decideBody](a, w, r, false /* emptyOK */)
		if body == nil {
			return
		}
		for _, k := range [][2]string{{"sku", body.SKU}, {"location", body.Location}} {
			if err := contract.CheckKey(k[0], k[1]); err != nil {
				a.fail(w, r, err)
				return
			}
		}
		ctx, cancel := a.writeCtx(r)
		defer cancel()
		row, err := a.recon.Decide(ctx, reconcile.Decision{Run: id, SKU: body.SKU, Location: body.Location, Apply: apply, Peers: a.peersFor(r)})
		if err != nil {
			a.reconFailed(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, row)
	}
}

func (a *api) run(w http.ResponseWriter, r *http.Request) (reconcile.Run, bool) {
	id, ok := a.pathKey(w, r, "id")
	if !ok {
		return reconcile.Run{}, false
	}
	run, err := a.recon.Get(id)
	if err != nil {
		a.reconFailed(w, r, err)
		return reconcile.Run{}, false
	}
	return run, true
}

// reconFailed answers an error of Reconciliations.
func (a *api) reconFailed(w http.ResponseWriter, r *http.Request, err error) {
	msg := strings.TrimPrefix(err.Error(), "reconcile: ")
	switch {
	case errors.Is(err, reconcile.ErrNotFound):
		writeError(w, http.StatusNotFound, ErrorNotFound, msg)
	case errors.Is(err, reconcile.ErrBusy), errors.Is(err, reconcile.ErrDecided):
		writeError(w, http.StatusConflict, ErrorConflict, msg)
	case errors.Is(err, reconcile.ErrNothingToApply), errors.Is(err, reconcile.ErrNoRows), errors.Is(err, imports.ErrFormat):
		writeError(w, http.StatusBadRequest, ErrorBadRequest, strings.TrimPrefix(msg, "imports: "))
	case errors.Is(err, reconcile.ErrNotRunning):
		writeError(w, http.StatusServiceUnavailable, ErrorUnavailable, "reconciliation is still starting; retry shortly")
	default:
		a.fail(w, r, err)
	}
}

// reconOff serves the reconciliation routes of an API without
// Config.Reconciliations: 503.
type reconOff struct{}

var errReconOff = fmt.Errorf("%w: reconciliation is not set up on this instance", reconcile.ErrNotRunning)

func (reconOff) Start(context.Context, reconcile.Input) (reconcile.Run, error) {
	return reconcile.Run{}, errReconOff
}
func (reconOff) List(int) []reconcile.Run          { return []reconcile.Run{} }
func (reconOff) Get(string) (reconcile.Run, error) { return reconcile.Run{}, errReconOff }
func (reconOff) Decide(context.Context, reconcile.Decision) (reconcile.Row, error) {
	return reconcile.Row{}, errReconOff
}

// peersFor reaches the owners of other instances' SKUs with the caller's
// token, as forward does, for a run or a decision that outlives r.
func (a *api) peersFor(r *http.Request) reconcile.Peers {
	return &peers{client: a.peers, auth: r.Header.Get("Authorization")}
}

// peers implements reconcile.Peers over the owners' HTTP API.
type peers struct {
	client *http.Client
	auth   string
}

func (p *peers) Stock(ctx context.Context, owner, sku string) (contract.StockView, error) {
	var v contract.StockView
	err := p.call(ctx, http.MethodGet, owner+"/v1/stock/"+url.PathEscape(sku), nil, &v)
	return v, err
}

func (p *peers) SubmitFeed(ctx context.Context, owner string, msg contract.FeedMessage) (contract.FeedAnswer, error) {
	var ans contract.FeedAnswer
	body, err := json.Marshal(adjustBody{Delta: msg.Delta, Reason: msg.Reason, ID: msg.ID})
	if err != nil {
		return ans, err
	}
	if msg.Type != contract.Adjust {
		return ans, fmt.Errorf("peers: only adjusts are sent, not %s", msg.Type)
	}
	err = p.call(ctx, http.MethodPost, owner+"/v1/stock/"+url.PathEscape(msg.SKU)+"/locations/"+url.PathEscape(msg.Location)+"/adjust", body, &ans)
	return ans, err
}

// call asks the owner and decodes its 200 or 202 into out; 404 is
// contract.ErrNotFound, 503 contract.ErrUnavailable.
func (p *peers) call(ctx context.Context, method, u string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set(forwardedHeader, "1")
	if p.auth != "" {
		req.Header.Set("Authorization", p.auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s %s: %v", contract.ErrUnavailable, method, u, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%w: %s %s: %v", contract.ErrUnavailable, method, u, err)
	}
	switch res.StatusCode {
	case http.StatusOK, http.StatusAccepted:
		return json.Unmarshal(data, out)
	case http.StatusNotFound:
		return fmt.Errorf("%w: %s %s", contract.ErrNotFound, method, u)
	case http.StatusServiceUnavailable:
		return fmt.Errorf("%w: %s %s: %s", contract.ErrUnavailable, method, u, bytes.TrimSpace(data))
	}
	return fmt.Errorf("%s %s: %s: %s", method, u, res.Status, bytes.TrimSpace(data))
}

// reconRoutes mounts the reconciliation routes (scopes in scopeFor).
func (a *api) reconRoutes(r chi.Router) {
	// stock:read
	r.Get("/v1/reconciliations", a.listReconciliations)
	r.Get("/v1/reconciliations/{id}", a.getReconciliation)
	r.Get("/v1/reconciliations/{id}/report.csv", a.reconciliationCSV)
	// stock:write
	r.Post("/v1/reconciliations", a.postReconciliation)
	// ops:admin
	r.Post("/v1/reconciliations/{id}/apply", a.decide(true))
	r.Post("/v1/reconciliations/{id}/dismiss", a.decide(false))
}
