package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// TestCase is a saved input with the outcome the rule must produce. A rule
// needs at least one case that matches and one that does not before its
// ruleset can be published (CompileOptions.RequireTests).
type TestCase struct {
	Name   string      `json:"name" yaml:"name"`
	Input  Input       `json:"input" yaml:"input"`
	Expect Expectation `json:"expect" yaml:"expect"`
}

// Expectation is what a test case checks.
type Expectation struct {
	// Match: whether this rule matches the input (its event_types must
	// select the event, and its condition must be true).
	Match *bool `json:"match" yaml:"match"`
	// Category and Severity, when set, are this rule's outputs for the
	// input (the severity after severity_expr).
	Category string   `json:"category,omitempty" yaml:"category,omitempty"`
	Severity Severity `json:"severity,omitempty" yaml:"severity,omitempty"`
	// Primary, when set, is the rule id the whole ruleset must pick as
	// primary for the input ("" for unclassified).
	Primary *string `json:"primary,omitempty" yaml:"primary,omitempty"`
}

// clone copies a test case. Inputs are shared: the engine only reads
// them, and nothing edits a fixture in place.
func (t TestCase) clone() TestCase { return t }

func (t *TestCase) check(d *diags, field string) {
	if strings.TrimSpace(t.Name) == "" {
		d.errorf(field+".name", "required", "every test case needs a name")
	}
	if t.Input.Event == nil {
		d.errorf(field+".input.event", "required", "test case %q has no input event", t.Name)
	} else if t.Input.EvalTime().IsZero() {
		d.errorf(field+".input.event.received_at", "required", "test case %q needs input.event.received_at or input.now (the evaluation time)", t.Name)
	}
	if t.Expect.Match == nil {
		d.errorf(field+".expect.match", "required", "test case %q must say whether the rule matches (expect.match: true or false)", t.Name)
	} else if !*t.Expect.Match && (t.Expect.Category != "" || t.Expect.Severity != "") {
		d.errorf(field+".expect", "invalid", "test case %q expects no match, so it cannot expect a category or severity", t.Name)
	}
	if t.Expect.Severity != "" && t.Expect.Severity.Rank() == 0 {
		d.errorf(field+".expect.severity", "invalid", "severity %q must be one of critical, high, medium, low, info", t.Expect.Severity)
	}
}

// TestResult is the outcome of one test case.
type TestResult struct {
	Rule     string   `json:"rule"`
	Test     string   `json:"test"`
	Passed   bool     `json:"passed"`
	Failures []string `json:"failures,omitempty"`
	Got      TestGot  `json:"got"`
}

// TestGot is what the engine produced for a test case.
type TestGot struct {
	Match    bool        `json:"match"`
	Category string      `json:"category,omitempty"`
	Severity Severity    `json:"severity,omitempty"`
	Primary  string      `json:"primary,omitempty"`
	Errors   []RuleError `json:"errors,omitempty"`
}

// selects reports whether the rule's event_types select the env's event.
func (cr *compiledRule) selects(ev *EventEnv) bool {
	vals := [...]string{ev.Status, ev.Reason, ev.Source, ev.Activity, ev.Carrier}
	for _, k := range cr.rule.EventTypes {
		if k == "*" {
			return true
		}
		dim, val, _ := strings.Cut(k, ":")
		if di := dimIndex(dim); di >= 0 && vals[di] == val {
			return true
		}
	}
	return false
}

// RunTests runs the test cases of every rule, in priority order.
func (c *Compiled) RunTests(e *Evaluator) []TestResult {
	var out []TestResult
	for i := range c.Ruleset.Rules {
		r := &c.Ruleset.Rules[i]
		res, _ := c.RunRuleTests(e, r.ID)
		out = append(out, res...)
	}
	return out
}

// RunRuleTests runs one rule's test cases.
func (c *Compiled) RunRuleTests(e *Evaluator, id string) ([]TestResult, error) {
	cr, ok := c.byID[id]
	if !ok {
		return nil, fmt.Errorf("rules: no rule %q in the ruleset", id)
	}
	out := make([]TestResult, 0, len(cr.rule.Tests))
	for i := range cr.rule.Tests {
		out = append(out, e.runTest(c, cr, &cr.rule.Tests[i]))
	}
	return out, nil
}

