package rules

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// rules export | import round-trips: exporting the starter, importing it
// and exporting again gives the same bytes and the same content hash.
func TestYAMLRoundTrip(t *testing.T) {
	rs, err := Starter()
	if err != nil {
		t.Fatal(err)
	}
	a, err := MarshalYAML(rs)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseYAML(a)
	if err != nil {
		t.Fatalf("parse exported yaml: %v\n%s", err, a)
	}
	b, err := MarshalYAML(back)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("export is not stable:\n%s\n----\n%s", a, b)
	}
	n1, n2 := rs.Clone(), back.Clone()
	n1.Normalize()
	n2.Normalize()
	if n1.Hash() != n2.Hash() {
		t.Fatal("content hash changed through YAML")
	}
	// Lists and synthetic rules with actions, groups and tests round-trip too.
	syn := withTests(syntheticRuleset(50, 3), syntheticInputs(200, 4))
	syn.Lists = map[string][]string{"vip": {"b", "a", "a"}}
	y, err := MarshalYAML(syn)
	if err != nil {
		t.Fatal(err)
	}
	back2, err := ParseYAML(y)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	s1 := syn.Clone()
	s1.Normalize()
	back2.Normalize()
	if s1.Hash() != back2.Hash() {
		y2, _ := MarshalYAML(back2)
		t.Fatalf("synthetic ruleset changed through YAML:\n%s", firstDiff(string(y), string(y2)))
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range al {
		if i >= len(bl) || al[i] != bl[i] {
			return "line " + itoa(i+1) + ": " + al[i] + " | " + strings.Join(bl[i:min(i+1, len(bl))], "")
		}
	}
	return "(no difference in lines)"
}

func TestParseYAMLErrors(t *testing.T) {
	tests := []struct {
		name, doc, contains string
	}{
		{"empty", "", "empty"},
		{"no format", "rules: []\n", "format"},
		{"unknown field", "format: yardmaster.rules/v1\nrules:\n  - id: a\n    wen: true\n", "field wen not found"},
		{"fixture typo", "format: yardmaster.rules/v1\nrules:\n  - id: a\n    tests:\n      - name: x\n        input: {event: {id: e, statuss: x}}\n", "unknown field \"statuss\""},
		{"two documents", "format: yardmaster.rules/v1\nrules: []\n---\nformat: x\n", "one YAML document"},
		{"bad duration", "format: yardmaster.rules/v1\nrules:\n  - id: a\n    sla: {respond_by: soon}\n", "invalid duration"},
		{"not yaml", "format: [\n", "yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseYAML([]byte(tt.doc))
			if err == nil || !errors.Is(err, ErrFormat) && !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("err = %v", err)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("err %q does not contain %q", err, tt.contains)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	for in, want := range map[string]string{"4h": "4h", "90m": "1h30m", "2d": "2d", "1d12h": "1d12h", "36h": "1d12h", "0": "0", "45s": "45s"} {
		d, err := ParseDuration(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if d.String() != want {
			t.Errorf("%s → %s, want %s", in, d, want)
		}
	}
	for _, bad := range []string{"soon", "-4h", "1x", "d", "99999d"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}
