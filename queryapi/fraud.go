package queryapi

import "net/http"

// Fraud serves the anti-fraud routes (processors/fraud.Service;
// docs/fraud.md). Each handler answers in the API's error shape.
type Fraud interface {
	PostReturns(http.ResponseWriter, *http.Request) // POST /v1/returns
	PostLoyalty(http.ResponseWriter, *http.Request) // POST /v1/loyalty
	GetAlerts(http.ResponseWriter, *http.Request)   // GET /v1/fraud/alerts
	PostLabel(http.ResponseWriter, *http.Request)   // POST /v1/fraud/alerts/{id}/label
}

// fraudOff answers the anti-fraud routes of an instance without it.
type fraudOff struct{}

func (fraudOff) off(w http.ResponseWriter, _ *http.Request) {
	writeError(w, http.StatusNotFound, ErrorNotFound, "anti-fraud is off on this instance: set fraud.enabled: true in the config")
}
func (f fraudOff) PostReturns(w http.ResponseWriter, r *http.Request) { f.off(w, r) }
func (f fraudOff) PostLoyalty(w http.ResponseWriter, r *http.Request) { f.off(w, r) }
func (f fraudOff) GetAlerts(w http.ResponseWriter, r *http.Request)   { f.off(w, r) }
func (f fraudOff) PostLabel(w http.ResponseWriter, r *http.Request)   { f.off(w, r) }
