package rules

import (
	"strings"
	"testing"
)

// Acceptance 2: validation catches unknown fields (with a suggestion),
// wrong types, non-boolean results, syntax errors with their position,
// disabled functions and expressions over the node limit.
func TestValidateErrors(t *testing.T) {
	long := "shipment.attempts == 1" + strings.Repeat(" || shipment.attempts == 1", 60)
	tests := []struct {
		name     string
		when     string
		code     string
		line     int
		column   int
		contains string
	}{
		{"unknown field with suggestion", `event.statuss == "in_transit"`, "unknown_field", 1, 7, "did you mean event.status?"},
		{"unknown field on another object", "event.status == \"x\" &&\n  event.attempts > 2", "unknown_field", 2, 9, "did you mean shipment.attempts?"},
		{"unknown field, camel case", `event.tracking_number == "x"`, "unknown_field", 1, 7, "event.trackingNumber"},
		{"field without its object", `status == "in_transit"`, "unknown_name", 1, 1, "event.status or shipment.status"},
		{"unknown name", `foo == 1`, "unknown_name", 1, 1, "unknown name \"foo\""},
		{"wrong type", `event.status == 3`, "type_mismatch", 1, 14, "between text and number"},
		{"wrong function argument", `hoursSince("yesterday") > 3`, "type_mismatch", 1, 12, "hoursSince needs time here, not text"},
		{"non-boolean", `shipment.attempts + 1`, "not_boolean", 1, 1, "must be true or false, but this expression gives number"},
		{"non-boolean any", `event.attributes.flag`, "not_boolean", 1, 1, "compare the value explicitly"},
		{"syntax error at the end", `event.status == "x" &&`, "syntax", 1, 22, "ends too early"},
		{"syntax error inside", `event.status == == "x"`, "syntax", 1, 17, "syntax error"},
		{"disabled builtin", `toJSON(event) == "{}"`, "disabled_function", 1, 1, "toJSON() is disabled"},
		{"disabled predicate builtin", `len(map(shipment.openReasons, # + "x")) > 0`, "disabled_function", 1, 5, "map() is disabled"},
		{"disabled method", `now.Local().Hour() > 3`, "disabled_function", 1, 5, "Local() is not allowed"},
		{"now with arguments", `now(1) > event.occurredAt`, "invalid_argument", 1, 1, "now() takes no arguments"},
		{"node limit", long, "too_large", 1, 0, "too large (more than 300 parts)"},
		{"source limit", strings.Repeat(" ", MaxSourceBytes) + "true", "too_long", 1, 1, "limit is 4096"},
		{"empty", "  ", "syntax", 1, 1, "empty"},
		{"helper arity", `hoursSince(event.occurredAt, now) > 2`, "invalid_argument", 1, 1, "hoursSince takes 1 argument(s), got 2"},
		{"unknown list", `inList("vips", customer.name)`, "unknown_name", 1, 8, "unknown reference list \"vips\" — did you mean vip?"},
		{"unknown zone", `localHour(now, "Mars/Base") > 2`, "invalid_argument", 1, 16, "unknown time zone"},
		{"day duration", `now - event.occurredAt > duration("2d")`, "invalid_argument", 1, 35, "a day is \"24h\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ValidateCondition(tt.when, nil, map[string][]string{"vip": {"Acme"}})
			if res.OK || len(res.Errors) == 0 {
				t.Fatalf("want an error, got ok (warnings %v)", res.Warnings)
			}
			e := res.Errors[0]
			if e.Code != tt.code {
				t.Errorf("code = %s, want %s (%s)", e.Code, tt.code, e.Message)
			}
			if e.Line != tt.line || (tt.column > 0 && e.Column != tt.column) {
				t.Errorf("position = %d:%d, want %d:%d (%s)", e.Line, e.Column, tt.line, tt.column, e.Message)
			}
			if !strings.Contains(e.Message, tt.contains) {
				t.Errorf("message %q does not contain %q", e.Message, tt.contains)
			}
		})
	}
}

func TestValidateWarnings(t *testing.T) {
	tests := []struct {
		name       string
		when       string
		eventTypes []string
		code       string
		contains   string
	}{
		{"float division", `shipment.dwellHours / shipment.attempts > 2`, nil, "float_division", "+Inf"},
		{"division by literal zero", `shipment.dwellHours / 0 > 2`, nil, "float_division", "division by zero"},
		{"nil trap comparison", `event.estimatedDelivery > now`, nil, "nil_trap", "event.estimatedDelivery can be nil"},
		{"nil trap function", `hoursSince(shipment.lastPhysicalScanAt) > 3`, nil, "nil_trap", "passing it to hoursSince"},
		{"nil trap optional chaining", `event.attributes?.level > 3`, nil, "nil_trap", "can be nil"},
		{"nil trap attribute", `event.attributes.weight > 3`, nil, "nil_trap", "event.attributes.weight can be nil"},
		{"never nil", `event.status != nil`, nil, "never_nil", "always true"},
		{"float equality", `shipment.hoursLate == 24.5`, nil, "float_equality", "fragile"},
		{"constant condition", `1 < 2`, nil, "constant_condition", "always true"},
		{"date without zone", `event.occurredAt > date("2026-01-01")`, nil, "unanchored_time", "read as UTC"},
		{"guard outside event types", `event.status == "delivered" && shipment.attempts > 0`, []string{"status:in_transit"}, "event_types", "can never match"},
		{"guard with wildcard", `event.reason in ["lost", "damaged"]`, []string{"*"}, "event_types", "reason:damaged, reason:lost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ValidateCondition(tt.when, tt.eventTypes, nil)
			if !res.OK {
				t.Fatalf("unexpected errors: %v", res.Errors)
			}
			for _, w := range res.Warnings {
				if w.Code == tt.code && strings.Contains(w.Message, tt.contains) {
					if w.Line < 1 || w.Column < 1 {
						t.Errorf("warning without position: %+v", w)
					}
					return
				}
			}
			t.Errorf("no %s warning containing %q in %v", tt.code, tt.contains, res.Warnings)
		})
	}
}

