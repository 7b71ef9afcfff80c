package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// EngineVersion identifies the evaluation semantics and the expr version.
// It is part of every ruleset hash and evaluation record: upgrading expr or
// changing semantics is a ruleset change and must show zero backtest diffs.
const EngineVersion = "yardmaster-rules/1 expr/v1.17.8"

// Ruleset is the content of a ruleset: rules and the reference lists that
// inList reads. It is what drafts hold, what a published version freezes
// and what YAML files contain.
type Ruleset struct {
	Lists map[string][]string `json:"lists,omitempty" yaml:"lists,omitempty"`
	Rules []Rule              `json:"rules" yaml:"rules"`
}

// Clone returns a deep copy.
func (rs *Ruleset) Clone() *Ruleset {
	out := &Ruleset{Rules: make([]Rule, len(rs.Rules))}
	if rs.Lists != nil {
		out.Lists = make(map[string][]string, len(rs.Lists))
		for k, v := range rs.Lists {
			out.Lists[k] = slices.Clone(v)
		}
	}
	for i := range rs.Rules {
		out.Rules[i] = rs.Rules[i].Clone()
	}
	return out
}

// Clone returns a deep copy of the rule.
func (r Rule) Clone() Rule {
	r.EventTypes = slices.Clone(r.EventTypes)
	r.Tags = slices.Clone(r.Tags)
	r.Suppresses = slices.Clone(r.Suppresses)
	if r.Actions != nil {
		acts := make([]ActionTemplate, len(r.Actions))
		for i, a := range r.Actions {
			acts[i] = ActionTemplate{Type: a.Type}
			if a.Params != nil {
				acts[i].Params = make(map[string]string, len(a.Params))
				for k, v := range a.Params {
					acts[i].Params[k] = v
				}
			}
		}
		r.Actions = acts
	}
	if r.Group != nil {
		g := *r.Group
		g.Keys = slices.Clone(g.Keys)
		r.Group = &g
	}
	if r.Tests != nil {
		tests := make([]TestCase, len(r.Tests))
		for i, t := range r.Tests {
			tests[i] = t.clone()
		}
		r.Tests = tests
	}
	return r
}

// Normalize normalizes every rule, sorts rules by priority (then id) and
// sorts and deduplicates list values.
func (rs *Ruleset) Normalize() {
	for i := range rs.Rules {
		rs.Rules[i].Normalize()
	}
	sort.SliceStable(rs.Rules, func(i, j int) bool {
		if rs.Rules[i].Priority != rs.Rules[j].Priority {
			return rs.Rules[i].Priority < rs.Rules[j].Priority
		}
		return rs.Rules[i].ID < rs.Rules[j].ID
	})
	for k, v := range rs.Lists {
		rs.Lists[k] = sortedUnique(slices.Clone(v))
	}
	if len(rs.Lists) == 0 {
		rs.Lists = nil
	}
}

