package kgolog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// At the default level an operator sees franz-go's warnings, not its
// per-transaction Info lines; at debug, both.
func TestLevelsShiftDownOne(t *testing.T) {
	for _, tc := range []struct {
		level     slog.Level
		wantLevel kgo.LogLevel
		wantInfo  bool
	}{
		{slog.LevelInfo, kgo.LogLevelWarn, false},
		{slog.LevelDebug, kgo.LogLevelInfo, true},
	} {
		var buf bytes.Buffer
		l := New(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.level})))
		if got := l.Level(); got != tc.wantLevel {
			t.Errorf("slog level %s: franz-go level %s, want %s", tc.level, got, tc.wantLevel)
		}
		l.Log(kgo.LogLevelWarn, "unable to dial", "broker", "1")
		l.Log(kgo.LogLevelInfo, "transaction session ending", "was_failed", false)
		l.Log(kgo.LogLevelDebug, "wrote Produce v11")
		out := buf.String()
		if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "unable to dial") || !strings.Contains(out, "source=franz-go") {
			t.Errorf("slog level %s: the warning is missing or untagged:\n%s", tc.level, out)
		}
		if got := strings.Contains(out, "transaction session ending"); got != tc.wantInfo {
			t.Errorf("slog level %s: franz-go's Info line shown = %v, want %v:\n%s", tc.level, got, tc.wantInfo, out)
		}
		if strings.Contains(out, "Produce v11") {
			t.Errorf("slog level %s: franz-go's Debug line shown:\n%s", tc.level, out)
		}
	}
}

// A broker restart makes every client log every dial: one line per
// message per repeatEvery, and the next says how many were left out.
func TestRepeatsAreCounted(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)))
	for range 50 {
		l.Log(kgo.LogLevelWarn, "unable to open connection to broker", "addr", "127.0.0.1:19092")
	}
	l.Log(kgo.LogLevelWarn, "another warning")
	if n := strings.Count(buf.String(), "unable to open connection"); n != 1 {
		t.Errorf("the repeated warning written %d times in one window, want 1:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "another warning") {
		t.Errorf("a different message was held back:\n%s", buf.String())
	}
	lg := l.(*logger)
	lg.last["unable to open connection to broker"].at = time.Now().Add(-repeatEvery) // the window passed
	l.Log(kgo.LogLevelWarn, "unable to open connection to broker", "addr", "127.0.0.1:19092")
	if !strings.Contains(buf.String(), "repeats_not_logged=49") {
		t.Errorf("the next line does not count the 49 left out:\n%s", buf.String())
	}
}
