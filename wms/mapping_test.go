package wms

import (
	"strings"
	"testing"
	"time"

	"github.com/stocksync/stocksync/config"
)

func testMapping() *Mapping {
	return NewMapping(config.WMS{Topic: "wms.movements", Reason: "wms",
		Fields:    config.WMSFields{SKU: "item.code", Location: "site", Delta: "qty", ID: "move_id", Time: "ts"},
		Locations: map[string]string{"WH1": "msk-1"}}, []string{"msk-1", "spb-1"})
}

func TestMap(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		sku     string
		loc     string
		delta   int64
		id      string
		at      time.Time
		wantErr string
	}{
		{name: "a receipt, site renamed", in: `{"item":{"code":"A"},"site":"WH1","qty":10,"move_id":"m-1","ts":"2026-01-02T03:04:05Z"}`,
			sku: "A", loc: "msk-1", delta: 10, id: "m-1", at: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{name: "numeric id and sku, string qty, unix seconds", in: `{"item":{"code":12345},"site":"spb-1","qty":"-3","move_id":991,"ts":1767225600}`,
			sku: "12345", loc: "spb-1", delta: -3, id: "991", at: time.Unix(1767225600, 0)},
		{name: "unix milliseconds", in: `{"item":{"code":"A"},"site":"WH1","qty":1,"move_id":"m","ts":1767225600123}`,
			sku: "A", loc: "msk-1", delta: 1, id: "m", at: time.UnixMilli(1767225600123)},
		{name: "extra fields are ignored", in: `{"item":{"code":"A","name":"x"},"site":"WH1","qty":1,"move_id":"m","ts":1,"who":"bob"}`,
			sku: "A", loc: "msk-1", delta: 1, id: "m", at: time.Unix(1, 0)},
		{name: "not JSON", in: `{"item":`, wantErr: "not JSON"},
		{name: "missing sku", in: `{"item":{},"site":"WH1","qty":1,"move_id":"m","ts":1}`, wantErr: "no field item.code"},
		{name: "sku path through a string", in: `{"item":"A","site":"WH1","qty":1,"move_id":"m","ts":1}`, wantErr: "item is not an object"},
		{name: "fractional qty", in: `{"item":{"code":"A"},"site":"WH1","qty":1.5,"move_id":"m","ts":1}`, wantErr: `field qty is "1.5", not a whole number`},
		{name: "zero qty", in: `{"item":{"code":"A"},"site":"WH1","qty":0,"move_id":"m","ts":1}`, wantErr: "invalid delta"},
		{name: "null id", in: `{"item":{"code":"A"},"site":"WH1","qty":1,"move_id":null,"ts":1}`, wantErr: "field move_id is null"},
		{name: "unknown site", in: `{"item":{"code":"A"},"site":"WH9","qty":1,"move_id":"m","ts":1}`, wantErr: `location "WH9" is not configured`},
		{name: "bad time", in: `{"item":{"code":"A"},"site":"WH1","qty":1,"move_id":"m","ts":"yesterday"}`, wantErr: "not an RFC 3339 time"},
		{name: "boolean sku", in: `{"item":{"code":true},"site":"WH1","qty":1,"move_id":"m","ts":1}`, wantErr: "is a boolean"},
	}
	m := testMapping()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, at, err := m.Map([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg.Type != "adjust" || msg.SKU != tt.sku || msg.Location != tt.loc || msg.Delta != tt.delta || msg.ID != tt.id || msg.Reason != "wms" {
				t.Errorf("got %+v", msg)
			}
			if !at.Equal(tt.at) {
				t.Errorf("time %v, want %v", at, tt.at)
			}
		})
	}
}

func TestMapArrayIndex(t *testing.T) {
	m := NewMapping(config.WMS{Reason: "wms", Fields: config.WMSFields{SKU: "lines.0.sku", Location: "loc", Delta: "lines.0.n", ID: "id"}}, []string{"a"})
	msg, at, err := m.Map([]byte(`{"lines":[{"sku":"S","n":-2}],"loc":"a","id":"x"}`))
	if err != nil || msg.SKU != "S" || msg.Delta != -2 || !at.IsZero() {
		t.Fatalf("got %+v %v %v", msg, at, err)
	}
	if _, _, err := m.Map([]byte(`{"lines":[],"loc":"a","id":"x"}`)); err == nil || !strings.Contains(err.Error(), "lines is an array of 0") {
		t.Fatalf("err = %v", err)
	}
}
