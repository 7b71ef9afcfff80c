package odootest

import (
	"math"
	"strconv"
	"strings"
)

// Values inside the emulator are the Go images of the Python objects Odoo
// holds after xmlrpc.client.loads or json.loads, so the marshallers can
// reproduce CPython's output:
//
//	nil       None
//	bool      bool
//	int64     int
//	float64   float
//	string    str
//	[]any     list
//	*Dict     dict (insertion ordered, as in Python 3.7+)
//	DateTime  xmlrpc.client.DateTime (a <dateTime.iso8601> argument)
//	Binary    xmlrpc.client.Binary (a <base64> argument)
//	pyObject  any other object (e.g. a recordset), which marshallers refuse

// Dict is an insertion-ordered string-keyed map, like a Python dict.
type Dict struct {
	keys []string
	m    map[string]any
}

// NewDict returns an empty dict with room for n keys.
func NewDict(n int) *Dict { return &Dict{keys: make([]string, 0, n), m: make(map[string]any, n)} }

// Set stores v under k, keeping the first insertion position.
func (d *Dict) Set(k string, v any) {
	if _, ok := d.m[k]; !ok {
		d.keys = append(d.keys, k)
	}
	d.m[k] = v
}

// Get returns the value under k.
func (d *Dict) Get(k string) (any, bool) { v, ok := d.m[k]; return v, ok }

// Delete removes k.
func (d *Dict) Delete(k string) {
	if _, ok := d.m[k]; !ok {
		return
	}
	delete(d.m, k)
	for i, kk := range d.keys {
		if kk == k {
			d.keys = append(d.keys[:i], d.keys[i+1:]...)
			break
		}
	}
}

// Keys returns the keys in insertion order.
func (d *Dict) Keys() []string { return d.keys }

// Len is the number of keys.
func (d *Dict) Len() int { return len(d.keys) }

// Map returns a plain Go map copy (recursively converting nested dicts),
// for tests.
func (d *Dict) Map() map[string]any {
	out := make(map[string]any, len(d.keys))
	for _, k := range d.keys {
		out[k] = plain(d.m[k])
	}
	return out
}

func plain(v any) any {
	switch x := v.(type) {
	case *Dict:
		return x.Map()
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	default:
		return v
	}
}

// DateTime is an <dateTime.iso8601> argument as Python's xmlrpc.client
// keeps it (Odoo 16/17 parse without use_datetime).
type DateTime struct{ Raw string }

// Binary is a <base64> argument.
type Binary []byte

// pyObject stands for a Python object the marshaller cannot serialise,
// such as a recordset returned by a method without @api.returns.
type pyObject struct{ class string }

// pyRepr renders v as Python's repr() would, for error messages.
func pyRepr(v any) string {
	var b strings.Builder
	writeRepr(&b, v, false)
	return b.String()
}

// pyReprTuple renders a list as a Python tuple, as Odoo prints domain leaves.
func pyReprTuple(xs []any) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, x := range xs {
		if i > 0 {
			b.WriteString(", ")
		}
		writeRepr(&b, x, false)
	}
	if len(xs) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
	return b.String()
}

func writeRepr(b *strings.Builder, v any, _ bool) {
	switch x := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if x {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case int:
		b.WriteString(strconv.Itoa(x))
	case float64:
		b.WriteString(pyFloat(x))
	case string:
		b.WriteString(pyStrRepr(x))
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRepr(b, e, false)
		}
		b.WriteByte(']')
	case *Dict:
		b.WriteByte('{')
		for i, k := range x.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pyStrRepr(k))
			b.WriteString(": ")
			writeRepr(b, x.m[k], false)
		}
		b.WriteByte('}')
	case DateTime:
		b.WriteString("<DateTime '" + x.Raw + "'>")
	case Binary:
		b.WriteString("<xmlrpc.client.Binary>")
	case pyObject:
		b.WriteString("<" + x.class + ">")
	default:
		b.WriteString("<object>")
	}
}

// pyStrRepr is Python's str.__repr__: single quotes unless the string
// contains a single quote and no double quote.
func pyStrRepr(s string) string {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			h := strconv.FormatInt(int64(r), 16)
			if len(h) < 2 {
				b.WriteByte('0')
			}
			b.WriteString(h)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// pyFloat is Python's float.__repr__: the shortest round-tripping digits,
// positional notation for exponents in [-4, 16), always with a fractional
// part, scientific notation with a two-digit exponent otherwise.
func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	if f == 0 {
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, expStr, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expStr)
	neg := strings.HasPrefix(mant, "-")
	mant = strings.TrimPrefix(mant, "-")
	digits := strings.Replace(mant, ".", "", 1)
	var out string
	if exp >= -4 && exp < 16 {
		if exp >= 0 {
			if len(digits) <= exp+1 {
				out = digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
			} else {
				out = digits[:exp+1] + "." + digits[exp+1:]
			}
		} else {
			out = "0." + strings.Repeat("0", -exp-1) + digits
		}
	} else {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		sign := "+"
		if exp < 0 {
			sign = "-"
			exp = -exp
		}
		es := strconv.Itoa(exp)
		if len(es) < 2 {
			es = "0" + es
		}
		out = m + "e" + sign + es
	}
	if neg {
		out = "-" + out
	}
	return out
}

// pyTypeName is type(v).__name__, for TypeError messages.
func pyTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case int64, int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []any:
		return "list"
	case *Dict:
		return "dict"
	case DateTime:
		return "DateTime"
	case Binary:
		return "Binary"
	default:
		return "object"
	}
}
