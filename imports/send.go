package imports

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stocksync/stocksync/contract"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Sender delivers a batch of snapshots durably. It returns the rows the
// target refused one by one (by index in batch, with the reason), or an
// error when the batch as a whole may not have arrived: then it is sent
// again, which is harmless for versioned snapshots.
type Sender interface {
	Send(ctx context.Context, batch []contract.FeedMessage) (refused map[int]string, err error)
	// Target names where the rows go, for the checkpoint and the messages.
	Target() string
}

// KafkaSender produces snapshots to stock.feed, keyed by SKU and
// partitioned with murmur2 like every other producer of stocksync.
type KafkaSender struct {
	Client    *kgo.Client
	Topic     string              // the deployment's stock.feed
	Locations map[string]struct{} // configured locations; a row naming another is refused. Nil: no check
}

// NewKafkaClient is a franz-go client for KafkaSender: murmur2 keyed
// partitioning (as the Java client and the engine) and batches of up to 1 MiB.
func NewKafkaClient(brokers []string, opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ClientID("stocksync-import"),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.MaxBufferedRecords(100_000),
	}, opts...)...)
}

// Target implements Sender.
func (k *KafkaSender) Target() string { return "kafka:" + k.Topic }

// Send implements Sender: it returns once every record is acknowledged.
func (k *KafkaSender) Send(ctx context.Context, batch []contract.FeedMessage) (map[int]string, error) {
	var refused map[int]string
	recs := make([]*kgo.Record, 0, len(batch))
	for i, m := range batch {
		if k.Locations != nil {
			if _, ok := k.Locations[m.Location]; !ok {
				if refused == nil {
					refused = map[int]string{}
				}
				refused[i] = fmt.Sprintf("location %q is not configured", m.Location)
				continue
			}
		}
		value, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		recs = append(recs, &kgo.Record{Topic: k.Topic, Key: []byte(m.SKU), Value: value})
	}
	if err := k.Client.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("%w: topic %s does not exist: is the config's kafka.topic_prefix the deployment's, and has stocksync serve run once to create its topics? (%v)",
				ErrRefused, k.Topic, err)
		}
		return nil, fmt.Errorf("produce to %s: %w", k.Topic, err)
	}
	return refused, nil
}

// HTTPSender posts batches as NDJSON to POST /v1/imports of a running
// instance.
type HTTPSender struct {
	BaseURL string // e.g. http://127.0.0.1:8080
	Token   string // bearer token with the scope stock:write; "" sends none
	Client  *http.Client
}

// NewHTTPSender checks baseURL and returns a sender to it.
func NewHTTPSender(baseURL, token string, client *http.Client) (*HTTPSender, error) {
	if err := validBaseURL(baseURL); err != nil {
		return nil, err
	}
	return &HTTPSender{BaseURL: baseURL, Token: token, Client: client}, nil
}

// Target implements Sender.
func (h *HTTPSender) Target() string { return strings.TrimSuffix(h.BaseURL, "/") + "/v1/imports" }

// Answer is the body of a 200 answer to POST /v1/imports.
type Answer struct {
	Rows      int64    `json:"rows"`     // non-blank lines read
	Accepted  int64    `json:"accepted"` // snapshots durably written to stock.feed
	Bad       int64    `json:"bad"`      // rows refused
	BadRows   []BadRow `json:"bad_rows"` // the first of them, by line of the body
	Truncated bool     `json:"bad_rows_truncated,omitempty"`
}

// BadRow is a refused row: its line and why.
type BadRow struct {
	Line   int64  `json:"line"`
	Reason string `json:"reason"`
}

// Send implements Sender.
func (h *HTTPSender) Send(ctx context.Context, batch []contract.FeedMessage) (map[int]string, error) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for _, m := range batch {
		if err := enc.Encode(m); err != nil {
			return nil, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.Target(), &body)
	if err != nil {
		return nil, fmt.Errorf("%w: --api %q: %v", ErrRefused, h.BaseURL, err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if h.Token != "" {
		req.Header.Set("Authorization", "Bearer "+h.Token)
	}
	hc := h.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", h.Target(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("POST %s: reading the answer: %w", h.Target(), err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%w: POST %s: %s: %s (set STOCKSYNC_TOKEN to a token with the scope stock:write)",
			ErrRefused, h.Target(), resp.Status, errorMessage(data))
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusRequestEntityTooLarge:
		return nil, fmt.Errorf("%w: POST %s: %s: %s", ErrRefused, h.Target(), resp.Status, errorMessage(data))
	default: // 429, 5xx: the batch is sent again
		return nil, &retryError{wait: retryAfter(resp.Header.Get("Retry-After")),
			err: fmt.Errorf("POST %s: %s: %s", h.Target(), resp.Status, errorMessage(data))}
	}
	var ans Answer
	if err := json.Unmarshal(data, &ans); err != nil {
		return nil, fmt.Errorf("POST %s: the answer is not an import summary: %w", h.Target(), err)
	}
	if ans.Truncated {
		return nil, fmt.Errorf("%w: POST %s: the server listed only some of %d bad rows of a batch of %d",
			ErrRefused, h.Target(), ans.Bad, len(batch))
	}
	var refused map[int]string
	for _, b := range ans.BadRows {
		if b.Line < 1 || b.Line > int64(len(batch)) {
			return nil, fmt.Errorf("POST %s: the answer names line %d of a batch of %d", h.Target(), b.Line, len(batch))
		}
		if refused == nil {
			refused = map[int]string{}
		}
		refused[int(b.Line-1)] = b.Reason
	}
	return refused, nil
}

// errorMessage is the message of the API's error shape, or the body itself.
func errorMessage(data []byte) string {
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
		return e.Error.Message
	}
	s := strings.TrimSpace(string(data))
	if sc := bufio.NewScanner(strings.NewReader(s)); sc.Scan() {
		s = sc.Text()
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// retryError is a failure worth retrying after wait.
type retryError struct {
	wait time.Duration
	err  error
}

func (r *retryError) Error() string { return r.err.Error() }
func (r *retryError) Unwrap() error { return r.err }

func retryAfter(v string) time.Duration {
	var secs int
	if _, err := fmt.Sscan(v, &secs); err == nil && secs > 0 && secs < 60 {
		return time.Duration(secs) * time.Second
	}
	return 0
}

// validBaseURL checks --api.
func validBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL such as http://127.0.0.1:8080", s)
	}
	return nil
}
