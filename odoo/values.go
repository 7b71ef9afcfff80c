package odoo

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"
)

// This file is the one place that knows how Odoo values look on the wire
// (odoo-api.md §2.5, §2.7) and how kolo/xmlrpc mangles them:
//   - empty values are False, never nil; kolo decodes <string></string> to nil;
//   - many2one is [id, "name"] (or an id with load=None);
//   - datetimes are naive UTC 'YYYY-MM-DD HH:MM:SS' strings, dates 'YYYY-MM-DD';
//   - kolo encodes nil as <value/> (Odoo reads "") and time.Time as
//     <dateTime.iso8601> (refused by Odoo 16/17), does not escape map keys,
//     and cannot encode typed nil pointers.
// Outgoing values go through toWire, incoming ones through Record accessors.

// DatetimeLayout and DateLayout are Odoo's string formats (UTC).
const (
	DatetimeLayout = "2006-01-02 15:04:05"
	DateLayout     = "2006-01-02"
)

// FormatDatetime renders t for Odoo (UTC, seconds).
func FormatDatetime(t time.Time) string { return t.UTC().Format(DatetimeLayout) }

// FormatDate renders the UTC calendar date of t.
func FormatDate(t time.Time) string { return t.UTC().Format(DateLayout) }

// ParseDatetime reads an Odoo datetime string as UTC.
func ParseDatetime(s string) (time.Time, error) {
	t, err := time.ParseInLocation(DatetimeLayout, s, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("odoo datetime %q: %w", s, err)
	}
	return t, nil
}

// Many2One is a many2one value; the zero value means False (unset).
type Many2One struct {
	ID   int64
	Name string
}

// IsZero reports an unset many2one.
func (m Many2One) IsZero() bool { return m.ID == 0 }

// toWire converts a Go value to the shapes both transports send safely:
// nil, bool, int64, float64, string, []any, map[string]any. nil becomes
// False, times become UTC datetime strings, Many2One its id, []byte base64.
func toWire(v any) (any, error) { return wireValue(reflect.ValueOf(v), 0) }

func wireValue(v reflect.Value, depth int) (any, error) {
	if depth > 32 {
		return nil, fmt.Errorf("%w: value nested too deeply", ErrInvalid)
	}
	if !v.IsValid() {
		return false, nil
	}
	switch x := v.Interface().(type) {
	case time.Time:
		if x.IsZero() {
			return false, nil
		}
		return FormatDatetime(x), nil
	case Many2One:
		if x.ID == 0 {
			return false, nil
		}
		return x.ID, nil
	case Domain:
		return wireValue(reflect.ValueOf([]any(x)), depth+1)
	case []byte:
		if x == nil {
			return false, nil
		}
		return base64.StdEncoding.EncodeToString(x), nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return false, nil
		}
		return wireValue(v.Elem(), depth+1)
	case reflect.Bool:
		return v.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u := v.Uint()
		if u > math.MaxInt64 {
			return nil, fmt.Errorf("%w: integer %d too large", ErrInvalid, u)
		}
		return int64(u), nil
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%w: %v is not a number Odoo accepts", ErrInvalid, f)
		}
		return f, nil
	case reflect.String:
		s := v.String()
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("%w: string is not valid UTF-8", ErrInvalid)
		}
		return s, nil
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return []any{}, nil
		}
		out := make([]any, v.Len())
		for i := range out {
			e, err := wireValue(v.Index(i), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("%w: map keys must be strings", ErrInvalid)
		}
		out := make(map[string]any, v.Len())
		it := v.MapRange()
		for it.Next() {
			k := it.Key().String()
			if !validKey(k) {
				return nil, fmt.Errorf("%w: invalid key %q", ErrInvalid, k)
			}
			e, err := wireValue(it.Value(), depth+1)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = e
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: cannot send a %s to Odoo", ErrInvalid, v.Type())
}

// validKey accepts identifiers as used for field names and context keys
// (kolo writes keys into the XML unescaped).
func validKey(k string) bool {
	if k == "" || len(k) > 128 {
		return false
	}
	for _, r := range k {
		if !(r == '_' || r == '.' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// normalize turns decoded JSON-2 values into the XML-RPC decoder's shapes
// (json.Number to int64/float64), so both transports return the same types.
func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		f, _ := strconv.ParseFloat(string(x), 64)
		return f
	case []any:
		for i := range x {
			x[i] = normalize(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = normalize(x[k])
		}
		return x
	}
	return v
}

// Record is one row of read/search_read. Accessors treat False, nil and
// missing fields as empty; the typed decoders below report wrong types.
type Record map[string]any

// ID is the record id.
func (r Record) ID() int64 { n, _ := asInt(r["id"]); return n }

// String returns a char/text/selection value, "" when empty.
func (r Record) String(f string) string {
	s, _ := r[f].(string)
	return s
}

// Int returns an integer value, 0 when empty.
func (r Record) Int(f string) int64 { n, _ := asInt(r[f]); return n }

// Float returns a float/monetary value, 0 when empty.
func (r Record) Float(f string) float64 {
	switch x := r[f].(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	}
	return 0
}

// Bool returns a boolean value.
func (r Record) Bool(f string) bool { b, _ := r[f].(bool); return b }

// Many2One returns a many2one ([id, name] or a bare id), zero when False.
func (r Record) Many2One(f string) Many2One {
	m, _ := asMany2One(r[f])
	return m
}

// IDs returns an x2many value.
func (r Record) IDs(f string) []int64 { ids, _ := asIDs(r[f]); return ids }

// Time returns a datetime value (UTC); ok is false when empty or malformed.
func (r Record) Time(f string) (time.Time, bool) {
	s, _ := r[f].(string)
	if s == "" {
		return time.Time{}, false
	}
	t, err := ParseDatetime(s)
	return t, err == nil
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), true
		}
	}
	return 0, false
}

