package queryapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stocksync/stocksync/contract"
)

// fakeBatcher records what POST /v1/imports writes to stock.feed.
type fakeBatcher struct {
	mu   sync.Mutex
	sent []contract.FeedMessage
	fail error
}

func (b *fakeBatcher) SendFeed(ctx context.Context, msgs []contract.FeedMessage) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		return b.fail
	}
	b.sent = append(b.sent, msgs...)
	return nil
}

func TestPostImports(t *testing.T) {
	batcher := &fakeBatcher{}
	ts := newTestServer(t, func(c *Config) { c.Imports = batcher })
	body := strings.Join([]string{
		`{"sku":"A","location":"msk-1","on_hand":10,"source":"erp","version":3}`,
		`{"type":"snapshot","sku":"B","location":"msk-ds-2","on_hand":0}`, // source and version from the query
		``,
		`{"sku":"C","location":"nowhere","on_hand":1}`,
		`{"sku":"D","location":"msk-1","on_hand":-1}`,
		`{"type":"adjust","sku":"E","location":"msk-1","delta":1,"id":"x"}`,
		`{"sku":"F","location":"msk-1","on_hand":1,"colour":"red"}`,
		`{"sku":"G","location":"msk-1",`,
	}, "\n")
	got := ts.do(t, "POST", "/v1/imports?source=erp&version=7", body)
	if got.status != 200 {
		t.Fatalf("status %d: %s", got.status, got.body)
	}
	var ans importAnswer
	if err := json.Unmarshal([]byte(got.body), &ans); err != nil {
		t.Fatal(err)
	}
	if ans.Rows != 7 || ans.Accepted != 2 || ans.Bad != 5 {
		t.Errorf("answer %+v, want 7 rows, 2 accepted, 5 bad", ans)
	}
	wantBad := map[int64]string{
		4: `location: "nowhere" is not configured`,
		5: "on_hand: -1 is outside",
		6: `unknown field "delta"`,
		7: `unknown field "colour"`,
		8: "bad JSON",
	}
	for _, b := range ans.BadRows {
		if w, ok := wantBad[b.Line]; !ok || !strings.Contains(b.Reason, w) {
			t.Errorf("bad row %d: %q, want %q", b.Line, b.Reason, w)
		}
	}
	if len(batcher.sent) != 2 || batcher.sent[0].SKU != "A" || batcher.sent[0].Version != 3 ||
		batcher.sent[1].SKU != "B" || batcher.sent[1].Version != 7 || batcher.sent[1].Source != "erp" || *batcher.sent[1].OnHand != 0 {
		t.Errorf("sent %+v", batcher.sent)
	}

	if got := ts.do(t, "POST", "/v1/imports?version=-2", body); got.status != 400 {
		t.Errorf("a bad version parameter: %d %s", got.status, got.body)
	}
	batcher.fail = errors.New("kafka down")
	got = ts.do(t, "POST", "/v1/imports", `{"sku":"A","location":"msk-1","on_hand":1,"source":"erp","version":1}`)
	if got.status != 503 || !strings.Contains(got.body, "send the body again") {
		t.Errorf("a failed write: %d %s", got.status, got.body)
	}
}

func TestPostImportsNeedsStockWrite(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Imports = &fakeBatcher{}; c.Open = false; c.Auth = testKeyring(t) })
	for tok, want := range map[string]int{"": 401, tokRead: 403, tokStock: 200} {
		req, _ := http.NewRequest("POST", ts.URL+"/v1/imports", strings.NewReader(`{"sku":"A","location":"msk-1","on_hand":1,"source":"erp","version":1}`))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("token %q: %d, want %d", tok, resp.StatusCode, want)
		}
	}
}
