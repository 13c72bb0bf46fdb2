package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestGet(t *testing.T) {
	devel := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}}}, true
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	tests := []struct {
		name              string
		version, revision string
		read              func() (*debug.BuildInfo, bool)
		want              Info
	}{
		{name: "ldflags win", version: "v0.2.0", revision: "f00d", read: devel,
			want: Info{Version: "v0.2.0", Revision: "f00d", GoVersion: runtime.Version()}},
		{name: "embedded build information", read: devel,
			want: Info{Version: "(devel)", Revision: "abc123", GoVersion: runtime.Version()}},
		{name: "nothing known", read: none,
			want: Info{Version: "unknown", Revision: "unknown", GoVersion: runtime.Version()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := get(tt.version, tt.revision, tt.read); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRegisterExportsBuildInfo(t *testing.T) {
	Version, Revision = "v9.9.9", "deadbeef"
	defer func() { Version, Revision = "", "" }()
	reg := prometheus.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	want := `# HELP stocksync_build_info Always 1; its labels say which stocksync build is running.
# TYPE stocksync_build_info gauge
stocksync_build_info{goversion="` + runtime.Version() + `",revision="deadbeef",version="v9.9.9"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "stocksync_build_info"); err != nil {
		t.Error(err)
	}
	if err := Register(reg); err == nil || !strings.Contains(err.Error(), "stocksync_build_info") {
		t.Errorf("registering twice: got %v, want an error naming the metric", err)
	}
}
