package integration

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
)

// ---- the engine's log: kept in memory, shown when a test fails.

// logBuffer keeps the last maxLog bytes of an instance's log: info and above,
// and goka's debug lines; with STOCKSYNC_TEST_LOG set, the engine logs to
// stderr at that level instead.
type logBuffer struct {
	name string
	mu   sync.Mutex
	buf  []byte
}

const maxLog = 64 << 10 // 64 KiB: enough to see why, small enough to read

func newLogBuffer(name string) *logBuffer { return &logBuffer{name: name} }

func (b *logBuffer) logger() *slog.Logger {
	if lv := os.Getenv(logLevelEnv); lv != "" {
		var l slog.Level
		_ = l.UnmarshalText([]byte(lv))
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})).With("instance", b.name)
	}
	return slog.New(gokaDebug{slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})})
}

// gokaDebug keeps info and above, and of the debug lines only goka's own
// (rebalances, assignments, "No partitions assigned"): the rest is per-SKU chatter.
type gokaDebug struct{ slog.Handler }

func (h gokaDebug) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelInfo && !strings.HasPrefix(r.Message, "[") {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h gokaDebug) WithAttrs(as []slog.Attr) slog.Handler { return gokaDebug{h.Handler.WithAttrs(as)} }
func (h gokaDebug) WithGroup(name string) slog.Handler    { return gokaDebug{h.Handler.WithGroup(name)} }

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - maxLog; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf) == 0 {
		return "    (nothing logged)"
	}
	return string(b.buf)
}
