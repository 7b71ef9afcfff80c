package rules

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/yardmaster/yardmaster/intake"
)

// Kind says what a rule does when it matches.
type Kind string

// Rule kinds.
const (
	// KindClassify rules propose a classification (category, severity,
	// SLA, queue, actions). The first remaining match in priority order is
	// the primary classification.
	KindClassify Kind = "classify"
	// KindSuppress rules remove the categories they name from the
	// classify matches of the same event.
	KindSuppress Kind = "suppress"
)

// Mode says whether a rule affects outcomes.
type Mode string

// Rule modes.
const (
	ModeActive   Mode = "active"
	ModeShadow   Mode = "shadow"   // evaluated and counted, changes nothing
	ModeDisabled Mode = "disabled" // not evaluated
)

// Severity of a classification (case severity).
type Severity string

// Severities, most severe first.
const (
	SeverityCritical Severity = "critical"
	SeverityHigh     Severity = "high"
	SeverityMedium   Severity = "medium"
	SeverityLow      Severity = "low"
	SeverityInfo     Severity = "info"
)

// Severities lists the severities, most severe first.
var Severities = []Severity{SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow, SeverityInfo}

// Rank orders severities: critical 5 ... info 1; 0 when invalid.
func (s Severity) Rank() int {
	for i, v := range Severities {
		if v == s {
			return len(Severities) - i
		}
	}
	return 0
}

// ActionTypes are the Odoo write-back actions a rule may suggest (the
// triage package executes them after a human approves).
var ActionTypes = []string{"reschedule_picking", "post_note", "schedule_activity", "create_ticket"}

// IndexDimensions are the event properties a rule's event_types may name,
// as "<dimension>:<value>", or "*" for every event.
var IndexDimensions = []string{"status", "reason", "source", "activity", "carrier"}

// SLA is how soon a case from this rule must be responded to and resolved.
type SLA struct {
	RespondBy Duration `json:"respond_by,omitempty" yaml:"respond_by,omitempty"`
	ResolveBy Duration `json:"resolve_by,omitempty" yaml:"resolve_by,omitempty"`
}

// ActionTemplate is a suggested action. Parameter values are templates:
// text with {{ expression }} placeholders evaluated against the Env.
type ActionTemplate struct {
	Type   string            `json:"type" yaml:"type"`
	Params map[string]string `json:"params,omitempty" yaml:"params,omitempty"`
}

// Grouping says how cases from this rule are grouped: Keys are expressions
// whose values form the fingerprint (default: shipment and category), and a
// case opens only once MinCount matching events fall within Window.
type Grouping struct {
	Keys     []string `json:"keys,omitempty" yaml:"keys,omitempty"`
	MinCount int      `json:"min_count,omitempty" yaml:"min_count,omitempty"`
	Window   Duration `json:"window,omitempty" yaml:"window,omitempty"`
}

// Rule is one classification or suppression rule.
type Rule struct {
	ID          string   `json:"id" yaml:"id"`
	Version     int      `json:"version,omitempty" yaml:"-"`
	Name        string   `json:"name" yaml:"name"`
	Description string   `json:"description,omitempty" yaml:"description,omitempty"`
	Owner       string   `json:"owner,omitempty" yaml:"owner,omitempty"`
	Kind        Kind     `json:"kind" yaml:"kind"`
	Mode        Mode     `json:"mode" yaml:"mode"`
	Priority    int      `json:"priority" yaml:"priority"`
	EventTypes  []string `json:"event_types" yaml:"event_types,flow"`
	When        string   `json:"when" yaml:"when"`
	// Classify outputs.
	Category     string           `json:"category,omitempty" yaml:"category,omitempty"`
	Severity     Severity         `json:"severity,omitempty" yaml:"severity,omitempty"`
	SeverityExpr string           `json:"severity_expr,omitempty" yaml:"severity_expr,omitempty"`
	Queue        string           `json:"queue,omitempty" yaml:"queue,omitempty"`
	Team         string           `json:"team,omitempty" yaml:"team,omitempty"`
	SLA          SLA              `json:"sla,omitzero" yaml:"sla,omitempty"`
	Actions      []ActionTemplate `json:"actions,omitempty" yaml:"actions,omitempty"`
	Group        *Grouping        `json:"group,omitempty" yaml:"group,omitempty"`
	// Suppress output: categories removed from the event's classify
	// matches ("*" for all).
	Suppresses []string   `json:"suppresses,omitempty" yaml:"suppresses,flow,omitempty"`
	Tags       []string   `json:"tags,omitempty" yaml:"tags,flow,omitempty"`
	Tests      []TestCase `json:"tests,omitempty" yaml:"tests,omitempty"`
}

