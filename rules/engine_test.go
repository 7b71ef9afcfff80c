package rules

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/yardmaster/yardmaster/intake"
)

func semanticsRuleset() *Ruleset {
	return &Ruleset{
		Lists: map[string][]string{"watched_carriers": {"ups", "dhl_express"}},
		Rules: []Rule{
			{ID: "quiet_ups", Name: "Quiet UPS", Priority: 30, EventTypes: []string{"status:in_transit"}, Kind: KindClassify,
				When: `inList("watched_carriers", event.carrier) && shipment.dwellHours < 2`, Category: "watch", Severity: SeverityLow,
				Tags: []string{"watch", "ups"}},
			{ID: "mute_watch", Name: "Mute watch", Priority: 10, EventTypes: []string{"source:aftership"}, Kind: KindSuppress,
				When: `event.attributes.mute == true`, Suppresses: []string{"watch"}, Tags: []string{"muted"}},
			{ID: "any_transit", Name: "Any transit", Priority: 40, EventTypes: []string{"*"}, Kind: KindClassify,
				When: `event.status == "in_transit"`, Category: "transit", Severity: SeverityInfo,
				SeverityExpr: `shipment.eventCount > 2 ? "medium" : "info"`, Queue: "ops", Team: "north",
				SLA: SLA{RespondBy: Duration(4 * time.Hour), ResolveBy: Duration(48 * time.Hour)}, Tags: []string{"transit"},
				Actions: []ActionTemplate{{Type: "post_note", Params: map[string]string{
					"body":  "{{ event.trackingNumber }} at {{ event.occurredAt }}; dwell {{ shipment.dwellHours }} h; late {{ shipment.late }}",
					"plain": "fixed text",
				}}},
				Group: &Grouping{Keys: []string{"event.carrier", "shipment.id"}, MinCount: 2, Window: Duration(6 * time.Hour)}},
			{ID: "broken", Name: "Broken", Priority: 20, EventTypes: []string{"carrier:ups"}, Kind: KindClassify,
				When: `event.estimatedDelivery > now`, Category: "broken", Severity: SeverityHigh},
			{ID: "shadow_new", Name: "Shadow", Priority: 5, EventTypes: []string{"*"}, Kind: KindClassify, Mode: ModeShadow,
				When: `true`, Category: "shadowed", Severity: SeverityCritical},
			{ID: "off", Name: "Off", Priority: 1, EventTypes: []string{"*"}, Kind: KindClassify, Mode: ModeDisabled,
				When: `true`, Category: "off", Severity: SeverityCritical},
			{ID: "never", Name: "Never", Priority: 50, EventTypes: []string{"status:delivered"}, Kind: KindClassify,
				When: `true`, Category: "never", Severity: SeverityCritical},
		},
	}
}

