package rules

import (
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/intake"
)

// FuzzCompileEvaluate compiles random expressions as conditions, severity
// expressions, templates and grouping keys, validates them, and evaluates
// whatever compiles against random events: no panic may escape the engine.
func FuzzCompileEvaluate(f *testing.F) {
	rs, err := Starter()
	if err != nil {
		f.Fatal(err)
	}
	for _, r := range rs.Rules {
		f.Add(r.When, "in_transit", "delayed", 2, int64(3600), "Package damaged")
	}
	for _, s := range []string{
		`len(filter(1..100000, # % 2 == 0)) > 0`, `event.attributes.x.y.z == 1`, `1/0 > 1`, `1 % 0 == 0`,
		`event.estimatedDelivery > now`, `hoursSince(shipment.deliveredAt) > 2`, `businessHoursBetween(event.occurredAt, now, "Pacific/Chatham") > 1`,
		`let x = 1; x`, `"a" matches "("`, `date("x") > now`, `duration("9999999999h") > duration("1s")`,
		`9223372036854775807 + 1 > 0`, `shipment.openExceptions[99].reason == ""`, `event.rawText[0:1000] == ""`,
	} {
		f.Add(s, "delivered", "", 0, int64(0), "")
	}
	f.Fuzz(func(t *testing.T, src, status, reason string, attempts int, offset int64, raw string) {
		_ = ValidateCondition(src, []string{"status:" + status}, map[string][]string{"l": {"a"}})
		r := Rule{ID: "f", Name: "F", Priority: 1, EventTypes: []string{"*"}, When: src, Category: "c", Severity: SeverityLow,
			SeverityExpr: src,
			Actions:      []ActionTemplate{{Type: "post_note", Params: map[string]string{"body": "x {{" + src + "}} y"}}},
			Group:        &Grouping{Keys: []string{src}}}
		_ = ValidateRule(r, nil)
		rs := &Ruleset{Rules: []Rule{r, {ID: "g", Name: "G", Priority: 2, EventTypes: []string{"*"}, When: "true", Category: "d", Severity: SeverityInfo,
			Actions: []ActionTemplate{{Type: "post_note", Params: map[string]string{"body": "{{" + src + "}}"}}}, Group: &Grouping{Keys: []string{src}}}}}
		c, _ := Compile(rs, CompileOptions{Lint: true})
		if c == nil {
			rs.Rules = rs.Rules[1:]
			if c, _ = Compile(rs, CompileOptions{}); c == nil {
				return
			}
		}
		base := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
		at := base.Add(time.Duration(offset))
		in := &Input{
			Event: &intake.Event{ID: "e", Source: "s", Carrier: "ups", Status: intake.Status(status), RawText: raw,
				OccurredAt: at, ReceivedAt: base, Attributes: map[string]any{"x": raw, "n": float64(attempts)}},
			Shipment: &intake.Shipment{ID: "sh", Status: intake.Status(status), Attempts: attempts, FirstSeenAt: at, StatusAt: at,
				OpenExceptions: []intake.OpenException{{Reason: intake.Reason(reason), OpenedAt: at}}},
		}
		if reason != "" {
			in.Event.Exception = &intake.Exception{Reason: intake.Reason(reason)}
		}
		e := NewEvaluator(EvalOptions{Deadline: -1})
		rec, err := e.Evaluate(c, in)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rec.Marshal(); err != nil {
			t.Fatal(err)
		}
		_ = c.RunTests(e)
	})
}

// FuzzParseYAML feeds random documents to the ruleset file parser and
// compiles what parses.
func FuzzParseYAML(f *testing.F) {
	f.Add(StarterYAML())
	f.Add([]byte("format: yardmaster.rules/v1\nrules: []\n"))
	f.Add([]byte("format: yardmaster.rules/v1\nlists: {a: [x]}\nrules:\n  - id: a\n    when: inList(\"a\", event.carrier)\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := ParseYAML(b)
		if err != nil {
			return
		}
		c, _ := Compile(rs, CompileOptions{Lint: true})
		if c != nil {
			_ = c.RunTests(NewEvaluator(EvalOptions{Deadline: -1}))
			if _, err := MarshalYAML(rs); err != nil {
				t.Fatal(err)
			}
		}
	})
}
