package rules

import (
	"testing"
)

// The starter ruleset compiles with tests required, lints clean, and every
// test case passes.
func TestStarterRuleset(t *testing.T) {
	rs, err := Starter()
	if err != nil {
		t.Fatal(err)
	}
	c, rep := Compile(rs, CompileOptions{Lint: true, RequireTests: true})
	if c == nil {
		t.Fatalf("starter does not compile: %v", rep.Err())
	}
	for _, w := range rep.Warnings {
		t.Errorf("warning: %s", w)
	}
	res := c.RunTests(NewEvaluator(EvalOptions{Deadline: -1}))
	if len(res) < 2*len(rs.Rules) {
		t.Errorf("%d test results for %d rules", len(res), len(rs.Rules))
	}
	for _, r := range res {
		if !r.Passed {
			t.Errorf("%s / %s: %v", r.Rule, r.Test, r.Failures)
		}
	}
}
