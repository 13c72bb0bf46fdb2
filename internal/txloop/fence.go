package txloop

import "github.com/twmb/franz-go/pkg/kgo"

// FenceHeader marks a fence marker: a record `stocksync admin repartition`
// writes to every partition of an input that is not intake. The member
// that reads one fences itself (Fence) from the next cycle on and the
// marker is consumed, not handed to the Handler; so once the group's
// committed offset passes the markers of every partition within one group
// generation, every member of that generation is fenced.
const FenceHeader = "stocksync-fence"

// Fence stops (on) or resumes the intake: the Config.Intake topics are no
// longer fetched, and each cycle says so to the handler (Cycle.Fenced). The
// other inputs are still decided. It takes effect between cycles: a cycle
// in progress finishes with what it polled.
func (l *Loop) Fence(on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fenced == on {
		return
	}
	l.fenced = on
	l.log.Info("txloop: intake fenced for a repartition", "fenced", on, "intake", l.cfg.Intake)
	if l.client == nil || len(l.cfg.Intake) == 0 {
		return
	}
	if on {
		l.client.PauseFetchTopics(l.cfg.Intake...)
	} else {
		l.client.ResumeFetchTopics(l.cfg.Intake...)
	}
}

// Fenced reports whether the intake is fenced.
func (l *Loop) Fenced() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fenced
}

// markers takes the fence markers out of a cycle's records and fences the
// loop if one came; call with l.mu held. The records polled with a marker
// are still decided: they were taken before the fence.
func (l *Loop) markers(recs []*kgo.Record) []*kgo.Record {
	out := recs[:0]
	for _, r := range recs {
		id, marker := fenceID(r)
		if !marker {
			out = append(out, r)
			continue
		}
		if l.fenced || (l.cfg.FenceMarker != nil && !l.cfg.FenceMarker(id)) {
			continue
		}
		l.fenced = true
		l.log.Info("txloop: a fence marker fenced the intake for a repartition", "id", id, "topic", r.Topic, "partition", r.Partition)
		if l.client != nil && len(l.cfg.Intake) > 0 {
			l.client.PauseFetchTopics(l.cfg.Intake...)
		}
	}
	return out
}

func fenceID(r *kgo.Record) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == FenceHeader {
			return string(h.Value), true
		}
	}
	return "", false
}

func isFenceMarker(r *kgo.Record) bool {
	_, marker := fenceID(r)
	return marker
}
