package queryapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stocksync/stocksync/contract"
)

// fakeEngine plays every engine role of Config in memory, with fixed rules
// enough to drive every answer of the API:
//   - SubmitOrder rejects a reserve line over 5 units as insufficient_stock
//     and a confirm/release/ship of order "o-unknown" as unknown_order;
//   - SubmitFeed applies snapshots and accepts (queues) adjusts;
//   - a SKU or order id "panic" panics; "block" waits for ctx to end;
//   - err, when set, is returned by every keyed method.
type fakeEngine struct {
	mu      sync.Mutex
	stock   map[string]contract.StockView
	orders  map[string]contract.OrderView
	locs    []contract.LocationInfo
	chans   []contract.ChannelInfo
	ready   error
	err     error
	gotCmd  []contract.OrderCommand
	gotFeed []contract.FeedMessage

	blocked          chan struct{} // a request for key "block" has reached the engine
	notOwner         string        // base URL ChannelStock names as the owner of "owned-elsewhere"
	pushed, replayed int
	pending          []contract.PendingValue // PendingChannelStock of ozon; nil: one value for SKU "A"
}

const fakeAvailable = 5

func newFakeEngine() *fakeEngine {
	return &fakeEngine{
		blocked: make(chan struct{}, 16),
		stock: map[string]contract.StockView{
			"A": {SKU: "A", OnHand: 10, Reserved: 2, Committed: 1, Available: 7,
				Locations: []contract.LocationView{{Location: "msk-1", OnHand: 10, Reserved: 2, Committed: 1, Available: 7}},
				Channels:  map[string]int64{"ozon": 5, "web": 7}},
			"A/B":  {SKU: "A/B", Locations: []contract.LocationView{}, Channels: map[string]int64{}},
			"100%": {SKU: "100%", Locations: []contract.LocationView{}, Channels: map[string]int64{}},
		},
		orders: map[string]contract.OrderView{
			"o-1": {OrderID: "o-1", State: contract.StatusReserved, Channel: "web",
				Lines: []contract.Line{{SKU: "A", Qty: 2, Location: "msk-1"}}, ExpiresAt: "2025-01-01T00:15:00Z"},
		},
		locs:  []contract.LocationInfo{{Name: "msk-1", Kind: "warehouse"}, {Name: "msk-ds-2", Kind: "darkstore"}},
		chans: []contract.ChannelInfo{{Name: "ozon", Marketplace: "ozon", Mode: "auto", Circuit: "closed", Pending: 3, LastAckAt: "2025-01-01T00:00:00Z"}},
	}
}

func (e *fakeEngine) special(ctx context.Context, key string) error {
	switch key {
	case "panic":
		panic("fake engine: panic requested")
	case "block":
		select {
		case e.blocked <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return ctx.Err()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

func (e *fakeEngine) Stock(ctx context.Context, sku string) (contract.StockView, error) {
	if err := e.special(ctx, sku); err != nil {
		return contract.StockView{}, err
	}
	v, ok := e.stock[sku]
	if !ok {
		return v, contract.ErrNotFound
	}
	return v, nil
}

func (e *fakeEngine) Order(ctx context.Context, id string) (contract.OrderView, error) {
	if err := e.special(ctx, id); err != nil {
		return contract.OrderView{}, err
	}
	v, ok := e.orders[id]
	if !ok {
		return v, contract.ErrNotFound
	}
	return v, nil
}

func (e *fakeEngine) SubmitOrder(ctx context.Context, cmd contract.OrderCommand) (contract.OrderResult, error) {
	if err := e.special(ctx, cmd.OrderID); err != nil {
		return contract.OrderResult{}, err
	}
	e.mu.Lock()
	e.gotCmd = append(e.gotCmd, cmd)
	e.mu.Unlock()
	res := contract.OrderResult{OrderID: cmd.OrderID, Type: cmd.Type}
	switch cmd.Type {
	case contract.Reserve:
		for _, l := range cmd.Lines {
			if l.Qty > fakeAvailable {
				avail := int64(fakeAvailable)
				res.Status = contract.StatusRejected
				res.Error = &contract.Reason{Type: contract.ErrInsufficientStock, SKU: l.SKU, Requested: l.Qty, Available: &avail}
				return res, nil
			}
			if l.Location == "" {
				l.Location = "msk-1"
			}
			res.Lines = append(res.Lines, l)
		}
		res.Status, res.ExpiresAt = contract.StatusReserved, "2025-01-01T00:15:00Z"
	case contract.Confirm, contract.Release, contract.Ship:
		if cmd.OrderID == "o-unknown" {
			res.Status = contract.StatusRejected
			res.Error = &contract.Reason{Type: contract.ErrUnknownOrder, Message: "never reserved"}
			return res, nil
		}
		res.Status = map[string]string{
			contract.Confirm: contract.StatusConfirmed,
			contract.Release: contract.StatusReleased,
			contract.Ship:    contract.StatusShipped,
		}[cmd.Type]
	}
	return res, nil
}

func (e *fakeEngine) SubmitFeed(ctx context.Context, msg contract.FeedMessage) (contract.FeedAnswer, error) {
	if err := e.special(ctx, msg.SKU); err != nil {
		return contract.FeedAnswer{}, err
	}
	e.mu.Lock()
	e.gotFeed = append(e.gotFeed, msg)
	e.mu.Unlock()
	if msg.Type == contract.Adjust {
		return contract.FeedAnswer{Status: contract.FeedAccepted}, nil
	}
	return contract.FeedAnswer{Status: contract.FeedApplied, Ignored: msg.Version < 10}, nil
}

func (e *fakeEngine) Locations() []contract.LocationInfo { return e.locs }
func (e *fakeEngine) Channels() []contract.ChannelInfo   { return e.chans }

func (e *fakeEngine) Ready() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ready
}

// serveFake has e play every engine role of c.
func serveFake(c *Config, e *fakeEngine) {
	c.Stock, c.Feed, c.Orders, c.OrderCommands, c.Catalogue, c.Readiness, c.Channels = e, e, e, e, e, e, e
}

func (e *fakeEngine) set(f func(e *fakeEngine)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f(e)
}

func (e *fakeEngine) lastCmd() contract.OrderCommand {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.gotCmd[len(e.gotCmd)-1]
}

func (e *fakeEngine) lastFeed() contract.FeedMessage {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.gotFeed[len(e.gotFeed)-1]
}

// syncBuffer is a log sink the server's goroutines and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testServer is the API on a real HTTP server over a fake engine.
type testServer struct {
	*httptest.Server
	engine *fakeEngine
	logs   *syncBuffer
}

func newTestServer(t *testing.T, mods ...func(*Config)) *testServer {
	t.Helper()
	ts := &testServer{engine: newFakeEngine(), logs: &syncBuffer{}}
	reg := prometheus.NewRegistry()
	cfg := Config{
		Registry: reg,
		Gatherer: reg,
		Logger:   slog.New(slog.NewJSONHandler(ts.logs, nil)),
		Open:     true,
	}
	serveFake(&cfg, ts.engine)
	for _, m := range mods {
		m(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts.Server = httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

// answer is what a client sees.
type answer struct {
	status int
	header http.Header
	body   string
}

// do sends method path (which may hold escapes such as %2F, sent as given)
// with body; an empty body is sent as no body.
func (ts *testServer) do(t *testing.T, method, path, body string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// errBody is the exact error answer for typ and msg.
func errBody(typ ErrorType, msg string) string {
	b, _ := json.Marshal(ErrorResponse{Error: ErrorDetail{Type: typ, Message: msg}})
	return string(b) + "\n"
}
