package queryapi

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"

	"gopkg.in/yaml.v3"
)

// openAPIYAML is the hand-written OpenAPI 3.1 description of the API.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// openAPIJSON converts openapi.yaml to the JSON GET /openapi.json serves.
func openAPIJSON() ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(openAPIYAML, &doc); err != nil {
		return nil, fmt.Errorf("queryapi: openapi.yaml: %w", err)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("queryapi: openapi.yaml as JSON: %w", err)
	}
	return append(b, '\n'), nil
}

// serveOpenAPI answers GET /openapi.json with spec.
func serveOpenAPI(spec []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(spec)
	}
}