// Hash is the content hash of a normalized ruleset: SHA-256 over its
// canonical JSON and the engine version, as "sha256:<hex>".
func (rs *Ruleset) Hash() string {
	h := sha256.New()
	h.Write([]byte(EngineVersion))
	h.Write([]byte{0})
	// encoding/json writes struct fields in declaration order and map keys
	// sorted, so the bytes depend only on the content.
	b, err := json.Marshal(rs)
	if err != nil {
		panic(fmt.Sprintf("rules: marshal ruleset: %v", err)) // only plain data inside
	}
	h.Write(b)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// compiledRule is a rule with its programs.
type compiledRule struct {
	rule        *Rule
	pos         int32 // position in priority order
	when        *vm.Program
	severity    *vm.Program
	actions     []compiledAction
	groupKeys   []*vm.Program
	suppress    map[string]bool
	suppressAll bool
}

// index maps event properties to the rules that list them in event_types,
// each list in priority order.
type index struct {
	dims [5]map[string][]int32 // by IndexDimensions
	all  []int32               // rules with "*"
}

func dimIndex(dim string) int {
	for i, d := range IndexDimensions {
		if d == dim {
			return i
		}
	}
	return -1
}

// Compiled is an immutable, compiled and indexed ruleset. It is safe for
// concurrent use; evaluation state lives in an Evaluator.
type Compiled struct {
	// Version is the published version number (0 for drafts and
	// candidates).
	Version int64
	// Hash is the content hash (Ruleset.Hash).
	Hash string
	// Ruleset is the normalized content the programs were compiled from.
	Ruleset *Ruleset

	rules   []*compiledRule // not disabled, priority order
	byID    map[string]*compiledRule
	idx     index
	profile *profile
}

// Report is the outcome of compiling (and testing) a ruleset.
type Report struct {
	OK       bool         `json:"ok"`
	Hash     string       `json:"hash,omitempty"`
	Errors   []Diagnostic `json:"errors"`
	Warnings []Diagnostic `json:"warnings"`
	Tests    []TestResult `json:"tests,omitempty"`
}

// Err returns a *CompileError when the report has errors.
func (r *Report) Err() error {
	if len(r.Errors) == 0 {
		return nil
	}
	return &CompileError{Diagnostics: r.Errors}
}

// CompileOptions tune Compile.
type CompileOptions struct {
	// Lint adds warnings (float division, nil traps, ...). Publishing and
	// validation lint; loading a published version does not.
	Lint bool
	// RequireTests makes a missing positive or negative test case an error
	// for every active and shadow rule.
	RequireTests bool
}

// Compile normalizes a copy of rs, validates and compiles every rule and
// builds the index. The Compiled is nil when the report has errors.
func Compile(rs *Ruleset, opts CompileOptions) (*Compiled, *Report) {
	rs = rs.Clone()
	rs.Normalize()
	rep := &Report{Errors: []Diagnostic{}, Warnings: []Diagnostic{}}
	addRule := func(id string, ds []Diagnostic, dst *[]Diagnostic) {
		for _, d := range ds {
			d.Rule = id
			*dst = append(*dst, d)
		}
	}
	if len(rs.Rules) > MaxRules {
		rep.Errors = append(rep.Errors, Diagnostic{Line: 1, Column: 1, Code: "invalid", Message: fmt.Sprintf("a ruleset has at most %d rules; this one has %d", MaxRules, len(rs.Rules))})
	}
	listNames := make([]string, 0, len(rs.Lists))
	for name, vals := range rs.Lists {
		listNames = append(listNames, name)
		if !reListName.MatchString(name) {
			rep.Errors = append(rep.Errors, Diagnostic{Field: "lists", Line: 1, Column: 1, Code: "invalid", Message: fmt.Sprintf("list name %q must start with a lowercase letter and use only a-z, 0-9 and _", name)})
		}
		if len(vals) > MaxListValues {
			rep.Errors = append(rep.Errors, Diagnostic{Field: "lists." + name, Line: 1, Column: 1, Code: "invalid", Message: fmt.Sprintf("list %s has %d values; the limit is %d", name, len(vals), MaxListValues)})
		}
	}
	sort.Strings(listNames)
	c := &Compiled{Ruleset: rs, byID: make(map[string]*compiledRule, len(rs.Rules)), profile: newProfile(rs.Lists)}
	for i := range c.idx.dims {
		c.idx.dims[i] = map[string][]int32{}
	}
	ids := map[string]bool{}
	prios := map[int]string{}
	for i := range rs.Rules {
		r := &rs.Rules[i]
		if ids[r.ID] {
			rep.Errors = append(rep.Errors, Diagnostic{Rule: r.ID, Field: "id", Line: 1, Column: 1, Code: "duplicate", Message: fmt.Sprintf("two rules have the id %q", r.ID)})
		}
		ids[r.ID] = true
		if other, dup := prios[r.Priority]; dup && r.Priority != 0 {
			rep.Errors = append(rep.Errors, Diagnostic{Rule: r.ID, Field: "priority", Line: 1, Column: 1, Code: "duplicate", Message: fmt.Sprintf("priority %d is also used by rule %s; priorities must be unique so the order never depends on chance", r.Priority, other)})
		}
		prios[r.Priority] = r.ID
		cr, d := r.validate(c.profile, opts.Lint)
		addRule(r.ID, d.errors, &rep.Errors)
		addRule(r.ID, d.warnings, &rep.Warnings)
		if opts.RequireTests && r.Mode != ModeDisabled {
			pos, neg := 0, 0
			for _, t := range r.Tests {
				if t.Expect.Match != nil && *t.Expect.Match {
					pos++
				} else {
					neg++
				}
			}
			if pos == 0 || neg == 0 {
				rep.Errors = append(rep.Errors, Diagnostic{Rule: r.ID, Field: "tests", Line: 1, Column: 1, Code: "tests_missing", Message: fmt.Sprintf("rule %s needs at least one test case that matches and one that does not (it has %d and %d)", r.ID, pos, neg)})
			}
		}
		if cr == nil {
			continue
		}
		c.byID[r.ID] = cr
		if r.Mode == ModeDisabled {
			continue
		}
		cr.pos = int32(len(c.rules))
		c.rules = append(c.rules, cr)
		for _, k := range r.EventTypes {
			if k == "*" {
				c.idx.all = append(c.idx.all, cr.pos)
				continue
			}
			dim, val, _ := strings.Cut(k, ":")
			if di := dimIndex(dim); di >= 0 {
				c.idx.dims[di][val] = append(c.idx.dims[di][val], cr.pos)
			}
		}
	}
	for di, m := range c.idx.dims {
		for val, list := range m {
			if len(list)+len(c.idx.all) > MaxBucket {
				rep.Errors = append(rep.Errors, Diagnostic{Field: "event_types", Line: 1, Column: 1, Code: "bucket_too_large", Message: fmt.Sprintf("%d rules run for %s:%s (with the \"*\" rules); the limit is %d per event type", len(list)+len(c.idx.all), IndexDimensions[di], val, MaxBucket)})
			} else if opts.Lint && len(list)+len(c.idx.all) > MaxBucket/2 {
				rep.Warnings = append(rep.Warnings, Diagnostic{Field: "event_types", Line: 1, Column: 1, Code: "bucket_large", Message: fmt.Sprintf("%d rules run for %s:%s; above %d each event of that type gets slow", len(list)+len(c.idx.all), IndexDimensions[di], val, MaxBucket/2)})
			}
		}
	}
	if len(rep.Errors) > 0 {
		return nil, rep
	}
	c.Hash = rs.Hash()
	rep.Hash = c.Hash
	rep.OK = true
	return c, rep
}

// Rules returns the compiled ruleset's rules in priority order, disabled
// rules included.
func (c *Compiled) Rules() []Rule { return c.Ruleset.Rules }

// Rule returns the rule with id.
func (c *Compiled) Rule(id string) (*Rule, bool) {
	cr, ok := c.byID[id]
	if !ok {
		return nil, false
	}
	return cr.rule, true
}

// guardWarnings compares a condition's top-level guards on event
// properties (event.status == "x", event.reason in [...]) with the rule's
// event_types: a rule indexed by keys its condition excludes never matches,
// and a "*" rule with a guard runs for every event needlessly.
func guardWarnings(r *Rule) []Diagnostic {
	tree, err := parser.Parse(r.When)
	if err != nil {
		return nil
	}
	guards := map[string][]string{} // dimension → allowed values
	var conj func(n ast.Node)
	conj = func(n ast.Node) {
		b, ok := n.(*ast.BinaryNode)
		if !ok {
			return
		}
		switch b.Operator {
		case "&&", "and":
			conj(b.Left)
			conj(b.Right)
			return
		}
		dim := guardDim(b.Left)
		if dim == "" {
			return
		}
		switch b.Operator {
		case "==":
			if s, ok := b.Right.(*ast.StringNode); ok {
				guards[dim] = append(guards[dim], s.Value)
			}
		case "in":
			if a, ok := b.Right.(*ast.ArrayNode); ok {
				var vals []string
				for _, e := range a.Nodes {
					s, ok := e.(*ast.StringNode)
					if !ok {
						return
					}
					vals = append(vals, s.Value)
				}
				guards[dim] = append(guards[dim], vals...)
			}
		}
	}
	conj(tree.Node)
	if len(guards) == 0 {
		return nil
	}
	var out []Diagnostic
	dims := make([]string, 0, len(guards))
	for d := range guards {
		dims = append(dims, d)
	}
	sort.Strings(dims)
	for _, dim := range dims {
		vals := sortedUnique(guards[dim])
		keys := make([]string, len(vals))
		for i, v := range vals {
			keys[i] = dim + ":" + v
		}
		if len(r.EventTypes) == 1 && r.EventTypes[0] == "*" {
			out = append(out, Diagnostic{Field: "event_types", Line: 1, Column: 1, Code: "event_types",
				Message: fmt.Sprintf("the condition requires event.%s in %v: set event_types to [%s] so the rule only runs for those events", dim, vals, strings.Join(keys, ", "))})
			continue
		}
		same, hit := true, false
		for _, k := range r.EventTypes {
			kd, kv, _ := strings.Cut(k, ":")
			if kd != dim {
				same = false
				continue
			}
			if containsString(vals, kv) {
				hit = true
			}
		}
		if same && !hit {
			out = append(out, Diagnostic{Field: "event_types", Line: 1, Column: 1, Code: "event_types",
				Message: fmt.Sprintf("the rule can never match: it only runs for %s but the condition requires event.%s in %v", strings.Join(r.EventTypes, ", "), dim, vals)})
		}
	}
	return out
}

func guardDim(n ast.Node) string {
	m, ok := n.(*ast.MemberNode)
	if !ok {
		return ""
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok || id.Value != "event" {
		return ""
	}
	s, ok := m.Property.(*ast.StringNode)
	if !ok {
		return ""
	}
	if dimIndex(s.Value) >= 0 {
		return s.Value
	}
	return ""
}
