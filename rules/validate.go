package rules

// ValidateResult is the answer of POST /api/v1/rules/validate.
type ValidateResult struct {
	OK       bool         `json:"ok"`
	Errors   []Diagnostic `json:"errors"`
	Warnings []Diagnostic `json:"warnings"`
}

// ValidateCondition compiles and lints a rule condition (it must be
// boolean). eventTypes, when given, are checked against the condition's
// guards; lists are the reference lists inList may name.
func ValidateCondition(when string, eventTypes []string, lists map[string][]string) ValidateResult {
	p := newProfile(lists)
	c := p.compile(when, kindBool, true)
	res := ValidateResult{Errors: c.errors, Warnings: c.warnings}
	if len(eventTypes) > 0 {
		var d diags
		r := &Rule{When: when, EventTypes: eventTypes}
		r.Normalize()
		checkEventTypes(&d, r.EventTypes)
		res.Errors = append(res.Errors, d.errors...)
		res.Warnings = append(res.Warnings, d.warnings...)
		if c.program != nil {
			res.Warnings = append(res.Warnings, guardWarnings(r)...)
		}
	}
	if res.Errors == nil {
		res.Errors = []Diagnostic{}
	}
	if res.Warnings == nil {
		res.Warnings = []Diagnostic{}
	}
	res.OK = len(res.Errors) == 0
	return res
}

// ValidateRule validates one rule in the context of reference lists and
// returns its errors and warnings (test cases are checked for shape, not
// run).
func ValidateRule(r Rule, lists map[string][]string) ValidateResult {
	r = r.Clone()
	r.Normalize()
	_, d := r.validate(newProfile(lists), true)
	res := ValidateResult{Errors: d.errors, Warnings: d.warnings}
	if res.Errors == nil {
		res.Errors = []Diagnostic{}
	}
	if res.Warnings == nil {
		res.Warnings = []Diagnostic{}
	}
	res.OK = len(res.Errors) == 0
	return res
}
