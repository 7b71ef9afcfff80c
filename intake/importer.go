package intake

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/yardmaster/yardmaster/internal/apperr"
)

// ImportItem is one line of an import file: an event ready for the
// pipeline, or the reasons the line was rejected.
type ImportItem struct {
	Line   int
	Event  *Event
	Errors []apperr.FieldError
}

// ItemReader streams an import file one item at a time, so memory stays
// bounded whatever the file size. Next returns io.EOF at the end.
type ItemReader interface {
	Next() (ImportItem, error)
}

// maxLineBytes bounds one JSONL line or CSV record.
const maxLineBytes = 1 << 20

// JSONLReader reads canonical events, one JSON object per line.
type JSONLReader struct {
	r      *bufio.Reader
	source string
	now    func() time.Time
	line   int
}

// NewJSONLReader reads JSONL from r for source.
func NewJSONLReader(r io.Reader, source string, now func() time.Time) *JSONLReader {
	return &JSONLReader{r: bufio.NewReaderSize(r, 64<<10), source: source, now: now}
}

// Next returns the next non-empty line's item.
func (j *JSONLReader) Next() (ImportItem, error) {
	for {
		b, tooLong, err := readLine(j.r, maxLineBytes)
		if err != nil && err != io.EOF {
			return ImportItem{}, fmt.Errorf("read line %d: %w", j.line+1, err)
		}
		if len(b) == 0 && !tooLong && err == io.EOF {
			return ImportItem{}, io.EOF
		}
		j.line++
		if tooLong {
			return ImportItem{Line: j.line, Errors: []apperr.FieldError{fieldErr("(line)", "is longer than %d bytes", maxLineBytes)}}, nil
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			if err == io.EOF {
				return ImportItem{}, io.EOF
			}
			continue
		}
		if j.line == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		if !json.Valid(b) {
			return ImportItem{Line: j.line, Errors: []apperr.FieldError{fieldErr("(line)", "is not valid JSON")}}, nil
		}
		in, errs := decodeCanonicalObject(b, "")
		if len(errs) > 0 {
			return ImportItem{Line: j.line, Errors: errs}, nil
		}
		ev, errs := in.Event(j.source, j.now(), "")
		return ImportItem{Line: j.line, Event: ev, Errors: errs}, nil
	}
}

// CSV columns. A header names canonical fields; location parts may be
// written with or without "location."; "attr.<name>" columns become
// attributes. See docs/intake.md.
var csvColumns = map[string]string{
	"source_event_id": "source_event_id", "carrier": "carrier", "tracking_number": "tracking_number",
	"status": "status", "reason": "reason", "occurred_at": "occurred_at",
	"city": "city", "region": "region", "postal_code": "postal_code", "country": "country",
	"location.city": "city", "location.region": "region", "location.postal_code": "postal_code", "location.country": "country",
	"estimated_delivery": "estimated_delivery", "promised_delivery": "promised_delivery",
	"order_ref": "order_ref", "picking_ref": "picking_ref", "raw_code": "raw_code",
	"raw_code_table": "raw_code_table", "raw_text": "raw_text",
}

// CSVReader reads a CSV file with a header row (a 3PL's daily file).
type CSVReader struct {
	r      *csv.Reader
	source string
	now    func() time.Time
	cols   []string // field per column index ("" = ignored, "attr.x" = attribute)
}

// NewCSVReader reads the header and checks every column. rename maps a
// file's own header names to ours (e.g. "Tracking No" → tracking_number);
// ignore lists headers to skip. Unknown columns are an error, so a renamed
// column is never silently dropped.
func NewCSVReader(r io.Reader, source string, now func() time.Time, rename map[string]string, ignore []string) (*CSVReader, error) {
	cr := csv.NewReader(bufio.NewReaderSize(r, 64<<10))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("csv: the file is empty (a header row is required)")
		}
		return nil, fmt.Errorf("csv: read header: %w", err)
	}
	skip := map[string]bool{}
	for _, s := range ignore {
		skip[strings.ToLower(strings.TrimSpace(s))] = true
	}
	ren := map[string]string{}
	for k, v := range rename {
		ren[strings.ToLower(strings.TrimSpace(k))] = v
	}
	c := &CSVReader{r: cr, source: source, now: now}
	seen := map[string]bool{}
	var unknown []string
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		if i == 0 {
			name = strings.TrimPrefix(name, "\ufeff")
		}
		if skip[name] {
			c.cols = append(c.cols, "")
			continue
		}
		if to, ok := ren[name]; ok {
			name = strings.ToLower(strings.TrimSpace(to))
		}
		var field string
		if strings.HasPrefix(name, "attr.") && len(name) > 5 {
			field = name
		} else if f, ok := csvColumns[name]; ok {
			field = f
		} else {
			unknown = append(unknown, fmt.Sprintf("%q (column %d)", h, i+1))
			continue
		}
		if seen[field] {
			return nil, fmt.Errorf("csv: column %q appears twice", h)
		}
		seen[field] = true
		c.cols = append(c.cols, field)
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("csv: unknown columns %s; rename them with --map 'Their Name=tracking_number' or skip them with --ignore", strings.Join(unknown, ", "))
	}
	for _, req := range []string{"carrier", "tracking_number", "occurred_at"} {
		if !seen[req] {
			return nil, fmt.Errorf("csv: a %s column is required", req)
		}
	}
	return c, nil
}

// Next returns the next record's item.
func (c *CSVReader) Next() (ImportItem, error) {
	rec, err := c.r.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return ImportItem{}, io.EOF
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return ImportItem{Line: pe.Line, Errors: []apperr.FieldError{fieldErr("(line)", "malformed CSV: %v", pe.Err)}}, nil
		}
		return ImportItem{}, fmt.Errorf("csv: %w", err)
	}
	line, _ := c.r.FieldPos(0)
	if len(rec) != len(c.cols) {
		return ImportItem{Line: line, Errors: []apperr.FieldError{fieldErr("(line)", "has %d fields, the header has %d", len(rec), len(c.cols))}}, nil
	}
	in := &CanonicalInput{}
	var loc InputLocation
	var attrs map[string]string
	for i, v := range rec {
		switch f := c.cols[i]; f {
		case "":
		case "source_event_id":
			in.SourceEventID = v
		case "carrier":
			in.Carrier = v
		case "tracking_number":
			in.TrackingNumber = v
		case "status":
			in.Status = v
		case "reason":
			in.Reason = v
		case "occurred_at":
			in.OccurredAt = v
		case "city":
			loc.City = v
		case "region":
			loc.Region = v
		case "postal_code":
			loc.PostalCode = v
		case "country":
			loc.Country = v
		case "estimated_delivery":
			in.EstimatedDelivery = v
		case "promised_delivery":
			in.PromisedDelivery = v
		case "order_ref":
			in.OrderRef = v
		case "picking_ref":
			in.PickingRef = v
		case "raw_code":
			in.RawCode = v
		case "raw_code_table":
			in.RawCodeTable = v
		case "raw_text":
			in.RawText = v
		default:
			if strings.TrimSpace(v) != "" {
				if attrs == nil {
					attrs = map[string]string{}
				}
				attrs[strings.TrimPrefix(f, "attr.")] = v
			}
		}
	}
	if loc != (InputLocation{}) {
		in.Location = &loc
	}
	if attrs != nil {
		b, _ := json.Marshal(attrs)
		in.Attributes = b
	}
	ev, errs := in.Event(c.source, c.now(), "")
	return ImportItem{Line: line, Event: ev, Errors: errs}, nil
}
