package bench

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"
)

// ConsoleViewer asks baseURL for what an open ops console's live tab
// refreshes (opsui/static/ops.js): the new samples every second, the top
// SKUs, the channels and the readiness every two, until ctx ends. With the
// engine's CPU profile it measures what a console costs under load.
func ConsoleViewer(ctx context.Context, baseURL string) {
	var since int64
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for n := 0; ; n++ {
		var s struct {
			T []int64 `json:"t"`
		}
		if body := fetch(ctx, baseURL+"/v1/ops/series?since="+strconv.FormatInt(since, 10)); body != nil && json.Unmarshal(body, &s) == nil && len(s.T) > 0 {
			since = s.T[len(s.T)-1]
		}
		if n%2 == 0 {
			for _, path := range []string{"/v1/ops/top?n=10", "/v1/channels", "/readyz"} {
				fetch(ctx, baseURL+path)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func fetch(ctx context.Context, url string) []byte {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return b
}
