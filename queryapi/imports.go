package queryapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/stocksync/stocksync/contract"
)

// FeedBatcher sends feed messages to stock.feed in bulk (POST /v1/imports).
// SendFeed returns once every message is durably written, or an error when
// some may not be; resending them is harmless for versioned snapshots.
type FeedBatcher interface {
	SendFeed(ctx context.Context, msgs []contract.FeedMessage) error
}

// Limits of one import request. A larger export is sent as several
// requests (stocksync import does, 5000 rows at a time).
const (
	importBatch      = 5000      // rows per SendFeed: one acknowledged produce per stocksync import batch
	maxImportRows    = 1_000_000 // non-blank lines per request
	maxImportBadRows = 10_000    // bad rows listed in the answer (all are counted): a stocksync import batch fits
)

// importRow is a line of the NDJSON body of POST /v1/imports: a snapshot.
// source and version may come from the query string instead.
type importRow struct {
	Type     string `json:"type"` // "snapshot" or absent
	SKU      string `json:"sku"`
	Location string `json:"location"`
	OnHand   *int64 `json:"on_hand"`
	Source   string `json:"source"`
	Version  int64  `json:"version"`
}

// importAnswer is the body of a 200 answer to POST /v1/imports.
type importAnswer struct {
	Rows      int64          `json:"rows"`     // non-blank lines read
	Accepted  int64          `json:"accepted"` // snapshots durably written to stock.feed
	Bad       int64          `json:"bad"`      // lines refused
	BadRows   []importBadRow `json:"bad_rows"` // the first maxImportBadRows of them
	Truncated bool           `json:"bad_rows_truncated,omitempty"`
}

type importBadRow struct {
	Line   int64  `json:"line"` // 1-based line of the body
	Reason string `json:"reason"`
}

// postImports answers POST /v1/imports: the body's snapshot rows are
// validated and written to stock.feed as they are read, in constant memory;
// bad rows are listed by line, the good ones are sent.
func (a *api) postImports(w http.ResponseWriter, r *http.Request) {
	if a.imports == nil {
		writeError(w, http.StatusServiceUnavailable, ErrorUnavailable, "this instance cannot write to stock.feed in bulk")
		return
	}
	q := r.URL.Query()
	source := q.Get("source")
	var version int64
	if v := q.Get("version"); v != "" {
		var err error
		if version, err = strconv.ParseInt(v, 10, 64); err != nil || version <= 0 {
			a.fail(w, r, &contract.InvalidError{Field: "version", Reason: fmt.Sprintf("query parameter %q is not a positive whole number", v)})
			return
		}
	}
	known := map[string]bool{}
	for _, l := range a.catalogue.Locations() {
		known[l.Name] = true
	}
	var ans importAnswer
	bad := func(line int64, reason string) {
		ans.Bad++
		if len(ans.BadRows) < maxImportBadRows {
			ans.BadRows = append(ans.BadRows, importBadRow{Line: line, Reason: reason})
		} else {
			ans.Truncated = true
		}
	}
	batch := make([]contract.FeedMessage, 0, importBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		ctx, cancel := a.writeCtx(r)
		defer cancel()
		if err := a.imports.SendFeed(ctx, batch); err != nil {
			return err
		}
		ans.Accepted += int64(len(batch))
		batch = batch[:0]
		return nil
	}
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 0, 64<<10), contract.MaxMessageBytes+1)
	var line int64
	for sc.Scan() {
		line++
		data := bytes.TrimSpace(sc.Bytes())
		if len(data) == 0 {
			continue
		}
		if ans.Rows++; ans.Rows > maxImportRows {
			writeError(w, http.StatusRequestEntityTooLarge, ErrorTooLarge,
				fmt.Sprintf("over %d rows in one request; the first %d were sent: send the rest in another", maxImportRows, ans.Accepted+int64(len(batch))))
			return
		}
		msg, reason := importMessage(data, source, version, known)
		if reason != "" {
			bad(line, reason)
			continue
		}
		if batch = append(batch, msg); len(batch) == importBatch {
			if err := flush(); err != nil {
				a.importFailed(w, r, err, line)
				return
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			writeError(w, http.StatusRequestEntityTooLarge, ErrorTooLarge,
				fmt.Sprintf("line %d is over %d bytes; the rows before it were sent", line+1, contract.MaxMessageBytes))
			return
		}
		a.fail(w, r, &contract.InvalidError{Reason: "cannot read the body: " + err.Error()})
		return
	}
	if err := flush(); err != nil {
		a.importFailed(w, r, err, line)
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

// importFailed answers a failed write to stock.feed: the rows sent before
// it stay sent; the client sends the body again (harmless for snapshots).
func (a *api) importFailed(w http.ResponseWriter, r *http.Request, err error, line int64) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		w.WriteHeader(statusClientClosed)
		return
	}
	a.log.WarnContext(r.Context(), "queryapi: import: writing to stock.feed failed", "line", line, "err", err)
	writeError(w, http.StatusServiceUnavailable, ErrorUnavailable,
		fmt.Sprintf("writing to stock.feed failed near line %d: send the body again (snapshots are versioned, resending is harmless)", line))
}

// importMessage decodes and checks one row; reason is non-empty for a bad one.
func importMessage(data []byte, source string, version int64, known map[string]bool) (contract.FeedMessage, string) {
	var row importRow
	if err := contract.DecodeStrict(data, &row); err != nil {
		return contract.FeedMessage{}, strings.TrimPrefix(err.Error(), "contract: invalid input: ")
	}
	if row.Type != "" && row.Type != contract.Snapshot {
		return contract.FeedMessage{}, fmt.Sprintf("type %q: an import takes snapshots only", row.Type)
	}
	if row.Source == "" {
		row.Source = source
	}
	if row.Version == 0 {
		row.Version = version
	}
	msg := contract.FeedMessage{Type: contract.Snapshot, SKU: row.SKU, Location: row.Location, OnHand: row.OnHand,
		Source: row.Source, Version: row.Version}
	if err := msg.Validate(); err != nil {
		var inv *contract.InvalidError
		if errors.As(err, &inv) {
			return msg, invalidMessage(inv)
		}
		return msg, err.Error()
	}
	if !known[msg.Location] {
		return msg, fmt.Sprintf("location: %q is not configured", msg.Location)
	}
	return msg, ""
}