// Guarded expressions lint clean.
func TestValidateClean(t *testing.T) {
	for _, when := range []string{
		`event.estimatedDelivery != nil && event.estimatedDelivery > now`,
		`(event.estimatedDelivery ?? now) >= now`,
		`shipment.attempts > 0 && shipment.dwellHours / shipment.attempts > 2`,
		`shipment.dwellHours / 2 > 3`,
		`event.occurredAt > date("2026-01-01T00:00:00Z")`,
		`event.occurredAt > date("2026-01-01 08:00", "2006-01-02 15:04", "Europe/Berlin")`,
		`any(shipment.openExceptions, .category == "customs" && .hoursOpen > 48)`,
		`now() - event.occurredAt > duration("36h")`,
		`businessDaysSince(shipment.statusAt, "Europe/Berlin") >= 5`,
		`containsAny(event.rawText, "damaged", "broken")`,
		`let late = shipment.hoursLate; late > 24 && late < 48`,
	} {
		res := ValidateCondition(when, nil, nil)
		if !res.OK || len(res.Warnings) > 0 {
			t.Errorf("%s: errors %v warnings %v", when, res.Errors, res.Warnings)
		}
	}
}

func TestValidateEventTypes(t *testing.T) {
	tests := []struct {
		keys     []string
		ok       bool
		contains string
	}{
		{[]string{"status:in_transit", "reason:customs_hold", "source:yardmaster"}, true, ""},
		{[]string{"in_transit"}, false, "did you mean status:in_transit?"},
		{[]string{"statu:in_transit"}, false, "did you mean status?"},
		{[]string{"status:in_transt"}, false, "did you mean status:in_transit?"},
		{[]string{"reason:customs_hld"}, true, "not a canonical reason"},
		{[]string{"source:"}, false, "value is empty"},
	}
	for _, tt := range tests {
		res := ValidateCondition("true", tt.keys, nil)
		if res.OK != tt.ok {
			t.Errorf("%v: ok = %v, want %v (%v)", tt.keys, res.OK, tt.ok, res.Errors)
		}
		if tt.contains != "" {
			found := false
			for _, d := range append(res.Errors, res.Warnings...) {
				found = found || strings.Contains(d.Message, tt.contains)
			}
			if !found {
				t.Errorf("%v: no diagnostic contains %q: %v %v", tt.keys, tt.contains, res.Errors, res.Warnings)
			}
		}
	}
}

// Rule-level validation reports each field.
func TestValidateRule(t *testing.T) {
	r := Rule{
		ID: "Bad-ID", Name: "", Kind: "classify", Priority: 0, EventTypes: []string{"*"}, When: "true",
		Category: "", Severity: "urgent", SeverityExpr: `shipment.attempts`, SLA: SLA{RespondBy: Duration(8 * 3600e9), ResolveBy: Duration(3600e9)},
		Actions: []ActionTemplate{{Type: "send_email", Params: map[string]string{"body": "Hello {{ event.trackingNumbr }}", "x": "{{ oops"}}},
		Group:   &Grouping{MinCount: 3},
		Tests:   []TestCase{{Name: "t"}},
	}
	res := ValidateRule(r, nil)
	want := map[string]string{
		"id": "invalid", "name": "required", "priority": "invalid", "category": "invalid", "severity": "invalid",
		"severity_expr": "type_mismatch", "sla.resolve_by": "invalid", "actions[0].type": "invalid",
		"actions[0].params.body": "unknown_field", "actions[0].params.x": "syntax", "group.window": "required",
		"tests[0].input.event": "required", "tests[0].expect.match": "required",
	}
	got := map[string]string{}
	for _, e := range res.Errors {
		got[e.Field] = e.Code
	}
	for f, code := range want {
		if got[f] != code {
			t.Errorf("field %s: code %q, want %q", f, got[f], code)
		}
	}
	for _, e := range res.Errors {
		if e.Field == "actions[0].params.body" && e.Column != 16 {
			t.Errorf("template error column = %d, want 16 (%s)", e.Column, e.Message)
		}
	}
}
