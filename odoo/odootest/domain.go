package odootest

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	dtLayout   = "2006-01-02 15:04:05"
	dtMicro    = "2006-01-02 15:04:05.000000"
	dateLayout = "2006-01-02"
)

// pred tests one record.
type pred func(r *record) bool

var domainOps = map[string]bool{
	"=": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true, "=?": true,
	"in": true, "not in": true, "like": true, "not like": true, "ilike": true, "not ilike": true,
	"=like": true, "=ilike": true, "child_of": true, "parent_of": true, "any": true, "not any": true,
}

// compileDomain turns an Odoo domain (Polish notation over leaves, implicit
// AND at the top level) into a predicate. Errors are the ValueErrors Odoo's
// expression module raises.
func (s *Server) compileDomain(m *model, dom any) (pred, error) {
	if dom == nil || dom == false {
		return func(*record) bool { return true }, nil
	}
	items, ok := dom.([]any)
	if !ok {
		return nil, valueError("Invalid domain: %s", pyRepr(dom))
	}
	c := &domainCompiler{s: s, m: m, items: items, full: dom}
	var preds []pred
	for c.pos < len(items) {
		p, err := c.expr(0)
		if err != nil {
			return nil, err
		}
		preds = append(preds, p)
	}
	switch len(preds) {
	case 0:
		return func(*record) bool { return true }, nil
	case 1:
		return preds[0], nil
	}
	return func(r *record) bool {
		for _, p := range preds {
			if !p(r) {
				return false
			}
		}
		return true
	}, nil
}

type domainCompiler struct {
	s     *Server
	m     *model
	items []any
	pos   int
	full  any
}

func (c *domainCompiler) expr(depth int) (pred, error) {
	if depth > 200 {
		return nil, valueError("Domain %s is too deeply nested", pyRepr(c.full))
	}
	if c.pos >= len(c.items) {
		return nil, valueError("Domain %s is syntactically not correct.", pyRepr(c.full))
	}
	it := c.items[c.pos]
	c.pos++
	if op, ok := it.(string); ok {
		switch op {
		case "&", "|":
			a, err := c.expr(depth + 1)
			if err != nil {
				return nil, err
			}
			b, err := c.expr(depth + 1)
			if err != nil {
				return nil, err
			}
			if op == "&" {
				return func(r *record) bool { return a(r) && b(r) }, nil
			}
			return func(r *record) bool { return a(r) || b(r) }, nil
		case "!":
			a, err := c.expr(depth + 1)
			if err != nil {
				return nil, err
			}
			return func(r *record) bool { return !a(r) }, nil
		}
		return nil, valueError("Invalid leaf %s", pyRepr(it))
	}
	leaf, ok := it.([]any)
	if !ok || len(leaf) != 3 {
		return nil, valueError("Invalid leaf %s", pyRepr(it))
	}
	return c.s.compileLeaf(c.m, leaf)
}