// The semantics of ARCHITECTURE.md §4: candidates by index in priority
// order, every match recorded, suppression by category, first remaining
// classify match primary, tags from all remaining matches, an erroring rule
// counted as no match and recorded, shadow rules changing nothing.
func TestEvaluateSemantics(t *testing.T) {
	c := mustCompile(t, semanticsRuleset())
	e := NewEvaluator(EvalOptions{Deadline: -1})

	in := baseInput()
	rec, err := e.Evaluate(c, in)
	if err != nil {
		t.Fatal(err)
	}
	// Candidates: shadow_new(*), broken(carrier:ups), mute_watch(source:aftership), quiet_ups(status), any_transit(*).
	if rec.Candidates != 5 {
		t.Errorf("candidates = %d, want 5", rec.Candidates)
	}
	gotIDs := func(ms []Match) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.RuleID)
		}
		return out
	}
	if d := cmp.Diff([]string{"quiet_ups", "any_transit"}, gotIDs(rec.Matches)); d != "" {
		t.Errorf("matches (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"shadow_new"}, gotIDs(rec.Shadow)); d != "" {
		t.Errorf("shadow (-want +got):\n%s", d)
	}
	if len(rec.Errors) != 1 || rec.Errors[0].RuleID != "broken" || rec.Errors[0].Field != "when" || rec.Errors[0].Column != 25 {
		t.Errorf("errors = %+v, want broken's nil comparison at 1:25", rec.Errors)
	}
	if rec.Outcome == nil || rec.Outcome.RuleID != "quiet_ups" || rec.Outcome.Category != "watch" {
		t.Fatalf("outcome = %+v, want quiet_ups/watch", rec.Outcome)
	}
	if d := cmp.Diff([]string{"transit", "ups", "watch"}, rec.Outcome.Tags); d != "" {
		t.Errorf("tags (-want +got):\n%s", d)
	}

	// The suppress rule removes "watch": any_transit becomes primary with
	// its evaluated severity, SLA, queue, rendered actions and group keys.
	in.Event.Attributes = map[string]any{"mute": true}
	rec, err = e.Evaluate(c, in)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"mute_watch", "quiet_ups", "any_transit"}, gotIDs(rec.Matches)); d != "" {
		t.Errorf("matches (-want +got):\n%s", d)
	}
	if !rec.Matches[1].Suppressed || rec.Matches[2].Suppressed {
		t.Errorf("suppressed flags wrong: %+v", rec.Matches)
	}
	wantSup := []Suppression{{Category: "watch", Rules: []string{"quiet_ups"}, By: []string{"mute_watch"}}}
	if d := cmp.Diff(wantSup, rec.Suppressed); d != "" {
		t.Errorf("suppressed (-want +got):\n%s", d)
	}
	o := rec.Outcome
	want := &Outcome{
		RuleID: "any_transit", Category: "transit", Severity: SeverityMedium, Queue: "ops", Team: "north",
		SLA:  SLA{RespondBy: Duration(4 * time.Hour), ResolveBy: Duration(48 * time.Hour)},
		Tags: []string{"muted", "transit"},
		Actions: []Action{{Type: "post_note", Params: map[string]string{
			"body":  "1Z1 at 2026-03-04T10:00:00Z; dwell 1 h; late false",
			"plain": "fixed text",
		}}},
		Group: &GroupOutcome{Keys: []string{"ups", "sh1"}, MinCount: 2, Window: Duration(6 * time.Hour)},
	}
	if d := cmp.Diff(want, o); d != "" {
		t.Errorf("outcome (-want +got):\n%s", d)
	}

	// An event no active rule matches is unclassified.
	in2 := baseInput()
	in2.Event.Status = intake.StatusPending
	in2.Event.Carrier = "fedex"
	rec, err = e.Evaluate(c, in2)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != nil || rec.Category() != "" {
		t.Errorf("outcome = %+v, want unclassified", rec.Outcome)
	}
	if len(rec.Matches) != 0 || len(rec.Shadow) != 1 {
		t.Errorf("pending: matches %v shadow %v, want none and shadow_new", rec.Matches, rec.Shadow)
	}
}

// The index returns exactly the rules a brute-force scan of event_types
// would, in priority order.
func TestIndexMatchesBruteForce(t *testing.T) {
	rs := syntheticRuleset(400, 7)
	c := mustCompile(t, rs)
	e := NewEvaluator(EvalOptions{Deadline: -1})
	for i, in := range syntheticInputs(300, 11) {
		if err := e.env.Fill(in); err != nil {
			t.Fatal(err)
		}
		got := append([]int32(nil), e.candidates(c)...)
		var want []int32
		for _, cr := range c.rules {
			if cr.selects(&e.env.Event) {
				want = append(want, cr.pos)
			}
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("input %d: candidates differ (-brute +index):\n%s", i, d)
		}
	}
}

