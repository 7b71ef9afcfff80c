package rules

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/optimizer"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// Limits on a single expression (rules-anchors.md §6.4). Typical analyst
// rules have 11 to 23 AST nodes; the expr defaults (10,000 nodes, a memory
// budget of 1,000,000 units) allowed a 224 ms expression.
const (
	MaxSourceBytes = 4096
	MaxNodes       = 300
	MemoryBudget   = 10000
)

// allowedBuiltins is the allow-list of expr builtins. Everything else —
// now() (reads the wall clock), JSON/base64, sort/map/reduce/groupBy and
// friends (allocation-heavy), bitwise helpers — is disabled, including
// builtins a future expr version adds.
var allowedBuiltins = map[string]bool{
	"all": true, "any": true, "none": true, "one": true, "filter": true, "count": true, "sum": true, "find": true,
	"len": true, "abs": true, "ceil": true, "floor": true, "round": true, "int": true, "float": true, "string": true,
	"trim": true, "trimPrefix": true, "trimSuffix": true, "upper": true, "lower": true, "split": true, "indexOf": true,
	"hasPrefix": true, "hasSuffix": true, "max": true, "min": true, "duration": true, "date": true, "timezone": true,
	"first": true, "last": true, "join": true, "get": true, "type": true,
}

// allowedMethods are the Go methods an expression may call on values of
// the environment (times and durations). Time.Local, for instance, would
// depend on the host's zone and is not allowed.
var allowedMethods = map[string]bool{
	"Year": true, "Month": true, "Day": true, "Hour": true, "Minute": true, "Second": true, "Weekday": true,
	"YearDay": true, "Before": true, "After": true, "Equal": true, "IsZero": true, "Sub": true, "Add": true,
	"AddDate": true, "Truncate": true, "Round": true, "In": true, "UTC": true, "Unix": true, "Format": true,
	"Hours": true, "Minutes": true, "Seconds": true,
}

