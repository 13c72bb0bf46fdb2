package queryapi

import (
	"net/http"

	"github.com/stocksync/stocksync/contract"
)

// Catalogue is the configured locations and channels, the channels with
// their live state (mode, circuit, pending values).
type Catalogue interface {
	Locations() []contract.LocationInfo
	Channels() []contract.ChannelInfo
}

// Readiness is nil once the engine has recovered every table; otherwise an
// error saying what is still missing.
type Readiness interface {
	Ready() error
}

// healthz answers 200 while the process serves: liveness, not readiness.
func (a *api) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 once the engine has recovered every table and the
// ready gate (if any) agrees, 503 with what is still missing before that.
func (a *api) readyz(w http.ResponseWriter, r *http.Request) {
	err := a.readiness.Ready()
	if err == nil && a.readyGate != nil {
		err = a.readyGate()
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, ErrorUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// locations answers GET /v1/locations; none is [], not null.
func (a *api) locations(w http.ResponseWriter, r *http.Request) {
	locs := a.catalogue.Locations()
	if locs == nil {
		locs = []contract.LocationInfo{}
	}
	writeJSON(w, http.StatusOK, locs)
}

// channels answers GET /v1/channels; none is [], not null.
func (a *api) channels(w http.ResponseWriter, r *http.Request) {
	chans := a.catalogue.Channels()
	if chans == nil {
		chans = []contract.ChannelInfo{}
	}
	writeJSON(w, http.StatusOK, chans)
}