func asMany2One(v any) (Many2One, bool) {
	switch x := v.(type) {
	case nil:
		return Many2One{}, true
	case bool:
		return Many2One{}, !x
	case []any:
		if len(x) == 2 {
			id, ok := asInt(x[0])
			name, ok2 := x[1].(string)
			if x[1] == nil { // kolo: <string></string>
				ok2 = true
			}
			return Many2One{ID: id, Name: name}, ok && ok2
		}
	default:
		if id, ok := asInt(v); ok {
			return Many2One{ID: id}, true
		}
	}
	return Many2One{}, false
}

func asIDs(v any) ([]int64, bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case bool:
		return nil, !x
	case []any:
		out := make([]int64, 0, len(x))
		for _, e := range x {
			id, ok := asInt(e)
			if !ok {
				return nil, false
			}
			out = append(out, id)
		}
		return out, true
	}
	return nil, false
}

// decoder reads typed fields from a Record and remembers the first field
// of an unexpected type, so a malformed answer is an error, not zero data.
type decoder struct {
	r     Record
	model string
	err   error
}

func (d *decoder) fail(f string, v any, want string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s %d: field %s: want %s, got %T", ErrProtocol, d.model, d.r.ID(), f, want, v)
	}
}

func (d *decoder) str(f string) string {
	switch x := d.r[f].(type) {
	case string:
		return x
	case nil:
		return ""
	case bool:
		if !x {
			return ""
		}
	}
	d.fail(f, d.r[f], "string or False")
	return ""
}

func (d *decoder) integer(f string) int64 {
	v := d.r[f]
	if v == nil || v == false {
		return 0
	}
	n, ok := asInt(v)
	if !ok {
		d.fail(f, v, "integer")
	}
	return n
}

func (d *decoder) float(f string) float64 {
	switch x := d.r[f].(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	case nil, bool:
		return 0
	}
	d.fail(f, d.r[f], "number")
	return 0
}

func (d *decoder) boolean(f string) bool {
	switch x := d.r[f].(type) {
	case bool:
		return x
	case nil:
		return false
	}
	d.fail(f, d.r[f], "boolean")
	return false
}

func (d *decoder) m2o(f string) Many2One {
	m, ok := asMany2One(d.r[f])
	if !ok {
		d.fail(f, d.r[f], "[id, name] or False")
	}
	return m
}

func (d *decoder) ids(f string) []int64 {
	ids, ok := asIDs(d.r[f])
	if !ok {
		d.fail(f, d.r[f], "list of ids")
	}
	return ids
}

// datetime returns nil for False.
func (d *decoder) datetime(f string) *time.Time {
	s := d.str(f)
	if s == "" {
		return nil
	}
	t, err := ParseDatetime(s)
	if err != nil {
		// Odoo always sends seconds; tolerate a date-only value.
		if t2, err2 := time.ParseInLocation(DateLayout, s, time.UTC); err2 == nil {
			return &t2
		}
		if d.err == nil {
			d.err = fmt.Errorf("%w: %s %d: field %s: %w", ErrProtocol, d.model, d.r.ID(), f, err)
		}
		return nil
	}
	return &t
}
