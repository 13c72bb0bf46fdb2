package sinks

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/stocksync/stocksync/contract"
)

// TestModesTakeRecords: a channel's mode follows the records of
// channels.control; a record that is not a mode of a channel here changes
// nothing and says why.
func TestModesTakeRecords(t *testing.T) {
	manual := map[string]bool{}
	m := NewModes("channels.control", func(ch string, on bool) bool {
		if ch != "web" {
			return false
		}
		manual[ch] = on
		return true
	}, slog.New(slog.DiscardHandler))
	tests := []struct {
		name, channel, value string
		wantErr              string
		wantMode             contract.ChannelMode
	}{
		{name: "manual", channel: "web", value: `{"mode":"manual","at":"2025-01-01T00:00:00Z"}`, wantMode: contract.ModeManual},
		{name: "not JSON", channel: "web", value: `{`, wantErr: "unexpected end", wantMode: contract.ModeManual},
		{name: "unknown mode", channel: "web", value: `{"mode":"off"}`, wantErr: `"off" is not one of manual, auto`, wantMode: contract.ModeManual},
		{name: "unknown channel", channel: "ozon", value: `{"mode":"auto"}`, wantErr: "no such channel", wantMode: contract.ModeManual},
		{name: "back to auto", channel: "web", value: `{"mode":"auto"}`, wantMode: contract.ModeAuto},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := m.take(tc.channel, []byte(tc.value))
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("take: %v, want %q", err, tc.wantErr)
			}
			if got := m.Mode("web"); got != tc.wantMode {
				t.Errorf("mode of web: %s, want %s", got, tc.wantMode)
			}
			if manual["web"] != (tc.wantMode == contract.ModeManual) {
				t.Errorf("the pusher is manual: %v, want mode %s", manual["web"], tc.wantMode)
			}
		})
	}
	if got := m.Mode("ozon"); got != contract.ModeAuto {
		t.Errorf("a channel no record set: %s, want auto", got)
	}
}
