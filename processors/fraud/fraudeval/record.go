package fraudeval

import (
	"sync"

	"github.com/stocksync/stocksync/processors/fraud"
)

// recorder is a fraud.Scorer beside the rules that raises nothing and
// keeps every observation, so thresholds can be swept after the run
// without running the stream again: the populations and own baselines do
// not depend on the rules, so a rule that would have fired on an
// observation is known exactly.
type recorder struct {
	mu  sync.Mutex
	obs map[string][]observation // by feature
}

type observation struct {
	entity     string
	value      float64
	popZ, ownZ float64
	popN, ownN int
}

func newRecorder() *recorder { return &recorder{obs: map[string][]observation{}} }

func (r *recorder) Score(o fraud.Observation) []fraud.Reason {
	key := EntityKey(o.EntityType, o.EntityID)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range o.Measures {
		r.obs[m.Feature] = append(r.obs[m.Feature], observation{entity: key, value: m.Value,
			popZ: m.Population.Z, ownZ: m.Own.Z, popN: m.Population.N, ownN: m.Own.N})
	}
	return nil
}
