package imports

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/stocksync/stocksync/contract"
)

// Formats of an export file.
const (
	CSV   = "csv"   // header sku,location,on_hand[,version]; other columns are ignored
	JSONL = "jsonl" // one object per line: {"sku","location","on_hand","version"?}
)

// Row is one line of an export: a snapshot to send, or the reason it is bad.
type Row struct {
	Line int64 // 1-based line number in the file (of the row's first line)
	End  int64 // byte offset just past the row: where a resumed import starts
	Msg  contract.FeedMessage
	Bad  string // non-empty: the row is not sent, and this says why
}

// rowSource yields the rows of an export one at a time; io.EOF at the end.
type rowSource interface {
	next() (Row, error)
}

// snapshot builds the feed message of a row and validates it with the
// contract's own rules, so the file is refused exactly where Kafka would.
// A row without a version is bad unless anyVersion (a reconciliation
// compares it whatever the engine's version).
func snapshot(sku, location string, onHand, version int64, source string, anyVersion bool) (contract.FeedMessage, string) {
	msg := contract.FeedMessage{Type: contract.Snapshot, SKU: sku, Location: location, OnHand: &onHand, Source: source, Version: version}
	check := msg
	if version == 0 {
		if !anyVersion {
			return msg, "no version: give the row a version or run with --version"
		}
		check.Version = 1 // only the version may be missing
	}
	if err := check.Validate(); err != nil {
		return msg, strings.TrimPrefix(err.Error(), "contract: ")
	}
	return msg, ""
}

// csvRows reads CSV rows after the header.
type csvRows struct {
	r        *csv.Reader
	base     int64 // byte offset of the reader's start in the file
	baseLine int64 // lines before the reader's start
	col      map[string]int
	source   string
	version  int64
	anyVer   bool // rows without a version are good (Scan for a reconciliation)
}

// readCSVHeader reads the header line and maps the columns it needs.
func readCSVHeader(r io.Reader) (map[string]int, int64, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("%w: the file is empty, it needs the header sku,location,on_hand", ErrFormat)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%w: header: %v", ErrFormat, err)
	}
	col, err := headerColumns(head)
	return col, cr.InputOffset(), err
}

// headerColumns maps the column names of a CSV header to their index.
func headerColumns(head []string) (map[string]int, error) {
	col := map[string]int{}
	for i, name := range head {
		name = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(name, "\ufeff")))
		if _, dup := col[name]; dup && name != "" {
			return nil, fmt.Errorf("%w: header names column %q twice", ErrFormat, name)
		}
		col[name] = i
	}
	var missing []string
	for _, need := range []string{"sku", "location", "on_hand"} {
		if _, ok := col[need]; !ok {
			missing = append(missing, need)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: header %q lacks %s (want sku,location,on_hand and optionally version)",
			ErrFormat, strings.Join(head, ","), strings.Join(missing, ","))
	}
	return col, nil
}

func newCSVRows(r io.Reader, base, baseLine int64, col map[string]int, source string, version int64) *csvRows {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // a short row is a bad row, not the end of the import
	cr.ReuseRecord = true
	return &csvRows{r: cr, base: base, baseLine: baseLine, col: col, source: source, version: version}
}

func (c *csvRows) next() (Row, error) {
	rec, err := c.r.Read()
	if errors.Is(err, io.EOF) {
		return Row{}, io.EOF
	}
	end := c.base + c.r.InputOffset()
	var perr *csv.ParseError
	if errors.As(err, &perr) {
		return Row{Line: c.baseLine + int64(perr.StartLine), End: end, Bad: "not CSV: " + perr.Err.Error()}, nil
	}
	if err != nil {
		return Row{}, fmt.Errorf("read: %w", err)
	}
	line, _ := c.r.FieldPos(0)
	row := Row{Line: c.baseLine + int64(line), End: end}
	field := func(name string) (string, bool) {
		i, ok := c.col[name]
		if !ok || i >= len(rec) {
			return "", false
		}
		return strings.TrimSpace(rec[i]), true
	}
	sku, ok1 := field("sku")
	loc, ok2 := field("location")
	qty, ok3 := field("on_hand")
	if !ok1 || !ok2 || !ok3 {
		row.Bad = fmt.Sprintf("%d fields, the header has %d", len(rec), len(c.col))
		return row, nil
	}
	onHand, err := strconv.ParseInt(qty, 10, 64)
	if err != nil {
		row.Bad = fmt.Sprintf("on_hand %q is not a whole number", qty)
		return row, nil
	}
	version := c.version
	if v, ok := field("version"); ok && v != "" {
		if version, err = strconv.ParseInt(v, 10, 64); err != nil {
			row.Bad = fmt.Sprintf("version %q is not a whole number", v)
			return row, nil
		}
	}
	row.Msg, row.Bad = snapshot(sku, loc, onHand, version, c.source, c.anyVer)
	return row, nil
}

