package queryapi

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stocksync/stocksync/contract"
)

func TestHealthAndReady(t *testing.T) {
	ts := newTestServer(t)
	ts.engine.set(func(e *fakeEngine) { e.ready = errors.New("tables not recovered: inventory partitions 3, 7") })
	runCases(t, ts, []routeCase{
		{name: "healthz while not ready", method: "GET", path: "/healthz", status: 200, want: `{"status":"ok"}` + "\n"},
		{name: "readyz before ready", method: "GET", path: "/readyz", status: 503,
			want: errBody(ErrorUnavailable, "tables not recovered: inventory partitions 3, 7")},
	})
	if got := ts.do(t, "GET", "/readyz", ""); got.header.Get("Retry-After") != "1" {
		t.Errorf("readyz 503 Retry-After = %q, want 1", got.header.Get("Retry-After"))
	}
	ts.engine.set(func(e *fakeEngine) { e.ready = nil })
	runCases(t, ts, []routeCase{
		{name: "healthz when ready", method: "GET", path: "/healthz", status: 200, want: `{"status":"ok"}` + "\n"},
		{name: "readyz after ready", method: "GET", path: "/readyz", status: 200, want: `{"status":"ready"}` + "\n"},
	})
}

func TestReadyzWaitsForTheReadyGate(t *testing.T) {
	var gate atomic.Pointer[error]
	seeding := errors.New("dev: applying the demo catalogue (4000/15000 snapshots sent)")
	gate.Store(&seeding)
	ts := newTestServer(t, func(c *Config) { c.ReadyGate = func() error { return *gate.Load() } })
	ts.engine.set(func(e *fakeEngine) { e.ready = nil })
	runCases(t, ts, []routeCase{
		{name: "engine ready, gate closed", method: "GET", path: "/readyz", status: 503,
			want: errBody(ErrorUnavailable, "dev: applying the demo catalogue (4000/15000 snapshots sent)")},
	})
	var open error
	gate.Store(&open)
	runCases(t, ts, []routeCase{
		{name: "gate open", method: "GET", path: "/readyz", status: 200, want: `{"status":"ready"}` + "\n"},
	})
	ts.engine.set(func(e *fakeEngine) { e.ready = errors.New("still starting: waiting for orders table") })
	runCases(t, ts, []routeCase{
		{name: "engine not ready, gate open", method: "GET", path: "/readyz", status: 503,
			want: errBody(ErrorUnavailable, "still starting: waiting for orders table")},
	})
}

func TestLocationsAndChannels(t *testing.T) {
	ts := newTestServer(t)
	runCases(t, ts, []routeCase{
		{name: "locations", method: "GET", path: "/v1/locations", status: 200,
			want: `[{"name":"msk-1","kind":"warehouse"},{"name":"msk-ds-2","kind":"darkstore"}]` + "\n"},
		{name: "channels", method: "GET", path: "/v1/channels", status: 200,
			want: `[{"name":"ozon","marketplace":"ozon","mode":"auto","circuit":"closed","pending":3,"last_ack_at":"2025-01-01T00:00:00Z"}]` + "\n"},
	})
	ts.engine.set(func(e *fakeEngine) { e.locs, e.chans = nil, []contract.ChannelInfo{} })
	runCases(t, ts, []routeCase{
		{name: "no locations", method: "GET", path: "/v1/locations", status: 200, want: "[]\n"},
		{name: "no channels", method: "GET", path: "/v1/channels", status: 200, want: "[]\n"},
	})
}
