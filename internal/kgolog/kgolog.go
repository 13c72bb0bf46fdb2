// Package kgolog sends franz-go's own log lines to an slog.Logger, one
// level lower than franz-go gives them.
//
// Why not the plugin kslog: franz-go logs every transaction's end, and
// every group join step, at Info; at the engine's rate that would bury the
// instance's own Info lines. Shifted one level down, franz-go's warnings
// and errors (a broker unreachable, a fetch refused, a commit lost) show at
// the default level, and STOCKSYNC_LOG_LEVEL=debug adds its Info lines
// (joins, assignments, transactions ending, offsets reset after an abort)
// for the investigation of a stall. franz-go's Debug lines are dropped:
// they describe every request.
package kgolog

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// New returns a franz-go logger writing to log, its lines tagged
// source=franz-go. A warning franz-go repeats (every client's every dial
// while a broker restarts) is written once per repeatEvery, with the count
// of the ones left out.
func New(log *slog.Logger) kgo.Logger {
	return &logger{log: log.With("source", "franz-go"), last: map[string]*seen{}}
}

// repeatEvery is how often a repeated message is written.
const repeatEvery = 10 * time.Second

type logger struct {
	log  *slog.Logger
	mu   sync.Mutex
	last map[string]*seen // by message
}

type seen struct {
	at      time.Time
	skipped int
}

// shifted is the slog level of a franz-go level.
var shifted = map[kgo.LogLevel]slog.Level{
	kgo.LogLevelError: slog.LevelError,
	kgo.LogLevelWarn:  slog.LevelWarn,
	kgo.LogLevelInfo:  slog.LevelDebug,
}

// Level tells franz-go the most detailed level worth building a line for.
func (l *logger) Level() kgo.LogLevel {
	ctx := context.Background()
	for _, lv := range []kgo.LogLevel{kgo.LogLevelInfo, kgo.LogLevelWarn, kgo.LogLevelError} {
		if l.log.Enabled(ctx, shifted[lv]) {
			return lv
		}
	}
	return kgo.LogLevelNone
}

func (l *logger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv, ok := shifted[level]
	if !ok || !l.log.Enabled(context.Background(), lv) {
		return
	}
	if lv < slog.LevelWarn { // debug is for a close look: every line
		l.log.Log(context.Background(), lv, msg, keyvals...)
		return
	}
	l.mu.Lock()
	s := l.last[msg]
	now := time.Now()
	if s != nil && now.Sub(s.at) < repeatEvery {
		s.skipped++
		l.mu.Unlock()
		return
	}
	if s == nil {
		s = &seen{}
		l.last[msg] = s
	}
	skipped := s.skipped
	s.at, s.skipped = now, 0
	l.mu.Unlock()
	if skipped > 0 {
		keyvals = append(keyvals, "repeats_not_logged", skipped)
	}
	l.log.Log(context.Background(), lv, msg, keyvals...)
}
