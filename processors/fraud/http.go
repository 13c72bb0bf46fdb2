package fraud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stocksync/stocksync/contract"
)

// HTTP limits of POST /v1/returns and /v1/loyalty.
const (
	MaxBatchBytes  = 4 << 20 // 4 MiB: one NDJSON body
	MaxBatchEvents = 10000   // events in one body
	maxListLimit   = 1000    // GET /v1/fraud/alerts?limit
)

// Send validates every event as one of kind and produces them to kind's
// topic, keyed by customer_id; none is sent when one is invalid (a
// *contract.InvalidError naming the event's position).
func (s *Service) Send(ctx context.Context, kind Kind, events [][]byte) error {
	topic := map[Kind]string{KindReturns: string(s.names.Returns), KindLoyalty: string(s.names.Loyalty),
		KindSales: string(s.names.Sales)}[kind]
	recs := make([]*kgo.Record, 0, len(events))
	for i, raw := range events {
		e, err := DecodeEvent(kind, raw)
		if err != nil {
			return fmt.Errorf("event %d of %d: %w", i+1, len(events), err)
		}
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(e.CustomerID), Value: raw})
	}
	if err := s.producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("fraud: send %d %s events: %w", len(recs), kind, err)
	}
	return nil
}

// PostReturns serves POST /v1/returns: one return, or NDJSON of many.
func (s *Service) PostReturns(w http.ResponseWriter, r *http.Request) { s.post(w, r, KindReturns) }

// PostLoyalty serves POST /v1/loyalty: one accrual or redemption, or NDJSON
// of many.
func (s *Service) PostLoyalty(w http.ResponseWriter, r *http.Request) { s.post(w, r, KindLoyalty) }

// postAnswer is the 202 answer of an accepted batch.
type postAnswer struct {
	Accepted int `json:"accepted"`
}

func (s *Service) post(w http.ResponseWriter, r *http.Request, kind Kind) {
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBatchBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "cannot read the body: "+err.Error())
		return
	}
	if len(data) > MaxBatchBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large",
			fmt.Sprintf("the body is over the limit of %d bytes; split it", MaxBatchBytes))
		return
	}
	var events [][]byte
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request",
				fmt.Sprintf("event %d: bad JSON: %v; send one JSON object, or one per line (NDJSON)", len(events)+1, err))
			return
		}
		if len(events) == MaxBatchEvents {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large",
				fmt.Sprintf("more than %d events in one body; split it", MaxBatchEvents))
			return
		}
		events = append(events, raw)
	}
	if len(events) == 0 {
		writeError(w, http.StatusBadRequest, "bad_request", "the body holds no event: send one JSON object, or one per line (NDJSON)")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := s.Send(ctx, kind, events); err != nil {
		var inv *contract.InvalidError
		if errors.As(err, &inv) {
			writeError(w, http.StatusBadRequest, "bad_request", err.Error()+"; nothing was sent")
			return
		}
		s.log.Error("fraud: sending events failed", "kind", kind, "events", len(events), "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "Kafka did not take the events; send them again (each id applies once)")
		return
	}
	writeJSON(w, http.StatusAccepted, postAnswer{Accepted: len(events)})
}

// GetAlerts serves GET /v1/fraud/alerts?limit=&entity_type=&entity_id=&label=,
// newest first.
func (s *Service) GetAlerts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := AlertFilter{EntityType: q.Get("entity_type"), EntityID: q.Get("entity_id"), Label: q.Get("label"), Limit: 100}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("limit %q is not a number in 1..%d", v, maxListLimit))
			return
		}
		f.Limit = n
	}
	writeJSON(w, http.StatusOK, s.Alerts(f))
}

// labelBody is the body of POST /v1/fraud/alerts/{id}/label.
type labelBody struct {
	Label string `json:"label"`
}

// PostLabel serves POST /v1/fraud/alerts/{id}/label {"label":"fraud"|"legit"}.
func (s *Service) PostLabel(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	data, err := io.ReadAll(io.LimitReader(r.Body, contract.MaxMessageBytes))
	var b labelBody
	if err == nil {
		err = contract.DecodeStrict(data, &b)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if b.Label != LabelFraud && b.Label != LabelLegit {
		writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("label %q is not fraud or legit", b.Label))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	a, err := s.Label(ctx, id, b.Label)
	switch {
	case errors.Is(err, ErrUnknownAlert):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case err != nil:
		s.log.Error("fraud: labelling failed", "alert", id, "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the label was not recorded; send it again")
	default:
		writeJSON(w, http.StatusOK, a)
	}
}

// writeError answers in the API's error shape (queryapi):
// {"error":{"type","message"}}.
func writeError(w http.ResponseWriter, status int, typ, msg string) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, map[string]any{"error": map[string]string{"type": typ, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
