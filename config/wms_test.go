package config

import (
	"strings"
	"testing"
)

func TestWMSSection(t *testing.T) {
	const base = `
kafka: {brokers: [127.0.0.1:9092], topic_prefix: "acme."}
locations: [{name: msk-1, kind: warehouse}]
`
	tests := []struct {
		name  string
		wms   string
		want  []string // substrings of the error; none: valid
		check func(t *testing.T, c *Config)
	}{
		{
			name: "a full mapping takes its defaults",
			wms:  `wms: [{topic: wms.movements, fields: {sku: item.code, location: site, delta: qty, id: move_id, time: ts}, locations: {WH1: msk-1}}]`,
			check: func(t *testing.T, c *Config) {
				w := c.WMS[0]
				if w.Group != "acme.wms.wms.movements" || w.Reason != "wms" || w.Fields.SKU != "item.code" || w.Locations["WH1"] != "msk-1" {
					t.Errorf("got %+v", w)
				}
			},
		},
		{
			name: "every problem with its path",
			wms: `wms:
  - {topic: acme.mine, fields: {sku: .a, location: site}, locations: {WH9: nowhere}}
  - {topic: "", fields: {sku: a, location: b, delta: c, id: d, time: "x..y"}}`,
			want: []string{
				`wms[0].topic: "acme.mine" is inside stocksync's topic prefix`,
				`wms[0].fields.sku: ".a" is not a dotted path`,
				`wms[0].fields.delta: give the path`,
				`wms[0].fields.id: give the path`,
				`wms[0].locations.WH9: unknown location "nowhere"`,
				`wms[1].topic: name the WMS's movements topic`,
				`wms[1].fields.time: "x..y" is not a dotted path`,
			},
		},
		{
			name: "a topic listed twice",
			wms: `wms:
  - {topic: t, fields: {sku: a, location: b, delta: c, id: d}}
  - {topic: t, fields: {sku: a, location: b, delta: c, id: d}}`,
			want: []string{`wms[1].topic: "t" is listed twice`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(base + tt.wms))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, c)
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
