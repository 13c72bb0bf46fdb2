package queryapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// openAPIDoc is the part of the OpenAPI document the test reads.
type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components map[string]map[string]json.RawMessage `json:"components"`
}

type openAPIOp struct {
	Security  []map[string][]string      `json:"security"`
	Responses map[string]json.RawMessage `json:"responses"`
}

// TestOpenAPIMatchesRoutes walks the router: every route is documented with
// its method, path pattern and the scope scopeFor gives it, and every
// documented route is real.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := Config{Registry: reg, Gatherer: reg, Logger: slog.New(slog.DiscardHandler), Auth: testKeyring(t)}
	serveFake(&cfg, newFakeEngine())
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	err = chi.Walk(h.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routes = append(routes, method+" "+route)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) < 14 {
		t.Fatalf("chi.Walk found %d routes: %q", len(routes), routes)
	}

	ts := newTestServer(t)
	got := ts.do(t, "GET", "/openapi.json", "")
	if got.status != 200 || got.header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json: %d %s", got.status, got.header.Get("Content-Type"))
	}
	var doc openAPIDoc
	if err := json.Unmarshal([]byte(got.body), &doc); err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	var documented []string
	for path, item := range doc.Paths {
		for key, raw := range item {
			if key == "parameters" || key == "summary" || key == "description" {
				continue
			}
			method := strings.ToUpper(key)
			documented = append(documented, method+" "+path)
			var op openAPIOp
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Errorf("%s %s: %v", method, path, err)
				continue
			}
			if len(op.Responses) == 0 {
				t.Errorf("%s %s documents no response", method, path)
			}
			scope, scoped := scopeFor(method, path)
			switch {
			case !strings.HasPrefix(path, "/v1/"):
				if op.Security == nil || len(op.Security) != 0 {
					t.Errorf("%s %s is open, its security must be []: %v", method, path, op.Security)
				}
			case !scoped:
				t.Errorf("%s %s: no scope grants it", method, path)
			case len(op.Security) != 1 || !slices.Equal(op.Security[0]["bearer"], []string{string(scope)}):
				t.Errorf("%s %s: security %v, want [{bearer: [%s]}]", method, path, op.Security, scope)
			}
			if strings.HasPrefix(path, "/v1/") {
				for _, code := range []string{"401", "403", "429"} {
					if op.Responses[code] == nil {
						t.Errorf("%s %s does not document %s", method, path, code)
					}
				}
			}
		}
	}
	slices.Sort(routes)
	slices.Sort(documented)
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not documented", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routes, d) {
			t.Errorf("documented %s is no route", d)
		}
	}

	// Every $ref names a component that exists.
	for _, m := range regexp.MustCompile(`"\$ref": "#/components/([^/]+)/([^"]+)"`).FindAllStringSubmatch(got.body, -1) {
		if doc.Components[m[1]][m[2]] == nil {
			t.Errorf("$ref to a missing component %s/%s", m[1], m[2])
		}
	}
}
