package eta

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Record is one historical shipment line as the booking model sees it.
type Record struct {
	ID       string
	Group    string // order key from Mapping.Group ("" when none)
	Line     int    // 1-based data row number in the file
	Promised time.Time
	Actual   time.Time
	// Cat holds the categorical cells in Mapping.Categorical order; "" means
	// missing.
	Cat []string
	// Num holds Mapping.Numeric values, then lead days per Mapping.LeadFrom,
	// then the distinct products of the order (when Mapping.GroupItem is
	// set), then the per-order-and-product sums of Mapping.GroupSum; NaN
	// means missing.
	Num []float64
}

// Late reports whether the shipment was delivered on a later day than
// promised (the label of the booking model).
func (r *Record) Late() bool { return r.Actual.After(r.Promised) }

// ErrInvalidData marks a historical file that does not match its mapping or
// holds an unreadable required cell. The message names the line and column.
var ErrInvalidData = errors.New("invalid historical data")

// History is a loaded historical file plus the mapping that read it.
type History struct {
	Mapping *Mapping
	Records []Record
	// NumNames names the Num slots (numeric columns, "lead:<col>",
	// "order items", "order total:<col>").
	NumNames []string
}

// maxHistoryRows bounds what one file may load into memory; the booking model
// is meant for order-history files, not for the live shipment tables.
const maxHistoryRows = 5_000_000

// LoadHistory reads a CSV through its mapping. It accepts a UTF-8 BOM and
// CR, LF or CRLF line ends (SCMS uses bare CR). Every required cell must
// parse; the first bad one aborts the load with its line and column, so a
// half-read file is never evaluated.
func LoadHistory(r io.Reader, m *Mapping) (*History, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	cr := csv.NewReader(newLineEndReader(r))
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: empty file", ErrInvalidData)
		}
		return nil, fmt.Errorf("%w: header: %v", ErrInvalidData, err)
	}
	idx := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if _, dup := idx[h]; dup {
			return nil, fmt.Errorf("%w: header: duplicate column %q", ErrInvalidData, h)
		}
		idx[h] = i
	}
	var missingCols []string
	for _, c := range m.columns() {
		if _, ok := idx[c]; !ok {
			missingCols = append(missingCols, strconv.Quote(c))
		}
	}
	if len(missingCols) > 0 {
		return nil, fmt.Errorf("%w: header lacks mapped columns %s", ErrInvalidData, strings.Join(missingCols, ", "))
	}
	missing := map[string]bool{}
	for _, v := range m.Missing {
		missing[strings.ToLower(strings.TrimSpace(v))] = true
	}
	leadFormats := m.LeadFormats
	if len(leadFormats) == 0 {
		leadFormats = m.DateFormats
	}
	h := &History{Mapping: m}
	h.NumNames = append(h.NumNames, m.Numeric...)
	for _, c := range m.LeadFrom {
		h.NumNames = append(h.NumNames, "lead:"+c)
	}
	if m.GroupItem != "" {
		h.NumNames = append(h.NumNames, "order items")
	}
	for _, c := range m.GroupSum {
		h.NumNames = append(h.NumNames, "order total:"+c)
	}
	// Per row: its item key and group-sum cells, to aggregate after the
	// whole file is read (an order's rows may be anywhere in it).
	type orderCells struct {
		item string
		sums []float64
	}
	var cells []orderCells
	line := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line++
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidData, err)
		}
		if line > maxHistoryRows {
			return nil, fmt.Errorf("%w: more than %d rows", ErrInvalidData, maxHistoryRows)
		}
		cell := func(col string) string { return strings.TrimSpace(rec[idx[col]]) }
		var out Record
		out.Line = line
		if m.ID != "" {
			out.ID = cell(m.ID)
		} else {
			out.ID = strconv.Itoa(line)
		}
		if out.Promised, err = parseDate(cell(m.Promised), m.DateFormats); err != nil {
			return nil, fmt.Errorf("%w: line %d column %q: %v", ErrInvalidData, line+1, m.Promised, err)
		}
		if out.Actual, err = parseDate(cell(m.Actual), m.DateFormats); err != nil {
			return nil, fmt.Errorf("%w: line %d column %q: %v", ErrInvalidData, line+1, m.Actual, err)
		}
		out.Cat = make([]string, len(m.Categorical))
		for i, c := range m.Categorical {
			v := cell(c)
			if missing[strings.ToLower(v)] {
				v = ""
			}
			out.Cat[i] = v
		}
		out.Num = make([]float64, 0, len(h.NumNames))
		for _, c := range m.Numeric {
			out.Num = append(out.Num, parseNumber(cell(c)))
		}
		for _, c := range m.LeadFrom {
			d, err := parseDate(cell(c), leadFormats)
			if err != nil {
				out.Num = append(out.Num, math.NaN())
				continue
			}
			out.Num = append(out.Num, out.Promised.Sub(d).Hours()/24)
		}
		if m.Group != "" {
			out.Group = cell(m.Group)
			if missing[strings.ToLower(out.Group)] {
				out.Group = ""
			}
			oc := orderCells{sums: make([]float64, len(m.GroupSum))}
			if m.GroupItem != "" {
				oc.item = cell(m.GroupItem)
				out.Num = append(out.Num, math.NaN()) // order items, filled below
			}
			for i, c := range m.GroupSum {
				oc.sums[i] = parseNumber(cell(c))
				out.Num = append(out.Num, oc.sums[i]) // replaced by the order total below
			}
			cells = append(cells, oc)
		}
		h.Records = append(h.Records, out)
	}
	if len(h.Records) == 0 {
		return nil, fmt.Errorf("%w: no data rows", ErrInvalidData)
	}
	if m.Group != "" {
		fillOrderFeatures(h, func(i int) (string, []float64) { return cells[i].item, cells[i].sums })
	}
	return h, nil
}