func (e *Evaluator) runTest(c *Compiled, cr *compiledRule, tc *TestCase) TestResult {
	res := TestResult{Rule: cr.rule.ID, Test: tc.Name}
	fail := func(format string, args ...any) { res.Failures = append(res.Failures, fmt.Sprintf(format, args...)) }
	if err := e.env.Fill(&tc.Input); err != nil {
		fail("invalid input: %v", err)
		return res
	}
	r := cr.rule
	if cr.selects(&e.env.Event) {
		out, err := e.run(cr.when)
		if err != nil {
			res.Got.Errors = append(res.Got.Errors, ruleError(r, "when", err))
		} else if b, _ := out.(bool); b {
			res.Got.Match = true
		}
	}
	if res.Got.Match && r.Kind == KindClassify {
		res.Got.Category, res.Got.Severity = r.Category, r.Severity
		if cr.severity != nil {
			sv, err := e.run(cr.severity)
			if s, _ := sv.(string); err == nil && Severity(s).Rank() > 0 {
				res.Got.Severity = Severity(s)
			} else if err != nil {
				res.Got.Errors = append(res.Got.Errors, ruleError(r, "severity_expr", err))
			}
		}
	}
	x := tc.Expect
	if x.Match != nil && *x.Match != res.Got.Match {
		if *x.Match {
			why := ""
			if !cr.selects(&e.env.Event) {
				why = fmt.Sprintf(" (its event_types %v do not select an event with status %q, reason %q, source %q)", r.EventTypes, e.env.Event.Status, e.env.Event.Reason, e.env.Event.Source)
			}
			fail("expected the rule to match, but it did not%s", why)
		} else {
			fail("expected the rule not to match, but it did")
		}
	}
	for _, re := range res.Got.Errors {
		fail("%s failed at %d:%d: %s", re.Field, re.Line, re.Column, re.Message)
	}
	if x.Category != "" && x.Category != res.Got.Category {
		fail("expected category %q, got %q", x.Category, res.Got.Category)
	}
	if x.Severity != "" && x.Severity != res.Got.Severity {
		fail("expected severity %q, got %q", x.Severity, res.Got.Severity)
	}
	if x.Primary != nil {
		rec := e.evaluate(c)
		res.Got.Primary = rec.PrimaryRule()
		if *x.Primary != res.Got.Primary {
			want, got := *x.Primary, res.Got.Primary
			if want == "" {
				want = "(unclassified)"
			}
			if got == "" {
				got = "(unclassified)"
			}
			fail("expected the ruleset's primary rule to be %s, got %s", want, got)
		}
	}
	res.Passed = len(res.Failures) == 0
	return res
}

// MarshalYAML writes the input with the canonical JSON field names
// (the same names the events API uses), in block style.
func (in Input) MarshalYAML() (any, error) {
	type plain Input
	b, err := json.Marshal(plain(in))
	if err != nil {
		return nil, err
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		return nil, err
	}
	blockStyle(&n)
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		return n.Content[0], nil
	}
	return &n, nil
}

func blockStyle(n *yaml.Node) {
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode || n.Kind == yaml.DocumentNode {
		n.Style = 0
	} else if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		n.Style = 0 // the encoder quotes when a plain scalar would change type
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// UnmarshalYAML reads an input written with the canonical JSON field names.
// Unknown fields are errors, so a misspelt fixture field cannot silently
// make a test pass.
func (in *Input) UnmarshalYAML(n *yaml.Node) error {
	var v any
	if err := n.Decode(&v); err != nil {
		return err
	}
	b, err := json.Marshal(yamlToJSON(v))
	if err != nil {
		return fmt.Errorf("test input: %w", err)
	}
	return decodeInputJSON(b, in)
}

// UnmarshalJSON decodes strictly (unknown fields are errors).
func (in *Input) UnmarshalJSON(b []byte) error { return decodeInputJSON(b, in) }

func decodeInputJSON(b []byte, in *Input) error {
	type plain Input
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("test input: %w", err)
	}
	*in = Input(p)
	return nil
}

// yamlToJSON converts YAML-decoded values (map[string]any with any keys)
// into JSON-encodable ones.
func yamlToJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = yamlToJSON(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = yamlToJSON(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = yamlToJSON(e)
		}
		return x
	}
	return v
}