// compileLeaf compiles one (path, operator, value) triple.
func (s *Server) compileLeaf(m *model, leaf []any) (pred, error) {
	// TRUE_LEAF (1, '=', 1) and FALSE_LEAF (0, '=', 1).
	if a, ok := leaf[0].(int64); ok {
		if leaf[1] == "=" && leaf[2] == int64(1) {
			if a == 1 {
				return func(*record) bool { return true }, nil
			}
			return func(*record) bool { return false }, nil
		}
		return nil, valueError("Invalid leaf %s", pyReprTuple(leaf))
	}
	path, ok := leaf[0].(string)
	op, ok2 := leaf[1].(string)
	if !ok || !ok2 {
		return nil, valueError("Invalid leaf %s", pyReprTuple(leaf))
	}
	op = strings.ToLower(op)
	if !domainOps[op] {
		return nil, valueError("Invalid leaf %s", pyReprTuple(leaf))
	}
	val := leaf[2]
	if op == "=?" {
		if val == nil || val == false {
			return func(*record) bool { return true }, nil
		}
		op = "="
	}
	switch op {
	case "child_of", "parent_of", "any", "not any":
		return nil, &pyErr{Class: "NotImplementedError", Msg: fmt.Sprintf("operator %s is not supported by the emulator", pyStrRepr(op))}
	}
	names := strings.Split(path, ".")
	cur := m
	var chain []*field
	for i, n := range names {
		f := cur.byName[n]
		if f == nil {
			return nil, valueError("Invalid field %s.%s in leaf %s", cur.name, n, pyReprTuple(leaf))
		}
		if !f.store && f.name != "display_name" && f.typ != tOne2many {
			return nil, valueError("Cannot convert %s.%s to SQL because it is not stored", cur.name, n)
		}
		chain = append(chain, f)
		if i < len(names)-1 {
			if !f.relational() {
				return nil, valueError("Invalid field %s.%s in leaf %s", cur.name, n, pyReprTuple(leaf))
			}
			cur = s.models[f.rel]
		}
	}
	last := chain[len(chain)-1]
	test, err := s.leafTest(cur, last, op, val)
	if err != nil {
		return nil, err
	}
	if len(chain) == 1 {
		return func(r *record) bool { return test(r) }, nil
	}
	// Dotted path: follow the relational fields; x2many match when any
	// related record matches. Negative operators on a path apply to the
	// related records too (Odoo's behaviour for many2one paths).
	models := make([]*model, len(chain))
	models[0] = m
	for i := 1; i < len(chain); i++ {
		models[i] = s.models[chain[i-1].rel]
	}
	var walk func(i int, r *record) bool
	walk = func(i int, r *record) bool {
		if i == len(chain)-1 {
			return test(r)
		}
		for _, id := range s.relIDs(models[i], chain[i], r) {
			if rr := models[i+1].get(id); rr != nil && walk(i+1, rr) {
				return true
			}
		}
		return false
	}
	return func(r *record) bool { return walk(0, r) }, nil
}

// relIDs returns the ids a relational field of r points to.
func (s *Server) relIDs(m *model, f *field, r *record) []int64 {
	switch f.typ {
	case tMany2one:
		v := s.fieldValue(m, f, r)
		if id, ok := v.(int64); ok && id != 0 {
			return []int64{id}
		}
	case tMany2many:
		ids, _ := r.vals[f.idx].([]int64)
		return ids
	case tOne2many:
		return s.inverseIDs(f, r.id)
	}
	return nil
}

// fieldValue is the raw value of a field (stored or computed).
func (s *Server) fieldValue(m *model, f *field, r *record) any {
	if f.name == "id" {
		return r.id
	}
	if f.compute != nil {
		return f.compute(s, r)
	}
	if f.idx < 0 {
		return nil
	}
	return r.vals[f.idx]
}

func (s *Server) inverseIDs(f *field, id int64) []int64 {
	co := s.models[f.rel]
	inv := co.byName[f.inverse]
	var out []int64
	for _, cid := range co.ids {
		if v, _ := co.recs[cid].vals[inv.idx].(int64); v == id {
			out = append(out, cid)
		}
	}
	return out
}

func isFalse(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	}
	return false
}

