package fraudeval

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSmallStream runs the CI stream through the real processors on kfake:
// every injected pattern is found with the precision and recall
// (0.9, 0.8). Latency is reported, not asserted (a loaded machine is slow,
// not wrong); make fraud-eval SIZE=full BROKERS=… measures it.
func TestSmallStream(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the small fraud-eval stream takes ~20 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r, err := Run(ctx, RunConfig{Stream: Small, Rate: 2000})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	r.Write(&out)
	t.Log("\n" + out.String())
	if ok, why := r.Pass(0.9, 0.8); !ok {
		t.Errorf("below precision 0.9 / recall 0.8: %s", why)
	}
}
