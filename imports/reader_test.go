package imports

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// readAll reads every row of an export held in a string.
func readAll(t *testing.T, format, data string, version int64) []Row {
	t.Helper()
	r := strings.NewReader(data)
	var src rowSource
	if format == JSONL {
		src = newJSONRows(r, 0, 0, "erp", version)
	} else {
		col, end, err := readCSVHeader(strings.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Seek(end, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		src = newCSVRows(r, end, 1, col, "erp", version)
	}
	var rows []Row
	for {
		row, err := src.next()
		if errors.Is(err, io.EOF) {
			return rows
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
}

func TestReadRows(t *testing.T) {
	type want struct {
		line    int64
		sku     string
		onHand  int64
		version int64
		bad     string
	}
	tests := []struct {
		name    string
		format  string
		data    string
		version int64
		want    []want
	}{
		{name: "csv with extra columns, a version column and bad rows", format: CSV, version: 7,
			data: "\ufeffSKU,name,location,on_hand,version\n" +
				"A,Apple,msk-1,10,\n" + // version from --version
				"B,\"Pear, green\",msk-1,3,9\n" +
				"C,x,msk-1,-1,\n" +
				"D,x,msk-1,ten,\n" +
				"E,x\n" +
				"\"F\nG\",x,msk-1,1,\n" + // a quoted newline: the row starts on line 7
				"H,x,msk-1,2,v2\n" +
				",x,msk-1,2,\n",
			want: []want{
				{line: 2, sku: "A", onHand: 10, version: 7},
				{line: 3, sku: "B", onHand: 3, version: 9},
				{line: 4, bad: "on_hand: -1 is outside"},
				{line: 5, bad: `on_hand "ten" is not a whole number`},
				{line: 6, bad: "2 fields, the header has 5"},
				{line: 7, sku: "F\nG", bad: "contains a control character"},
				{line: 9, bad: `version "v2" is not a whole number`},
				{line: 10, bad: "sku: must not be empty"},
			}},
		{name: "csv without a version", format: CSV, data: "sku,location,on_hand\nA,msk-1,1\n",
			want: []want{{line: 2, bad: "no version"}}},
		{name: "csv with a broken quote", format: CSV, version: 1, data: "sku,location,on_hand\nA,msk-1,1\n\"B,msk-1,2\n",
			want: []want{{line: 2, sku: "A", onHand: 1, version: 1}, {line: 3, bad: "not CSV"}}},
		{name: "jsonl", format: JSONL, version: 5,
			data: `{"sku":"A","location":"msk-1","on_hand":4,"extra":true}` + "\n\n" +
				`{"sku":"B","location":"msk-1","on_hand":1.5}` + "\n" +
				`{"sku":"C","location":"msk-1"}` + "\n" +
				`{"sku":"D","location":"msk-1","on_hand":2,"version":8}` + "\n" +
				`nope` + "\n" +
				`{"sku":"E","location":"msk-1","on_hand":1}`, // no final newline
			want: []want{
				{line: 1, sku: "A", onHand: 4, version: 5},
				{line: 3, bad: "bad JSON"},
				{line: 4, bad: "no on_hand"},
				{line: 5, sku: "D", onHand: 2, version: 8},
				{line: 6, bad: "bad JSON"},
				{line: 7, sku: "E", onHand: 1, version: 5},
			}},
		{name: "jsonl line over the limit", format: JSONL, version: 1,
			data: `{"sku":"` + strings.Repeat("x", 70<<10) + `"}` + "\n" + `{"sku":"A","location":"l","on_hand":1}` + "\n",
			want: []want{{line: 1, bad: "over 65536 bytes"}, {line: 2, sku: "A", onHand: 1, version: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := readAll(t, tt.format, tt.data, tt.version)
			if len(rows) != len(tt.want) {
				t.Fatalf("%d rows, want %d: %+v", len(rows), len(tt.want), rows)
			}
			for i, w := range tt.want {
				r := rows[i]
				if r.Line != w.line {
					t.Errorf("row %d: line %d, want %d", i, r.Line, w.line)
				}
				if w.bad != "" {
					if !strings.Contains(r.Bad, w.bad) {
						t.Errorf("line %d: bad %q, want %q", r.Line, r.Bad, w.bad)
					}
					continue
				}
				if r.Bad != "" || r.Msg.SKU != w.sku || *r.Msg.OnHand != w.onHand || r.Msg.Version != w.version || r.Msg.Source != "erp" || r.Msg.Type != "snapshot" {
					t.Errorf("line %d: %+v (bad %q), want %+v", r.Line, r.Msg, r.Bad, w)
				}
			}
			if last := rows[len(rows)-1]; last.End != int64(len(tt.data)) {
				t.Errorf("the last row ends at %d, the file at %d", last.End, len(tt.data))
			}
		})
	}
}

func TestCSVHeaderProblems(t *testing.T) {
	for _, tt := range []struct{ data, want string }{
		{"", "the file is empty"},
		{"sku,loc,qty\n", "lacks location,on_hand"},
		{"sku,location,on_hand,sku\n", `names column "sku" twice`},
	} {
		_, _, err := readCSVHeader(strings.NewReader(tt.data))
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.data, err, tt.want)
		}
	}
}