// leafTest builds the test for the last field of a path.
func (s *Server) leafTest(m *model, f *field, op string, val any) (func(*record) bool, error) {
	switch f.typ {
	case tMany2one, tMany2many, tOne2many:
		return s.relTest(m, f, op, val)
	}
	negative := op == "!=" || op == "not in" || op == "not like" || op == "not ilike"
	get := func(r *record) any { return s.fieldValue(m, f, r) }
	if f.name == "id" {
		get = func(r *record) any { return r.id }
	}
	unset := func(v any) bool {
		switch f.typ {
		case tBoolean, tInteger, tFloat, tMonetary, tManyRef:
			return false
		}
		return v == nil || v == false
	}
	switch op {
	case "in", "not in":
		list, ok := val.([]any)
		if !ok {
			list = []any{val}
		}
		wantNull := false
		var keys []any
		for _, x := range list {
			if isFalse(x) && f.typ != tBoolean {
				wantNull = true
				continue
			}
			k, err := s.coerce(f, x)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
		in := func(r *record) bool {
			v := get(r)
			if unset(v) {
				return wantNull
			}
			for _, k := range keys {
				if compareValues(v, k) == 0 {
					return true
				}
			}
			return false
		}
		if op == "in" {
			return in, nil
		}
		return func(r *record) bool {
			if unset(get(r)) {
				return !wantNull
			}
			return !in(r)
		}, nil
	case "=", "!=":
		if isFalse(val) && f.typ != tBoolean {
			eq := func(r *record) bool { return unset(get(r)) }
			if op == "=" {
				return eq, nil
			}
			return func(r *record) bool { return !eq(r) }, nil
		}
		k, err := s.coerce(f, val)
		if err != nil {
			return nil, err
		}
		return func(r *record) bool {
			v := get(r)
			if unset(v) {
				return negative
			}
			return (compareValues(v, k) == 0) != negative
		}, nil
	case "<", "<=", ">", ">=":
		if isFalse(val) && f.typ != tBoolean {
			return func(*record) bool { return false }, nil
		}
		k, err := s.coerce(f, val)
		if err != nil {
			return nil, err
		}
		return func(r *record) bool {
			v := get(r)
			if unset(v) {
				return false
			}
			c := compareValues(v, k)
			switch op {
			case "<":
				return c < 0
			case "<=":
				return c <= 0
			case ">":
				return c > 0
			}
			return c >= 0
		}, nil
	default: // like family
		pat := fmt.Sprint(val)
		if sv, ok := val.(string); ok {
			pat = sv
		}
		match, err := likeMatcher(op, pat)
		if err != nil {
			return nil, err
		}
		return func(r *record) bool {
			v := get(r)
			if unset(v) {
				return negative
			}
			return match(valueText(v)) != negative
		}, nil
	}
}

// relTest handles many2one and x2many leaves: ids, False, names.
func (s *Server) relTest(m *model, f *field, op string, val any) (func(*record) bool, error) {
	co := s.models[f.rel]
	ids := func(r *record) []int64 { return s.relIDs(m, f, r) }
	negative := op == "!=" || op == "not in" || op == "not like" || op == "not ilike"
	// Name-based comparison (Odoo runs a name_search on the comodel).
	if str, ok := val.(string); ok && op != "in" && op != "not in" {
		nameOp := op
		switch op {
		case "=", "!=":
			nameOp = "="
		case "not like":
			nameOp = "like"
		case "not ilike":
			nameOp = "ilike"
		}
		var match func(string) bool
		if nameOp == "=" {
			match = func(x string) bool { return x == str }
		} else {
			mm, err := likeMatcher(nameOp, str)
			if err != nil {
				return nil, err
			}
			match = mm
		}
		return func(r *record) bool {
			any := false
			for _, id := range ids(r) {
				if rr := co.get(id); rr != nil && match(s.displayName(co, rr)) {
					any = true
					break
				}
			}
			return any != negative
		}, nil
	}
	var want []int64
	wantNull := false
	switch x := val.(type) {
	case []any:
		for _, e := range x {
			if isFalse(e) {
				wantNull = true
				continue
			}
			id, ok := e.(int64)
			if !ok {
				return nil, &pyErr{Class: "psycopg2.errors.InvalidTextRepresentation", Msg: fmt.Sprintf("invalid input syntax for type integer: %s", pyRepr(e))}
			}
			want = append(want, id)
		}
	case int64:
		want = []int64{x}
	case bool:
		if x {
			return nil, valueError("Invalid value True for many2one comparison")
		}
		wantNull = true
	case nil:
		wantNull = true
	default:
		return nil, &pyErr{Class: "psycopg2.errors.InvalidTextRepresentation", Msg: fmt.Sprintf("invalid input syntax for type integer: %s", pyRepr(val))}
	}
	has := func(r *record) bool {
		got := ids(r)
		if len(got) == 0 {
			return wantNull
		}
		for _, g := range got {
			if slices.Contains(want, g) {
				return true
			}
		}
		return false
	}
	switch op {
	case "=", "in":
		return has, nil
	case "!=", "not in":
		return func(r *record) bool { return !has(r) }, nil
	case "<", "<=", ">", ">=":
		if len(want) != 1 {
			return nil, valueError("Invalid value %s for comparison", pyRepr(val))
		}
		return func(r *record) bool {
			got := ids(r)
			if len(got) == 0 {
				return false
			}
			c := cmp.Compare(got[0], want[0])
			switch op {
			case "<":
				return c < 0
			case "<=":
				return c <= 0
			case ">":
				return c > 0
			}
			return c >= 0
		}, nil
	}
	return nil, valueError("Invalid operator %s for field %s.%s", pyStrRepr(op), m.name, f.name)
}

// coerce converts a domain value to the representation stored for f.
func (s *Server) coerce(f *field, v any) (any, error) {
	switch f.typ {
	case tInteger, tManyRef:
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			return x, nil
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		case string:
			if n, err := strconv.ParseInt(x, 10, 64); err == nil {
				return n, nil
			}
			return nil, &pyErr{Class: "psycopg2.errors.InvalidTextRepresentation", Msg: fmt.Sprintf("invalid input syntax for type integer: \"%s\"", x)}
		}
	case tFloat, tMonetary:
		switch x := v.(type) {
		case int64:
			return float64(x), nil
		case float64:
			return x, nil
		case string:
			if n, err := strconv.ParseFloat(x, 64); err == nil {
				return n, nil
			}
			return nil, &pyErr{Class: "psycopg2.errors.InvalidTextRepresentation", Msg: fmt.Sprintf("invalid input syntax for type numeric: \"%s\"", x)}
		}
	case tBoolean:
		return !isFalse(v) && v != int64(0), nil
	case tDatetime:
		switch x := v.(type) {
		case string:
			return normDatetimeLiteral(x)
		case DateTime:
			if s.opts.Version >= 18 {
				t, err := parseISODateTime(x.Raw)
				if err != nil {
					return nil, valueError("time data %s does not match format '%%Y%%m%%dT%%H:%%M:%%S'", pyStrRepr(x.Raw))
				}
				return t.Format(dtLayout), nil
			}
			return nil, &pyErr{Class: "psycopg2.ProgrammingError", Msg: "can't adapt type 'DateTime'"}
		}
	case tDate:
		if x, ok := v.(string); ok {
			if len(x) >= 10 {
				if _, err := time.Parse(dateLayout, x[:10]); err == nil {
					return x[:10], nil
				}
			}
			return nil, &pyErr{Class: "psycopg2.errors.InvalidDatetimeFormat", Msg: fmt.Sprintf("invalid input syntax for type date: \"%s\"", x)}
		}
	default:
		switch x := v.(type) {
		case string:
			return x, nil
		case int64:
			return strconv.FormatInt(x, 10), nil
		case float64:
			return pyFloat(x), nil
		}
	}
	return nil, valueError("Invalid value %s for field %s", pyRepr(v), f.name)
}