// fillOrderFeatures sets the order slots of every record: the number of
// distinct products on its order and, per GroupSum column, the total over
// the rows of the same order and product (missing cells count as 0 unless
// every cell is missing). Rows without an order key keep their own values.
func fillOrderFeatures(h *History, cell func(i int) (item string, sums []float64)) {
	m := h.Mapping
	base := len(m.Numeric) + len(m.LeadFrom)
	items := map[string]map[string]bool{}
	type total struct {
		sum []float64
		any []bool
	}
	totals := map[[2]string]*total{}
	for i := range h.Records {
		g := h.Records[i].Group
		if g == "" {
			continue
		}
		item, sums := cell(i)
		if items[g] == nil {
			items[g] = map[string]bool{}
		}
		items[g][item] = true
		k := [2]string{g, item}
		t := totals[k]
		if t == nil {
			t = &total{sum: make([]float64, len(sums)), any: make([]bool, len(sums))}
			totals[k] = t
		}
		for j, v := range sums {
			if !math.IsNaN(v) {
				t.sum[j] += v
				t.any[j] = true
			}
		}
	}
	for i := range h.Records {
		r := &h.Records[i]
		if r.Group == "" {
			continue
		}
		item, sums := cell(i)
		slot := base
		if m.GroupItem != "" {
			r.Num[slot] = float64(len(items[r.Group]))
			slot++
		}
		t := totals[[2]string{r.Group, item}]
		for j := range sums {
			if t.any[j] {
				r.Num[slot+j] = t.sum[j]
			}
		}
	}
}

// parseDate tries each layout and returns the date at UTC midnight.
func parseDate(s string, layouts []string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("empty date")
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			y, mo, d := t.Date()
			return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC), nil
		}
	}
	return time.Time{}, fmt.Errorf("date %q matches none of %q", truncate(s, 40), layouts)
}

// parseNumber reads a plain number, tolerating thousands separators and a
// leading currency sign; anything else is NaN (missing).
func parseNumber(s string) float64 {
	s = strings.TrimPrefix(strings.ReplaceAll(s, ",", ""), "$")
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return math.NaN()
	}
	return f
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// lineEndReader turns CR and CRLF line ends into LF as it streams, so
// encoding/csv can read old-Mac files without loading them whole.
type lineEndReader struct {
	r      *bufio.Reader
	lastCR bool
}

func newLineEndReader(r io.Reader) io.Reader {
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\ufeff" {
		_, _ = br.Discard(3)
	}
	return &lineEndReader{r: br}
}

func (l *lineEndReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		b, err := l.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		switch {
		case b == '\r':
			p[n] = '\n'
			n++
			l.lastCR = true
			continue
		case b == '\n' && l.lastCR:
			l.lastCR = false
			continue
		}
		l.lastCR = false
		p[n] = b
		n++
	}
	return n, nil
}
