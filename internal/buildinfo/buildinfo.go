// Package buildinfo says which stocksync is running: its version, the
// revision it was built from and the Go version, for `stocksync version` and
// the build_info metric.
//
// Release builds set the version and revision with the linker:
//
//	go build -ldflags "-X github.com/stocksync/stocksync/internal/buildinfo.Version=v0.2.0 \
//	  -X github.com/stocksync/stocksync/internal/buildinfo.Revision=$(git rev-parse HEAD)" ./cmd/stocksync
//
// Without them, both come from the binary's embedded build information
// (debug.ReadBuildInfo): the module version under `go install …@version`,
// "(devel)" in a checkout, and the VCS revision when Go recorded it.
//
// Metrics, registered by Register:
//
//	stocksync_build_info{version,revision,goversion}   gauge, always 1
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Version and Revision are set with -ldflags -X; see the package doc.
var (
	Version  string
	Revision string
)

// Info is what Get reports.
type Info struct {
	Version   string // e.g. v0.2.0; "(devel)" for a build from a checkout; "unknown" without build information
	Revision  string // VCS commit; "unknown" when neither -ldflags nor Go recorded it
	GoVersion string // e.g. go1.26.8
}

// Get returns the running binary's build information.
func Get() Info {
	return get(Version, Revision, debug.ReadBuildInfo)
}

func get(version, revision string, read func() (*debug.BuildInfo, bool)) Info {
	i := Info{Version: version, Revision: revision, GoVersion: runtime.Version()}
	if bi, ok := read(); ok {
		if i.Version == "" {
			i.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && i.Revision == "" {
				i.Revision = s.Value
			}
		}
	}
	if i.Version == "" {
		i.Version = "unknown"
	}
	if i.Revision == "" {
		i.Revision = "unknown"
	}
	return i
}

// String is the line `stocksync version` prints.
func (i Info) String() string {
	return fmt.Sprintf("stocksync %s (revision %s, %s)", i.Version, i.Revision, i.GoVersion)
}

// Register adds stocksync_build_info to reg; it fails if it is already there.
func Register(reg prometheus.Registerer) error {
	i := Get()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "stocksync_build_info",
		Help:        "Always 1; its labels say which stocksync build is running.",
		ConstLabels: prometheus.Labels{"version": i.Version, "revision": i.Revision, "goversion": i.GoVersion},
	})
	g.Set(1)
	if err := reg.Register(g); err != nil {
		return fmt.Errorf("buildinfo: register stocksync_build_info: %w", err)
	}
	return nil
}