// disabledBuiltins lists every expr builtin not on the allow-list.
var disabledBuiltins = func() []string {
	var out []string
	for _, n := range builtin.Names {
		if !allowedBuiltins[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}()

// Diagnostic is one validation error or lint warning, positioned for an
// editor marker. Line and Column are 1-based; Column counts characters.
type Diagnostic struct {
	// Rule is the rule id, in ruleset reports.
	Rule string `json:"rule,omitempty"`
	// Field names the rule field the expression came from ("when",
	// "severity_expr", "actions[0].params.body", ...); empty for a bare
	// expression.
	Field   string `json:"field,omitempty"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
	// Code classifies the problem for programs: syntax, unknown_field,
	// unknown_name, type_mismatch, not_boolean, disabled_function,
	// too_large, too_long, invalid_argument, float_division, nil_trap,
	// never_nil, float_equality, constant_condition, unanchored_time,
	// event_types, invalid.
	Code string `json:"code"`
}

func (d Diagnostic) String() string {
	p := ""
	if d.Rule != "" {
		p = "rule " + d.Rule + ": "
	}
	if d.Field != "" {
		p += d.Field + ": "
	}
	return fmt.Sprintf("%s%d:%d: %s", p, d.Line, d.Column, d.Message)
}

// CompileError is returned when an expression or rule does not compile.
type CompileError struct {
	RuleID      string
	Diagnostics []Diagnostic
}

func (e *CompileError) Error() string {
	var b strings.Builder
	if e.RuleID != "" {
		fmt.Fprintf(&b, "rule %s: ", e.RuleID)
	}
	for i, d := range e.Diagnostics {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(d.String())
	}
	return b.String()
}

// exprKind is what an expression must produce.
type exprKind int

const (
	kindBool   exprKind = iota // rule conditions
	kindString                 // severity expressions
	kindAny                    // template placeholders and grouping keys
)

// profile is the compile configuration of one ruleset: the helper functions
// (inList bound to the ruleset's reference lists) and the expr options.
type profile struct {
	lists   map[string]map[string]struct{}
	fns     []*Function
	fnIndex map[string]*Function
	opts    []expr.Option
}

func newProfile(lists map[string][]string) *profile {
	p := &profile{lists: make(map[string]map[string]struct{}, len(lists))}
	for name, vals := range lists {
		set := make(map[string]struct{}, len(vals))
		for _, v := range vals {
			set[v] = struct{}{}
		}
		p.lists[name] = set
	}
	p.fns = append(append([]*Function(nil), baseFunctions...), inListFunction(p.lists))
	p.fnIndex = make(map[string]*Function, len(p.fns))
	for _, f := range p.fns {
		p.fnIndex[f.Name] = f
	}
	p.opts = []expr.Option{expr.Env(Env{}), expr.MaxNodes(MaxNodes), expr.Timezone("UTC")}
	for _, n := range disabledBuiltins {
		p.opts = append(p.opts, expr.DisableBuiltin(n))
	}
	p.opts = append(p.opts, functionOptions(p.fns)...)
	p.opts = append(p.opts, expr.Patch(implicitNow{fns: p.fnIndex}))
	return p
}

func (p *profile) config(kind exprKind) *conf.Config {
	c := conf.CreateNew()
	for _, op := range p.opts {
		op(c)
	}
	switch kind {
	case kindBool:
		expr.AsBool()(c)
		expr.WarnOnAny()(c)
	case kindString:
		expr.AsKind(reflect.String)(c)
		expr.WarnOnAny()(c)
	}
	for name := range c.Disabled {
		delete(c.Builtins, name)
	}
	c.Check()
	return c
}

// implicitNow rewrites now() to the environment's `now` and gives
// functions marked ImplicitNow the evaluation time as first argument.
type implicitNow struct{ fns map[string]*Function }

func (v implicitNow) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	if !ok {
		return
	}
	if id.Value == "now" && len(call.Arguments) == 0 {
		ast.Patch(node, &ast.IdentifierNode{Value: "now"})
		return
	}
	if f := v.fns[id.Value]; f != nil && f.ImplicitNow {
		nowNode := &ast.IdentifierNode{Value: "now"}
		nowNode.SetLocation(call.Location())
		args := append([]ast.Node{nowNode}, call.Arguments...)
		ast.Patch(node, &ast.CallNode{Callee: call.Callee, Arguments: args})
	}
}

// compiledExpr is the result of compiling one expression.
type compiledExpr struct {
	program  *vm.Program
	errors   []Diagnostic
	warnings []Diagnostic
}

// compile compiles src for kind. With lint set it also returns warnings.
// It never panics: a panic inside expr becomes an "invalid" diagnostic.
func (p *profile) compile(src string, kind exprKind, lint bool) (out compiledExpr) {
	defer func() {
		if r := recover(); r != nil {
			out = compiledExpr{errors: []Diagnostic{{Line: 1, Column: 1, Code: "invalid", Message: fmt.Sprintf("the expression could not be compiled: %v", r)}}}
		}
	}()
	if strings.TrimSpace(src) == "" {
		return compiledExpr{errors: []Diagnostic{{Line: 1, Column: 1, Code: "syntax", Message: "the expression is empty"}}}
	}
	if len(src) > MaxSourceBytes {
		return compiledExpr{errors: []Diagnostic{{Line: 1, Column: 1, Code: "too_long", Message: fmt.Sprintf("the expression is %d bytes long; the limit is %d: split it into several rules or use a reference list with inList", len(src), MaxSourceBytes)}}}
	}
	if !utf8.ValidString(src) {
		return compiledExpr{errors: []Diagnostic{{Line: 1, Column: 1, Code: "syntax", Message: "the expression is not valid UTF-8 text"}}}
	}
	cfg := p.config(kind)
	tree, err := parser.ParseWithConfig(src, cfg)
	if err != nil {
		return compiledExpr{errors: []Diagnostic{p.translate(src, err, kind)}}
	}
	if errs := p.precheck(tree); len(errs) > 0 {
		return compiledExpr{errors: errs}
	}
	if _, err := new(checker.Checker).PatchAndCheck(tree, cfg); err != nil {
		return compiledExpr{errors: []Diagnostic{p.translate(src, err, kind)}}
	}
	if lint {
		out.warnings = lintTree(tree, kind)
	}
	if cfg.Optimize {
		if err := optimizer.Optimize(&tree.Node, cfg); err != nil {
			var fe *file.Error
			if errors.As(err, &fe) {
				err = fe.Bind(tree.Source)
			}
			return compiledExpr{errors: []Diagnostic{p.translate(src, err, kind)}, warnings: out.warnings}
		}
	}
	prog, err := compiler.Compile(tree, cfg)
	if err != nil {
		return compiledExpr{errors: []Diagnostic{p.translate(src, err, kind)}, warnings: out.warnings}
	}
	if lint && kind == kindBool {
		out.warnings = append(out.warnings, constantWarnings(tree.Node, prog)...)
	}
	out.program = prog
	return out
}

func posOf(src string, loc file.Location) (line, col int) {
	line, col = 1, 1
	for i, r := range []rune(src) {
		if i == loc.From {
			break
		}
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

func diagAt(src string, n ast.Node, code, format string, args ...any) Diagnostic {
	line, col := posOf(src, n.Location())
	return Diagnostic{Line: line, Column: col, Code: code, Message: fmt.Sprintf(format, args...)}
}

// precheck rejects what expr would accept or report poorly: disabled
// builtins (expr still parses map, reduce, sortBy and groupBy when
// disabled), disallowed methods, wrong helper arity, unknown reference
// lists and unknown time zones.
func (p *profile) precheck(tree *parser.Tree) []Diagnostic {
	src := tree.Source.String()
	var errs []Diagnostic
	walk(tree.Node, func(n ast.Node) {
		switch n := n.(type) {
		case *ast.BuiltinNode:
			if !allowedBuiltins[n.Name] {
				errs = append(errs, disabledDiag(src, n, n.Name))
				return
			}
			if n.Name == "duration" && len(n.Arguments) == 1 {
				if s, ok := n.Arguments[0].(*ast.StringNode); ok {
					if _, err := time.ParseDuration(s.Value); err != nil {
						errs = append(errs, diagAt(src, s, "invalid_argument", "duration(%q) is not a duration: write hours, minutes or seconds such as \"36h\", \"90m\" (a day is \"24h\")", s.Value))
					}
				}
			}
		case *ast.CallNode:
			id, ok := n.Callee.(*ast.IdentifierNode)
			if !ok {
				return
			}
			if id.Value == "now" {
				if len(n.Arguments) > 0 {
					errs = append(errs, diagAt(src, n, "invalid_argument", "now() takes no arguments: it is the evaluation time (the same as `now`)"))
				}
				return
			}
			if _, isBuiltin := builtin.Index[id.Value]; isBuiltin && !allowedBuiltins[id.Value] && p.fnIndex[id.Value] == nil {
				errs = append(errs, disabledDiag(src, n, id.Value))
				return
			}
			f := p.fnIndex[id.Value]
			if f == nil {
				return
			}
			if len(n.Arguments) < f.MinArgs || len(n.Arguments) > f.MaxArgs {
				want := fmt.Sprintf("%d", f.MinArgs)
				if f.MaxArgs != f.MinArgs {
					want = fmt.Sprintf("%d to %d", f.MinArgs, f.MaxArgs)
				}
				errs = append(errs, diagAt(src, n, "invalid_argument", "%s takes %s argument(s), got %d: %s", f.Name, want, len(n.Arguments), f.Signature))
				return
			}
			if f.ListArg {
				s, ok := n.Arguments[0].(*ast.StringNode)
				if !ok {
					errs = append(errs, diagAt(src, n.Arguments[0], "invalid_argument", "the first argument of %s must be a list name in quotes, e.g. %s", f.Name, f.Example))
				} else if _, ok := p.lists[s.Value]; !ok {
					names := make([]string, 0, len(p.lists))
					for k := range p.lists {
						names = append(names, k)
					}
					errs = append(errs, diagAt(src, s, "unknown_name", "unknown reference list %q%s", s.Value, didYouMean(s.Value, names, "")))
				}
			}
			if f.ZoneArg >= 0 && len(n.Arguments) > f.ZoneArg {
				if s, ok := n.Arguments[f.ZoneArg].(*ast.StringNode); ok {
					if _, err := loadZone(s.Value); err != nil {
						errs = append(errs, diagAt(src, s, "invalid_argument", "%v", err))
					}
				}
			}
		case *ast.MemberNode:
			if !n.Method {
				return
			}
			if s, ok := n.Property.(*ast.StringNode); ok && !allowedMethods[s.Value] {
				errs = append(errs, diagAt(src, n.Property, "disabled_function", "the method %s() is not allowed in rules", s.Value))
			}
		}
	})
	return errs
}

func disabledDiag(src string, n ast.Node, name string) Diagnostic {
	if name == "now" {
		return diagAt(src, n, "disabled_function", "now() reads the wall clock and is replaced by the evaluation time: write `now`")
	}
	return diagAt(src, n, "disabled_function", "the function %s() is disabled in rules (it is not deterministic or is too costly); allowed: %s", name, strings.Join(allowedFunctionNames(), ", "))
}

func allowedFunctionNames() []string {
	out := make([]string, 0, len(allowedBuiltins)+len(baseFunctions)+1)
	for n := range allowedBuiltins {
		out = append(out, n)
	}
	for _, f := range Functions() {
		out = append(out, f.Name)
	}
	sort.Strings(out)
	return out
}

// walk calls fn for every node of the tree, parents after children.
func walk(n ast.Node, fn func(ast.Node)) {
	if n == nil {
		return
	}
	ast.Walk(&n, visitFunc(fn))
}

type visitFunc func(ast.Node)

func (f visitFunc) Visit(n *ast.Node) { f(*n) }

var (
	reNoField   = regexp.MustCompile(`^type (\S+) has no field (\S+)`)
	reUnknown   = regexp.MustCompile(`^unknown name (\S+)`)
	reExpected  = regexp.MustCompile(`^expected (\S+), but got (.+)$`)
	reMismatch  = regexp.MustCompile(`^invalid operation: (\S+) \(mismatched types (.+) and (.+)\)`)
	reArgument  = regexp.MustCompile(`^cannot use (.+) as argument \(type (.+)\) to call (\S+)`)
	reTypeWords = []struct {
		re   *regexp.Regexp
		repl string
	}{
		{regexp.MustCompile(`\*time\.Time`), "time (may be nil)"},
		{regexp.MustCompile(`time\.Time`), "time"},
		{regexp.MustCompile(`time\.Duration`), "duration"},
		{regexp.MustCompile(`map\[string\]interface \{\}`), "attributes"},
		{regexp.MustCompile(`\[\]rules\.OpenException`), "list of open exceptions"},
		{regexp.MustCompile(`\[\]string`), "list of text"},
		{regexp.MustCompile(`\[\]interface \{\}`), "list"},
		{regexp.MustCompile(`interface \{\}`), "unknown type"},
		{regexp.MustCompile(`\bfloat64\b`), "number"},
		{regexp.MustCompile(`\bint\b`), "number"},
		{regexp.MustCompile(`\bstring\b`), "text"},
		{regexp.MustCompile(`\bbool\b`), "true/false"},
		{regexp.MustCompile(`\*?rules\.EventEnv`), "event"},
		{regexp.MustCompile(`\*?rules\.ShipmentEnv`), "shipment"},
		{regexp.MustCompile(`\*?rules\.OpenException`), "open exception"},
		{regexp.MustCompile(`\*?rules\.Order`), "order"},
		{regexp.MustCompile(`\*?rules\.Customer`), "customer"},
		{regexp.MustCompile(`\*?rules\.Env`), "environment"},
	}
)

func friendlyTypes(s string) string {
	for _, w := range reTypeWords {
		s = w.re.ReplaceAllString(s, w.repl)
	}
	return s
}

// typeLabels names the environment types in messages and lists their
// fields for suggestions.
var typeLabels = map[string]reflect.Type{
	"rules.Env":           reflect.TypeOf(Env{}),
	"rules.EventEnv":      reflect.TypeOf(EventEnv{}),
	"rules.ShipmentEnv":   reflect.TypeOf(ShipmentEnv{}),
	"rules.OpenException": reflect.TypeOf(OpenException{}),
	"rules.Order":         reflect.TypeOf(Order{}),
	"rules.Customer":      reflect.TypeOf(Customer{}),
}

// fieldOwners lists "object.name" for each top-level object with a field
// called name (event.status, shipment.status).
func fieldOwners(name string) []string {
	var out []string
	t := reflect.TypeOf(Env{})
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Type.Kind() != reflect.Struct || f.Type == reflect.TypeOf(time.Time{}) {
			continue
		}
		for _, n := range exprFieldNames(f.Type) {
			if n == name {
				out = append(out, f.Tag.Get("expr")+"."+n)
			}
		}
	}
	return out
}

// allFieldPaths lists "object.field" for every field of the top-level
// objects, for suggestions across objects (event.attempts → shipment.attempts).
func allFieldPaths() []string {
	var out []string
	t := reflect.TypeOf(Env{})
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Type.Kind() != reflect.Struct || f.Type == reflect.TypeOf(time.Time{}) {
			continue
		}
		for _, n := range exprFieldNames(f.Type) {
			out = append(out, f.Tag.Get("expr")+"."+n)
		}
	}
	return out
}

func exprFieldNames(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if n := t.Field(i).Tag.Get("expr"); n != "" && n != "-" {
			out = append(out, n)
		}
	}
	return out
}

// translate turns an expr error into an analyst-friendly diagnostic.
func (p *profile) translate(src string, err error, kind exprKind) Diagnostic {
	d := Diagnostic{Line: 1, Column: 1, Code: "invalid"}
	msg := err.Error()
	var fe *file.Error
	if errors.As(err, &fe) {
		msg = fe.Message
		if fe.Line > 0 {
			d.Line, d.Column = fe.Line, fe.Column+1
		} else {
			d.Line, d.Column = posOf(src, fe.Location)
		}
	}
	switch {
	case strings.Contains(msg, "exceeds maximum allowed nodes"):
		d.Code = "too_large"
		d.Message = fmt.Sprintf("the expression is too large (more than %d parts): split it into several rules or use a reference list with inList", MaxNodes)
	case reNoField.MatchString(msg):
		m := reNoField.FindStringSubmatch(msg)
		label := friendlyTypes(m[1])
		var names []string
		if t, ok := typeLabels[strings.TrimPrefix(m[1], "*")]; ok {
			names = exprFieldNames(t)
		}
		d.Code = "unknown_field"
		hint := didYouMean(m[2], names, label+".")
		if hint == "" {
			hint = didYouMean(m[2], allFieldPaths(), "")
		}
		d.Message = fmt.Sprintf("unknown field %q on %s%s", m[2], label, hint)
	case reUnknown.MatchString(msg):
		name := reUnknown.FindStringSubmatch(msg)[1]
		if _, isBuiltin := builtin.Index[name]; isBuiltin && !allowedBuiltins[name] {
			d.Code = "disabled_function"
			d.Message = fmt.Sprintf("the function %s() is disabled in rules", name)
			break
		}
		names := exprFieldNames(reflect.TypeOf(Env{}))
		names = append(names, allowedFunctionNames()...)
		d.Code = "unknown_name"
		d.Message = fmt.Sprintf("unknown name %q%s (the top-level names are event, shipment, order, customer and now)", name, didYouMean(name, names, ""))
		// A field of a nested object written without its object.
		if owners := fieldOwners(name); len(owners) > 0 {
			d.Message = fmt.Sprintf("unknown name %q — did you mean %s?", name, strings.Join(owners, " or "))
		}
	case reExpected.MatchString(msg):
		m := reExpected.FindStringSubmatch(msg)
		d.Code = "not_boolean"
		got := friendlyTypes(m[2])
		if got == "unknown" {
			got = "unknown type"
		}
		switch kind {
		case kindBool:
			d.Message = fmt.Sprintf("the condition must be true or false, but this expression gives %s", got)
			if strings.Contains(got, "unknown type") {
				d.Message += ": compare the value explicitly, e.g. `event.attributes.flag == true`"
			}
		default:
			d.Code = "type_mismatch"
			d.Message = fmt.Sprintf("the expression must give %s, but it gives %s", friendlyTypes(m[1]), got)
		}
	case reMismatch.MatchString(msg):
		m := reMismatch.FindStringSubmatch(msg)
		d.Code = "type_mismatch"
		d.Message = fmt.Sprintf("type mismatch: cannot use %s between %s and %s", m[1], friendlyTypes(m[2]), friendlyTypes(m[3]))
		if strings.Contains(m[2]+m[3], "int") && strings.Contains(m[2]+m[3], "string") {
			d.Message += " (put numbers without quotes and text in quotes)"
		}
	case reArgument.MatchString(msg):
		m := reArgument.FindStringSubmatch(msg)
		d.Code = "type_mismatch"
		d.Message = fmt.Sprintf("type mismatch: %s needs %s here, not %s", m[3], friendlyTypes(m[2]), friendlyTypes(m[1]))
		if f := p.fnIndex[m[3]]; f != nil {
			d.Message += " — " + f.Signature
		}
	case strings.HasPrefix(msg, "unexpected token") || strings.HasPrefix(msg, "unexpected end") ||
		strings.HasPrefix(msg, "unterminated") || strings.HasPrefix(msg, "unrecognized character") ||
		strings.HasPrefix(msg, "expected "):
		d.Code = "syntax"
		d.Message = "syntax error: " + friendlyTokens(msg)
	default:
		d.Message = friendlyTypes(msg)
	}
	return d
}

func friendlyTokens(msg string) string {
	msg = strings.Replace(msg, "unexpected token EOF", "the expression ends too early", 1)
	msg = strings.Replace(msg, "unexpected end of expression", "the expression ends too early", 1)
	return msg
}

// didYouMean suggests the closest candidate names for a misspelt name.
func didYouMean(name string, candidates []string, prefix string) string {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }
	n := norm(name)
	type scored struct {
		s string
		d int
	}
	var best []scored
	for _, c := range candidates {
		if c == name {
			continue
		}
		cn := c
		if i := strings.LastIndexByte(c, '.'); i >= 0 {
			cn = c[i+1:]
		}
		d := levenshtein(n, norm(cn))
		limit := 2
		if len(n) > 8 {
			limit = 3
		}
		if d <= limit || (len(n) >= 4 && strings.Contains(norm(cn), n)) {
			best = append(best, scored{c, d})
		}
	}
	if len(best) == 0 {
		return ""
	}
	sort.Slice(best, func(i, j int) bool {
		if best[i].d != best[j].d {
			return best[i].d < best[j].d
		}
		return best[i].s < best[j].s
	})
	if len(best) > 3 {
		best = best[:3]
	}
	parts := make([]string, len(best))
	for i, b := range best {
		parts[i] = prefix + b.s
	}
	return " — did you mean " + strings.Join(parts, " or ") + "?"
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
