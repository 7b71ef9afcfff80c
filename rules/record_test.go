package rules

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// starterInputs returns every test-case input of the starter ruleset.
func starterInputs(t *testing.T) (*Compiled, []*Input) {
	t.Helper()
	rs, err := Starter()
	if err != nil {
		t.Fatal(err)
	}
	c := mustCompile(t, rs)
	c.Version = 3
	var ins []*Input
	for _, r := range c.Ruleset.Rules {
		for i := range r.Tests {
			in := r.Tests[i].Input
			ins = append(ins, &in)
		}
	}
	return c, ins
}

func recordsJSONL(t *testing.T, c *Compiled, ins []*Input, e *Evaluator) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, in := range ins {
		rec, err := e.Evaluate(c, in)
		if err != nil {
			t.Fatal(err)
		}
		line, err := rec.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Acceptance 1 (engine part): the same input and ruleset give
// byte-identical records, whatever the wall clock says (clock injected a
// week apart), and match the committed golden file.
func TestRecordsByteIdentical(t *testing.T) {
	c, ins := starterInputs(t)
	today := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	weekLater := today.Add(7 * 24 * time.Hour)
	a := recordsJSONL(t, c, ins, NewEvaluator(EvalOptions{Clock: func() time.Time { return today }}))
	b := recordsJSONL(t, c, ins, NewEvaluator(EvalOptions{Clock: func() time.Time { return weekLater }}))
	if !bytes.Equal(a, b) {
		t.Fatal("records differ between runs")
	}
	// A freshly compiled copy of the same content (new programs, new
	// profile) gives the same bytes too.
	c2 := mustCompile(t, c.Ruleset)
	c2.Version = c.Version
	if c2.Hash != c.Hash {
		t.Fatalf("hash changed on recompile: %s vs %s", c2.Hash, c.Hash)
	}
	if got := recordsJSONL(t, c2, ins, NewEvaluator(EvalOptions{})); !bytes.Equal(a, got) {
		t.Fatal("records differ after recompiling")
	}
	golden(t, "starter_records.golden.jsonl", a)
}

// Records survive a JSON round trip byte for byte (what the store does).
func TestRecordRoundTrip(t *testing.T) {
	c, ins := starterInputs(t)
	e := NewEvaluator(EvalOptions{})
	for _, in := range ins {
		rec, err := e.Evaluate(c, in)
		if err != nil {
			t.Fatal(err)
		}
		b1, _ := rec.Marshal()
		var back Record
		if err := json.Unmarshal(b1, &back); err != nil {
			t.Fatal(err)
		}
		b2, _ := back.Marshal()
		if !bytes.Equal(b1, b2) {
			t.Fatalf("round trip changed the record:\n%s\n%s", b1, b2)
		}
	}
}

// Inputs (what the store keeps for replay) survive a JSON round trip and
// evaluate to the same record.
func TestInputRoundTrip(t *testing.T) {
	c, ins := starterInputs(t)
	e := NewEvaluator(EvalOptions{})
	for _, in := range ins {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var back Input
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		r1, _ := e.Evaluate(c, in)
		r2, _ := e.Evaluate(c, &back)
		b1, _ := r1.Marshal()
		b2, _ := r2.Marshal()
		if !bytes.Equal(b1, b2) {
			t.Fatalf("replayed input gives a different record:\n%s\n%s", b1, b2)
		}
	}
}