// jsonRows reads one JSON object per line; blank lines are skipped.
type jsonRows struct {
	r       *bufio.Reader
	offset  int64
	line    int64
	source  string
	version int64
	anyVer  bool // rows without a version are good (Scan for a reconciliation)
}

// jsonRow is a line of a JSONL export. Other fields are ignored: exports
// carry more than stock.
type jsonRow struct {
	SKU      string `json:"sku"`
	Location string `json:"location"`
	OnHand   *int64 `json:"on_hand"`
	Version  int64  `json:"version"`
}

func newJSONRows(r io.Reader, offset, line int64, source string, version int64) *jsonRows {
	return &jsonRows{r: bufio.NewReaderSize(r, 256<<10), offset: offset, line: line, source: source, version: version}
}

func (j *jsonRows) next() (Row, error) {
	for {
		data, err := j.readLine()
		if err != nil {
			return Row{}, err
		}
		j.line++
		row := Row{Line: j.line, End: j.offset}
		if data == nil {
			row.Bad = fmt.Sprintf("the line is over %d bytes", contract.MaxMessageBytes)
			return row, nil
		}
		data = bytes.TrimSpace(data)
		if len(data) == 0 {
			continue
		}
		var v jsonRow
		if err := json.Unmarshal(data, &v); err != nil {
			row.Bad = "bad JSON: " + strings.TrimPrefix(err.Error(), "json: ")
			return row, nil
		}
		if v.OnHand == nil {
			row.Bad = "no on_hand"
			return row, nil
		}
		version := v.Version
		if version == 0 {
			version = j.version
		}
		row.Msg, row.Bad = snapshot(v.SKU, v.Location, *v.OnHand, version, j.source, j.anyVer)
		return row, nil
	}
}

// readLine returns the next line without its newline, or nil for a line
// over contract.MaxMessageBytes (which it skips); io.EOF at the end.
func (j *jsonRows) readLine() ([]byte, error) {
	var long bool
	var buf []byte
	for {
		part, err := j.r.ReadSlice('\n')
		j.offset += int64(len(part))
		if !long {
			buf = append(buf, part...)
			if len(buf) > contract.MaxMessageBytes {
				long, buf = true, nil
			}
		}
		switch {
		case err == nil:
			return lineOrNil(buf, long), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(part) == 0 && len(buf) == 0 && !long {
				return nil, io.EOF
			}
			return lineOrNil(buf, long), nil
		default:
			return nil, fmt.Errorf("read: %w", err)
		}
	}
}

func lineOrNil(buf []byte, long bool) []byte {
	if long {
		return nil
	}
	if buf == nil {
		return []byte{} // an empty last line is not "too long"
	}
	return buf
}

// Scanner reads the rows of an export from a stream (an HTTP body, a file
// from its start), checked as an import checks them; a reconciliation
// reads its export with it.
type Scanner struct{ rows rowSource }

// NewScanner reads the CSV header (for CSV) and returns a scanner of the
// rows after it. Rows without a version take version; with version 0 they
// keep 0 and are good (a reconciliation does not need one).
func NewScanner(r io.Reader, format, source string, version int64) (*Scanner, error) {
	switch format {
	case JSONL:
		j := newJSONRows(r, 0, 0, source, version)
		j.anyVer = true
		return &Scanner{rows: j}, nil
	case CSV:
	default:
		return nil, fmt.Errorf("imports: format %q is not one of csv, jsonl", format)
	}
	c := newCSVRows(r, 0, 0, nil, source, version)
	c.anyVer = true
	c.r.ReuseRecord = false
	head, err := c.r.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: the export is empty, it needs the header sku,location,on_hand", ErrFormat)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrFormat, err)
	}
	if c.col, err = headerColumns(head); err != nil {
		return nil, err
	}
	c.r.ReuseRecord = true
	return &Scanner{rows: c}, nil
}

// Next returns the next row, good or bad (Row.Bad); io.EOF at the end.
func (s *Scanner) Next() (Row, error) { return s.rows.next() }