// A severity expression that yields something else falls back to the
// fixed severity and records why.
func TestSeverityExprFallback(t *testing.T) {
	rs := &Ruleset{Rules: []Rule{{ID: "r", Name: "R", Priority: 1, EventTypes: []string{"*"}, When: "true",
		Category: "c", Severity: SeverityHigh, SeverityExpr: `event.carrier`}}}
	rec, err := NewEvaluator(EvalOptions{}).Evaluate(mustCompile(t, rs), baseInput())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome.Severity != SeverityHigh || len(rec.Errors) != 1 || !strings.Contains(rec.Errors[0].Message, `gave "ups"`) {
		t.Errorf("severity %s, errors %+v", rec.Outcome.Severity, rec.Errors)
	}
}

// The deadline is checked between rules with the injected clock; the
// record says which rules were skipped.
func TestDeadline(t *testing.T) {
	var rules []Rule
	for i := 1; i <= 40; i++ {
		rules = append(rules, Rule{ID: "r" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + "_" + itoa(i), Name: "R", Priority: i,
			EventTypes: []string{"*"}, When: "false", Category: "c", Severity: SeverityLow})
	}
	c := mustCompile(t, &Ruleset{Rules: rules})
	now := time.Unix(0, 0)
	clock := func() time.Time { now = now.Add(time.Millisecond); return now }
	rec, err := NewEvaluator(EvalOptions{Deadline: 10 * time.Millisecond, Clock: clock}).Evaluate(c, baseInput())
	if err != nil {
		t.Fatal(err)
	}
	// The clock advances 1 ms per reading; readings happen before rules
	// 8, 16, ...: at rule 16 the elapsed time is 2 ms, ..., at rule 88 it
	// would be 11 ms. With 40 rules the deadline is never reached.
	if rec.DeadlineExceeded {
		t.Fatalf("deadline exceeded too early: skipped %v", rec.Skipped)
	}
	clock = func() time.Time { now = now.Add(4 * time.Millisecond); return now }
	rec, err = NewEvaluator(EvalOptions{Deadline: 10 * time.Millisecond, Clock: clock}).Evaluate(c, baseInput())
	if err != nil {
		t.Fatal(err)
	}
	// Readings: start, before 8 (4 ms), 16 (8 ms), 24 (12 ms): stop at 24.
	if !rec.DeadlineExceeded || len(rec.Skipped) != 16 {
		t.Fatalf("deadline: exceeded=%v skipped=%d, want true and 16", rec.DeadlineExceeded, len(rec.Skipped))
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestEvaluateNeedsEvent(t *testing.T) {
	c := mustCompile(t, semanticsRuleset())
	if _, err := NewEvaluator(EvalOptions{}).Evaluate(c, &Input{}); err == nil {
		t.Error("want an error for an input without event")
	}
	in := baseInput()
	in.Event.ReceivedAt = time.Time{}
	if _, err := NewEvaluator(EvalOptions{}).Evaluate(c, in); err == nil {
		t.Error("want an error for an input without evaluation time")
	}
}

// Memory budget: an expression allocating too much fails alone.
func TestMemoryBudget(t *testing.T) {
	rs := &Ruleset{Rules: []Rule{
		{ID: "hog", Name: "Hog", Priority: 1, EventTypes: []string{"*"}, When: `len(filter(1..100000, # % 2 == 0)) > 0`, Category: "hog", Severity: SeverityLow},
		{ID: "ok", Name: "Ok", Priority: 2, EventTypes: []string{"*"}, When: `true`, Category: "ok", Severity: SeverityLow},
	}}
	rec, err := NewEvaluator(EvalOptions{}).Evaluate(mustCompile(t, rs), baseInput())
	if err != nil {
		t.Fatal(err)
	}
	if rec.PrimaryRule() != "ok" || len(rec.Errors) != 1 || !strings.Contains(rec.Errors[0].Message, "memory budget exceeded") {
		t.Errorf("primary %s errors %+v", rec.PrimaryRule(), rec.Errors)
	}
}