var (
	reID       = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	reCategory = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)
	reTag      = regexp.MustCompile(`^[a-z0-9][a-z0-9_:.-]{0,63}$`)
	reListName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	reKeyValue = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,99}$`)
)

// reservedIDs are words used as paths next to /api/v1/rules/{id}.
var reservedIDs = map[string]bool{"env": true, "export": true, "import": true, "lists": true, "validate": true,
	"test": true, "try": true, "evaluations": true, "order": true, "history": true, "hits": true}

// Limits on rules and rulesets.
const (
	MaxPriority      = 1_000_000
	MaxRules         = 5000
	MaxBucket        = 1000
	MaxListValues    = 100_000
	MaxActions       = 10
	MaxGroupKeys     = 5
	MaxTestsPerRule  = 50
	MaxTextField     = 200
	MaxDescription   = 4000
	MaxWindow        = 30 * 24 * 60 * 60
	MaxTemplateBytes = 4096
)

// Normalize fills defaults (kind classify, mode active), trims text and
// sorts and deduplicates list fields, so equal rules hash equally.
func (r *Rule) Normalize() {
	r.ID = strings.TrimSpace(r.ID)
	r.Name = strings.TrimSpace(r.Name)
	r.Owner = strings.TrimSpace(r.Owner)
	r.Queue = strings.TrimSpace(r.Queue)
	r.Team = strings.TrimSpace(r.Team)
	r.Category = strings.TrimSpace(r.Category)
	r.When = strings.TrimSpace(r.When)
	r.SeverityExpr = strings.TrimSpace(r.SeverityExpr)
	if r.Kind == "" {
		r.Kind = KindClassify
	}
	if r.Mode == "" {
		r.Mode = ModeActive
	}
	for i, t := range r.EventTypes {
		r.EventTypes[i] = strings.TrimSpace(t)
	}
	r.EventTypes = sortedUnique(r.EventTypes)
	for _, t := range r.EventTypes {
		if t == "*" {
			r.EventTypes = []string{"*"}
			break
		}
	}
	r.Tags = sortedUnique(r.Tags)
	r.Suppresses = sortedUnique(r.Suppresses)
	if len(r.Actions) == 0 {
		r.Actions = nil
	}
	if len(r.Tests) == 0 {
		r.Tests = nil
	}
	if r.Group != nil {
		for i, k := range r.Group.Keys {
			r.Group.Keys[i] = strings.TrimSpace(k)
		}
	}
}

// IsActive reports whether the rule changes outcomes.
func (r *Rule) IsActive() bool { return r.Mode == ModeActive }

// diags collects diagnostics for one rule.
type diags struct {
	errors, warnings []Diagnostic
}

func (d *diags) errorf(field, code, format string, args ...any) {
	d.errors = append(d.errors, Diagnostic{Field: field, Line: 1, Column: 1, Code: code, Message: fmt.Sprintf(format, args...)})
}

func (d *diags) warnf(field, code, format string, args ...any) {
	d.warnings = append(d.warnings, Diagnostic{Field: field, Line: 1, Column: 1, Code: code, Message: fmt.Sprintf(format, args...)})
}

func (d *diags) addExpr(field string, c compiledExpr) {
	for _, e := range c.errors {
		e.Field = field
		d.errors = append(d.errors, e)
	}
	for _, w := range c.warnings {
		w.Field = field
		d.warnings = append(d.warnings, w)
	}
}

func checkText(d *diags, field, v string, max int, required bool) {
	switch {
	case required && v == "":
		d.errorf(field, "required", "%s is required", field)
	case utf8.RuneCountInString(v) > max:
		d.errorf(field, "too_long", "%s is longer than %d characters", field, max)
	case !utf8.ValidString(v):
		d.errorf(field, "invalid", "%s is not valid UTF-8 text", field)
	}
}

// checkEventTypes validates index keys.
func checkEventTypes(d *diags, keys []string) {
	if len(keys) == 0 {
		d.errorf("event_types", "required", "event_types is required: list index keys such as status:in_transit, reason:customs_hold, source:yardmaster, or \"*\" for every event")
		return
	}
	for _, k := range keys {
		if k == "*" {
			continue
		}
		dim, val, ok := strings.Cut(k, ":")
		if !ok {
			hint := ""
			if _, isStatus := statusRank[statusOf(k)]; isStatus {
				hint = fmt.Sprintf(" — did you mean status:%s?", k)
			} else if _, isReason := reasonCategory[k]; isReason {
				hint = fmt.Sprintf(" — did you mean reason:%s?", k)
			}
			d.errorf("event_types", "invalid", "event type %q must be \"<dimension>:<value>\" with dimension one of %s%s", k, strings.Join(IndexDimensions, ", "), hint)
			continue
		}
		if !containsString(IndexDimensions, dim) {
			d.errorf("event_types", "invalid", "event type %q: unknown dimension %q (use %s)%s", k, dim, strings.Join(IndexDimensions, ", "), didYouMean(dim, IndexDimensions, ""))
			continue
		}
		if !reKeyValue.MatchString(val) {
			d.errorf("event_types", "invalid", "event type %q: the value is empty or has characters other than letters, digits and _ . : / -", k)
			continue
		}
		switch dim {
		case "status":
			if _, ok := statusRank[statusOf(val)]; !ok {
				d.errorf("event_types", "invalid", "event type %q: unknown status%s", k, didYouMean(val, Statuses(), "status:"))
			}
		case "reason":
			if _, ok := reasonCategory[val]; !ok {
				d.warnf("event_types", "event_types", "event type %q: %q is not a canonical reason%s", k, val, didYouMean(val, Reasons(), "reason:"))
			}
		}
	}
}

func containsString(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// validate checks one rule against a compile profile and returns its
// compiled programs when it has no errors.
func (r *Rule) validate(p *profile, lint bool) (*compiledRule, diags) {
	var d diags
	if !reID.MatchString(r.ID) {
		d.errorf("id", "invalid", "id %q must start with a lowercase letter and use only a-z, 0-9 and _ (at most 64)", r.ID)
	} else if reservedIDs[r.ID] {
		d.errorf("id", "invalid", "id %q is reserved (it names an API path); choose another", r.ID)
	}
	checkText(&d, "name", r.Name, MaxTextField, true)
	checkText(&d, "description", r.Description, MaxDescription, false)
	checkText(&d, "owner", r.Owner, MaxTextField, false)
	checkText(&d, "queue", r.Queue, MaxTextField, false)
	checkText(&d, "team", r.Team, MaxTextField, false)
	if r.Kind != KindClassify && r.Kind != KindSuppress {
		d.errorf("kind", "invalid", "kind %q must be classify or suppress", r.Kind)
	}
	if r.Mode != ModeActive && r.Mode != ModeShadow && r.Mode != ModeDisabled {
		d.errorf("mode", "invalid", "mode %q must be active, shadow or disabled", r.Mode)
	}
	if r.Priority < 1 || r.Priority > MaxPriority {
		d.errorf("priority", "invalid", "priority %d must be between 1 and %d (lower runs first)", r.Priority, MaxPriority)
	}
	checkEventTypes(&d, r.EventTypes)
	for _, t := range r.Tags {
		if !reTag.MatchString(t) {
			d.errorf("tags", "invalid", "tag %q must use only a-z, 0-9 and _ : . - (at most 64)", t)
		}
	}

	cr := &compiledRule{}
	when := p.compile(r.When, kindBool, lint)
	d.addExpr("when", when)
	cr.when = when.program
	if lint && when.program != nil {
		d.warnings = append(d.warnings, guardWarnings(r)...)
	}

	switch r.Kind {
	case KindClassify:
		if !reCategory.MatchString(r.Category) {
			d.errorf("category", "invalid", "category %q is required for classify rules and must use only a-z, 0-9 and _ . - (at most 64)", r.Category)
		}
		if r.Severity.Rank() == 0 {
			d.errorf("severity", "invalid", "severity %q must be one of critical, high, medium, low, info (it is also the fallback when severity_expr fails)", r.Severity)
		}
		if r.SeverityExpr != "" {
			c := p.compile(r.SeverityExpr, kindString, lint)
			d.addExpr("severity_expr", c)
			cr.severity = c.program
		}
		if len(r.Suppresses) > 0 {
			d.errorf("suppresses", "invalid", "suppresses is only for suppress rules")
		}
		if r.SLA.RespondBy < 0 || r.SLA.ResolveBy < 0 {
			d.errorf("sla", "invalid", "SLA durations cannot be negative")
		}
		if r.SLA.RespondBy > 0 && r.SLA.ResolveBy > 0 && r.SLA.ResolveBy < r.SLA.RespondBy {
			d.errorf("sla.resolve_by", "invalid", "resolve_by (%s) is shorter than respond_by (%s)", r.SLA.ResolveBy, r.SLA.RespondBy)
		}
		if len(r.Actions) > MaxActions {
			d.errorf("actions", "invalid", "at most %d suggested actions", MaxActions)
		}
		for i, a := range r.Actions {
			field := fmt.Sprintf("actions[%d]", i)
			if !containsString(ActionTypes, a.Type) {
				d.errorf(field+".type", "invalid", "action type %q must be one of %s%s", a.Type, strings.Join(ActionTypes, ", "), didYouMean(a.Type, ActionTypes, ""))
			}
			ca := compiledAction{typ: a.Type}
			names := make([]string, 0, len(a.Params))
			for k := range a.Params {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				pf := field + ".params." + k
				if !reListName.MatchString(k) {
					d.errorf(pf, "invalid", "parameter name %q must use only a-z, 0-9 and _", k)
				}
				t, errs, warns := compileTemplate(p, a.Params[k], lint)
				for _, e := range errs {
					e.Field = pf
					d.errors = append(d.errors, e)
				}
				for _, w := range warns {
					w.Field = pf
					d.warnings = append(d.warnings, w)
				}
				ca.params = append(ca.params, namedTemplate{name: k, tmpl: t})
			}
			cr.actions = append(cr.actions, ca)
		}
		if g := r.Group; g != nil {
			if len(g.Keys) > MaxGroupKeys {
				d.errorf("group.keys", "invalid", "at most %d grouping keys", MaxGroupKeys)
			}
			for i, k := range g.Keys {
				c := p.compile(k, kindAny, lint)
				d.addExpr(fmt.Sprintf("group.keys[%d]", i), c)
				cr.groupKeys = append(cr.groupKeys, c.program)
			}
			if g.MinCount < 0 || g.MinCount > 10000 {
				d.errorf("group.min_count", "invalid", "min_count must be between 1 and 10000")
			}
			if g.MinCount > 1 && g.Window <= 0 {
				d.errorf("group.window", "required", "a window is required when min_count is more than 1 (e.g. 6h)")
			}
			if g.Window < 0 || g.Window.D().Seconds() > MaxWindow {
				d.errorf("group.window", "invalid", "window must be between 0 and 30d")
			}
		}
	case KindSuppress:
		if len(r.Suppresses) == 0 {
			d.errorf("suppresses", "required", "a suppress rule must name the categories it suppresses (or \"*\" for all)")
		}
		for _, c := range r.Suppresses {
			if c != "*" && !reCategory.MatchString(c) {
				d.errorf("suppresses", "invalid", "category %q must use only a-z, 0-9 and _ . -", c)
			}
		}
		if r.Category != "" || r.Severity != "" || r.SeverityExpr != "" || len(r.Actions) > 0 || r.Group != nil || r.SLA != (SLA{}) || r.Queue != "" || r.Team != "" {
			d.errorf("kind", "invalid", "suppress rules have no category, severity, SLA, queue, team, actions or grouping")
		}
	}
	if len(r.Tests) > MaxTestsPerRule {
		d.errorf("tests", "invalid", "at most %d test cases per rule", MaxTestsPerRule)
	}
	for i := range r.Tests {
		r.Tests[i].check(&d, fmt.Sprintf("tests[%d]", i))
	}
	if len(d.errors) > 0 {
		return nil, d
	}
	cr.rule = r
	cr.suppress = map[string]bool{}
	for _, c := range r.Suppresses {
		if c == "*" {
			cr.suppressAll = true
		}
		cr.suppress[c] = true
	}
	return cr, d
}

func statusOf(s string) intake.Status { return intake.Status(s) }
