package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/stocksync/stocksync/imports"
)

// Remote sends an export to a running instance's POST /v1/reconciliations
// and waits for the run to end (stocksync reconcile --api).
type Remote struct {
	BaseURL string       // e.g. http://127.0.0.1:8080; required
	Token   string       // bearer token with the scope stock:write; "" sends none
	Client  *http.Client // default http.DefaultClient
	// Progress receives a bar of the upload, then the run's status; nil:
	// none.
	Progress io.Writer
	// Poll is how often the run is asked for while it goes on; default 1s.
	Poll time.Duration
}

// File is an export to reconcile.
type File struct {
	Path      string
	Format    string // imports.CSV or imports.JSONL; default from the extension
	Source    string // default the instance's (reconcile.source)
	Version   int64  // of rows without one; 0: unknown
	Locations []string
}

// FormatOf is the format of path by its extension: .jsonl and .ndjson are
// JSON Lines, anything else CSV.
func FormatOf(path string) string {
	if ext := filepath.Ext(path); ext == ".jsonl" || ext == ".ndjson" {
		return imports.JSONL
	}
	return imports.CSV
}

// Reconcile uploads f, then polls the run until it is done or failed, and
// returns it with its rows.
func (r *Remote) Reconcile(ctx context.Context, f File) (Run, error) {
	u, err := url.Parse(r.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Run{}, fmt.Errorf("reconcile: --api %q is not an http(s) URL such as http://127.0.0.1:8080", r.BaseURL)
	}
	if f.Format == "" {
		f.Format = FormatOf(f.Path)
	}
	file, err := os.Open(f.Path)
	if err != nil {
		return Run{}, fmt.Errorf("reconcile: %w", err)
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return Run{}, fmt.Errorf("reconcile: %w", err)
	}
	q := url.Values{"format": {f.Format}}
	if f.Source != "" {
		q.Set("source", f.Source)
	}
	if f.Version != 0 {
		q.Set("version", strconv.FormatInt(f.Version, 10))
	}
	if len(f.Locations) > 0 {
		q.Set("locations", strings.Join(f.Locations, ","))
	}
	var run Run
	base := strings.TrimSuffix(r.BaseURL, "/") + "/v1/reconciliations"
	for attempt := 0; ; attempt++ {
		if _, err := file.Seek(0, io.SeekStart); err != nil {
			return Run{}, fmt.Errorf("reconcile: %w", err)
		}
		var body io.Reader = file
		if r.Progress != nil {
			bar := progressbar.NewOptions64(st.Size(), progressbar.OptionSetWriter(r.Progress), progressbar.OptionSetDescription("reconcile: upload"),
				progressbar.OptionShowBytes(true), progressbar.OptionSetWidth(30), progressbar.OptionThrottle(250*time.Millisecond))
			reader := progressbar.NewReader(file, bar)
			body = &reader
		}
		err := r.call(ctx, http.MethodPost, base+"?"+q.Encode(), body, contentType[f.Format], http.StatusAccepted, &run)
		var unavailable *unavailableError
		if !errors.As(err, &unavailable) || attempt == 30 {
			if err != nil {
				return Run{}, err
			}
			break
		}
		select { // the instance is starting: it said when to come back
		case <-ctx.Done():
			return Run{}, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	if r.Progress != nil {
		fmt.Fprintf(r.Progress, "\nreconcile: run %s started\n", run.ID)
	}
	poll := r.Poll
	if poll == 0 {
		poll = time.Second
	}
	for run.Status == Running {
		select {
		case <-ctx.Done():
			return run, fmt.Errorf("reconcile: stopped waiting for run %s (it goes on: GET %s/%s): %w", run.ID, base, run.ID, ctx.Err())
		case <-time.After(poll):
		}
		if err := r.call(ctx, http.MethodGet, base+"/"+url.PathEscape(run.ID), nil, "", http.StatusOK, &run); err != nil {
			return run, err
		}
	}
	if run.Status == Failed {
		return run, fmt.Errorf("reconcile: run %s failed: %s", run.ID, run.Error)
	}
	return run, nil
}

// contentType is the media type of an export's format.
var contentType = map[string]string{imports.CSV: "text/csv", imports.JSONL: "application/x-ndjson"}

// call sends one request (a body of type ct) and decodes an answer of
// status want into out.
func (r *Remote) call(ctx context.Context, method, u string, body io.Reader, ct string, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	hc := r.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("reconcile: %s %s: %w", method, u, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reconcile: %s %s: reading the answer: %w", method, u, err)
	}
	if res.StatusCode != want {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		hint := ""
		if res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden {
			hint = " (set STOCKSYNC_TOKEN to a token with the scopes stock:write and stock:read)"
		}
		err := fmt.Errorf("reconcile: %s %s: %s: %s%s", method, u, res.Status, msg, hint)
		if res.StatusCode == http.StatusServiceUnavailable {
			return &unavailableError{err}
		}
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return errors.Join(fmt.Errorf("reconcile: %s %s: the answer is not a run", method, u), err)
	}
	return nil
}

// unavailableError is a 503: the instance is starting, or Kafka is away.
type unavailableError struct{ error }

func (u *unavailableError) Unwrap() error { return u.error }
