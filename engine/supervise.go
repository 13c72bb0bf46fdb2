package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"
)

// errRestarting is returned while a processor is being built again.
var errRestarting = errors.New("the processor is restarting")

// processor is a goka processor the engine keeps running. goka stops a
// processor for good when its producer fails (a broker restart does that);
// the engine then builds it again and runs it, with a growing pause, so an
// outage of the cluster is a pause, not the end of the instance. Each run
// recovers its tables from local Pebble and the changelogs, and replays the
// input since the last commit; the processors are idempotent for that.
type processor struct {
	name  string
	build func() (*goka.Processor, error)
	cur   atomic.Pointer[goka.Processor]
}

// Recovered is false while the processor starts, recovers or restarts.
func (p *processor) Recovered() bool {
	g := p.cur.Load()
	return g != nil && g.Recovered()
}

// Get reads a key of the processor's table on this instance.
func (p *processor) Get(key string) (any, error) {
	g := p.cur.Load()
	if g == nil {
		return nil, errRestarting
	}
	return g.Get(key)
}

// VisitAll runs the named visitor over every key of this instance's partitions.
func (p *processor) VisitAll(ctx context.Context, name string, meta any) (int64, error) {
	g := p.cur.Load()
	if g == nil {
		return 0, errRestarting
	}
	return g.VisitAllWithStats(ctx, name, meta)
}

func (p *processor) run(ctx context.Context, log *slog.Logger) error {
	const first, most = time.Second, 30 * time.Second
	pause := first
	for {
		g, err := p.build()
		if err == nil {
			p.cur.Store(g)
			began := time.Now()
			err = g.Run(ctx)
			if time.Since(began) > time.Minute {
				pause = first // it ran well for a while: this is a new incident
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		log.Error("processor stopped; building it again", "processor", p.name, "in", pause, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
		pause = min(pause*2, most)
	}
}
