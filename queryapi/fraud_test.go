package queryapi

import (
	"strings"
	"testing"
)

// TestFraudRoutesScopesAndOff: the anti-fraud routes need fraud:write or
// fraud:review (not stock:read), and an instance without anti-fraud
// answers them 404 saying how to turn it on.
func TestFraudRoutesScopesAndOff(t *testing.T) {
	ts := newTestServer(t, withAuth(t))
	tests := []struct {
		name, token, method, path string
		status                    int
	}{
		{"stock:read cannot read alerts", tokRead, "GET", "/v1/fraud/alerts", 403},
		{"stock:read cannot label", tokRead, "POST", "/v1/fraud/alerts/x/label", 403},
		{"orders:write cannot send returns", tokOrders, "POST", "/v1/returns", 403},
		{"stock:write cannot send loyalty", tokStock, "POST", "/v1/loyalty", 403},
		{"fraud:review cannot send returns", tokFraud, "POST", "/v1/returns", 403},
		{"fraud:write cannot read alerts", tokTills, "GET", "/v1/fraud/alerts", 403},
		{"fraud:write: returns reach anti-fraud, which is off", tokTills, "POST", "/v1/returns", 404},
		{"fraud:write: loyalty reaches anti-fraud, which is off", tokTills, "POST", "/v1/loyalty", 404},
		{"fraud:review: alerts reach anti-fraud, which is off", tokFraud, "GET", "/v1/fraud/alerts", 404},
		{"fraud:review: labels reach anti-fraud, which is off", tokFraud, "POST", "/v1/fraud/alerts/x/label", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ts.doAuth(t, "Bearer "+tt.token, tt.method, tt.path, `{}`)
			if got.status != tt.status {
				t.Fatalf("%s %s: %d %s, want %d", tt.method, tt.path, got.status, got.body, tt.status)
			}
			if tt.status == 404 && !strings.Contains(got.body, "fraud.enabled") {
				t.Errorf("404 body %s does not say how to turn anti-fraud on", got.body)
			}
		})
	}
}
