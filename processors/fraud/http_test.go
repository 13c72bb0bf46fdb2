package fraud

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

func serve(t *testing.T, s *Service) *httptest.Server {
	r := chi.NewRouter()
	r.Post("/v1/returns", s.PostReturns)
	r.Post("/v1/loyalty", s.PostLoyalty)
	r.Get("/v1/fraud/alerts", s.GetAlerts)
	r.Post("/v1/fraud/alerts/{id}/label", s.PostLabel)
	ts := httptest.NewServer(r)
	t.Cleanup(ts.Close)
	return ts
}

func call(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHTTPEventsAlertsAndLabels: returns sent as NDJSON become an alert
// that GET lists and an analyst labels; a batch with one bad event sends
// nothing.
func TestHTTPEventsAlertsAndLabels(t *testing.T) {
	brokers := startKfake(t)
	svc := start(t, testSettings(brokers, "t3.", fourReturns), t.TempDir())
	ts := serve(t, svc.Service)

	bad := string(ret("c9", "b1", 0)) + "\n" + `{"type":"return","return_id":"b2"}` + "\n"
	if code, body := call(t, "POST", ts.URL+"/v1/returns", bad); code != 400 || !strings.Contains(body, "event 2 of 2") {
		t.Fatalf("a batch with a bad second event: %d %s; want 400 naming event 2", code, body)
	}
	var ndjson bytes.Buffer
	for i, id := range []string{"r1", "r2", "r3", "r4"} {
		ndjson.Write(ret("c1", id, i))
		ndjson.WriteByte('\n')
	}
	if code, body := call(t, "POST", ts.URL+"/v1/returns", ndjson.String()); code != 202 || !strings.Contains(body, `"accepted":4`) {
		t.Fatalf("POST four returns: %d %s", code, body)
	}
	loyalty := `{"type":"accrual","event_id":"e1","store":"s1","customer_id":"c1","points":10,"ts":"2026-11-01T10:00:00Z"}`
	if code, body := call(t, "POST", ts.URL+"/v1/loyalty", loyalty); code != 202 {
		t.Fatalf("POST one accrual: %d %s", code, body)
	}

	waitAlerts(t, svc.Service, 1)
	code, body := call(t, "GET", ts.URL+"/v1/fraud/alerts", "")
	var alerts []Alert
	if err := json.Unmarshal([]byte(body), &alerts); code != 200 || err != nil || len(alerts) != 1 {
		t.Fatalf("GET alerts: %d %s", code, body)
	}
	a := alerts[0]
	if a.EntityType != "customer" || a.EntityID != "c1" || a.Reasons[0].Rule != "four_returns" || len(a.EventIDs) != 4 || a.ID == "" {
		t.Fatalf("alert %+v; want customer c1 by four_returns over 4 events", a)
	}
	for _, r := range consume(t, brokers, string(svc.Names().Returns), 4) {
		if string(r.Key) != "c1" {
			t.Fatalf("the returns topic holds %s=%s, an event of the refused batch", r.Key, r.Value)
		}
	}

	if code, body := call(t, "POST", ts.URL+"/v1/fraud/alerts/"+a.ID+"/label", `{"label":"maybe"}`); code != 400 {
		t.Fatalf("label maybe: %d %s; want 400", code, body)
	}
	if code, body := call(t, "POST", ts.URL+"/v1/fraud/alerts/nope/label", `{"label":"fraud"}`); code != 404 {
		t.Fatalf("label of an unknown alert: %d %s; want 404", code, body)
	}
	if code, body := call(t, "POST", ts.URL+"/v1/fraud/alerts/"+a.ID+"/label", `{"label":"fraud"}`); code != 200 || !strings.Contains(body, `"label":"fraud"`) {
		t.Fatalf("label fraud: %d %s", code, body)
	}
	if code, body := call(t, "GET", ts.URL+"/v1/fraud/alerts?label=fraud", ""); code != 200 || !strings.Contains(body, a.ID) {
		t.Fatalf("GET labelled alerts: %d %s", code, body)
	}
	// The label is kept on the labels topic.
	recs := consume(t, brokers, string(svc.Names().Labels), 1)
	if string(recs[0].Key) != a.ID || !strings.Contains(string(recs[0].Value), `"label":"fraud"`) {
		t.Fatalf("labels topic holds %s=%s", recs[0].Key, recs[0].Value)
	}
}