// normDatetimeLiteral validates a datetime literal as PostgreSQL would cast
// it ('YYYY-MM-DD' means midnight).
func normDatetimeLiteral(x string) (any, error) {
	for _, l := range []string{dtLayout, "2006-01-02 15:04", dateLayout, dtMicro, "2006-01-02T15:04:05"} {
		if t, err := time.Parse(l, x); err == nil {
			if l == dtMicro {
				return x, nil
			}
			return t.Format(dtLayout), nil
		}
	}
	return nil, &pyErr{Class: "psycopg2.errors.InvalidDatetimeFormat", Msg: fmt.Sprintf("invalid input syntax for type timestamp: \"%s\"", x)}
}

func parseISODateTime(raw string) (time.Time, error) {
	for _, l := range []string{"20060102T15:04:05", "20060102T15:04:05Z07:00", "2006-01-02T15:04:05", "2006-01-02T15:04:05Z07:00"} {
		if t, err := time.Parse(l, raw); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad dateTime.iso8601 %q", raw)
}

func valueText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return pyFloat(x)
	case bool:
		if x {
			return "True"
		}
		return "False"
	}
	return fmt.Sprint(v)
}

// compareValues orders two non-null stored values of the same field.
func compareValues(a, b any) int {
	switch x := a.(type) {
	case string:
		y, _ := b.(string)
		return strings.Compare(x, y)
	case int64:
		switch y := b.(type) {
		case int64:
			return cmp.Compare(x, y)
		case float64:
			return cmp.Compare(float64(x), y)
		}
	case float64:
		switch y := b.(type) {
		case int64:
			return cmp.Compare(x, float64(y))
		case float64:
			return cmp.Compare(x, y)
		}
	case bool:
		y, _ := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

// likeMatcher implements like/ilike (substring, % and _ wildcards inside)
// and =like/=ilike (the pattern as given).
func likeMatcher(op, pat string) (func(string) bool, error) {
	ci := strings.Contains(op, "ilike")
	anchored := strings.HasPrefix(op, "=")
	if !anchored {
		pat = "%" + pat + "%"
	}
	var re strings.Builder
	re.WriteString("^")
	if ci {
		re.WriteString("(?is)")
	} else {
		re.WriteString("(?s)")
	}
	for i := 0; i < len(pat); i++ {
		switch c := pat[i]; c {
		case '%':
			re.WriteString(".*")
		case '_':
			re.WriteString(".")
		case '\\':
			if i+1 < len(pat) {
				i++
				re.WriteString(regexp.QuoteMeta(string(pat[i])))
			}
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re.WriteString("$")
	rx, err := regexp.Compile(re.String())
	if err != nil {
		return nil, valueError("Invalid pattern %s", pyStrRepr(pat))
	}
	// Fast path for plain substring searches, the common case.
	if !anchored && !strings.ContainsAny(pat[1:len(pat)-1], "%_\\") {
		needle := pat[1 : len(pat)-1]
		if ci {
			needle = strings.ToLower(needle)
			return func(s string) bool { return strings.Contains(strings.ToLower(s), needle) }, nil
		}
		return func(s string) bool { return strings.Contains(s, needle) }, nil
	}
	return rx.MatchString, nil
}

// orderKey is one term of an "order" specification.
type orderKey struct {
	f          *field
	desc       bool
	nullsFirst bool
}

var orderTermRx = regexp.MustCompile(`^([a-z_][a-z0-9_]*)(?:\s+(asc|desc))?(?:\s+nulls\s+(first|last))?$`)

// compileOrder parses an order specification and returns a less function.
func (s *Server) compileOrder(m *model, spec string) (func(a, b *record) int, bool, error) {
	if strings.TrimSpace(spec) == "" {
		spec = m.order
	}
	var keys []orderKey
	for _, term := range strings.Split(spec, ",") {
		t := strings.ToLower(strings.Join(strings.Fields(term), " "))
		mm := orderTermRx.FindStringSubmatch(t)
		var f *field
		if mm != nil {
			f = m.byName[mm[1]]
		}
		if mm == nil || f == nil || (!f.store && f.name != "id") || f.typ == tOne2many || f.typ == tMany2many {
			return nil, false, valueError("Invalid \"order\" specified (%s). A valid \"order\" specification is a comma-separated list of valid field names (optionally followed by asc/desc for the direction)", spec)
		}
		k := orderKey{f: f, desc: mm[2] == "desc"}
		k.nullsFirst = k.desc // PostgreSQL's default
		if mm[3] != "" {
			k.nullsFirst = mm[3] == "first"
		}
		keys = append(keys, k)
	}
	idOnly := len(keys) == 1 && keys[0].f.name == "id" && !keys[0].desc
	cmpf := func(a, b *record) int {
		for _, k := range keys {
			va, vb := s.sortValue(m, k.f, a), s.sortValue(m, k.f, b)
			na, nb := va == nil, vb == nil
			switch {
			case na && nb:
				continue
			case na || nb:
				// A null sorts first or last whatever the direction.
				if na == k.nullsFirst {
					return -1
				}
				return 1
			}
			c := compareValues(va, vb)
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return cmp.Compare(a.id, b.id)
	}
	return cmpf, idOnly, nil
}

func (s *Server) sortValue(m *model, f *field, r *record) any {
	v := s.fieldValue(m, f, r)
	switch f.typ {
	case tMany2one:
		id, _ := v.(int64)
		if id == 0 {
			return nil
		}
		co := s.models[f.rel]
		if rr := co.get(id); rr != nil {
			return s.displayName(co, rr)
		}
		return nil
	case tChar, tText, tHTML, tSelection, tDate, tDatetime:
		if v == false {
			return nil
		}
	}
	return v
}
