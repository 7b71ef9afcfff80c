package rules

import (
	"encoding/json"
	"time"
)

// Record is the evaluation record of one event: enough to explain "why is
// this an exception?" and to replay the evaluation. For the same input and
// the same ruleset hash, Marshal gives the same bytes on every machine and
// database, today or a year from now: it holds no wall-clock time and no
// map iteration order (EvaluatedAt is the evaluation time of the input).
type Record struct {
	EventID        string    `json:"event_id"`
	ShipmentID     string    `json:"shipment_id,omitempty"`
	RulesetVersion int64     `json:"ruleset_version"`
	RulesetHash    string    `json:"ruleset_hash"`
	Engine         string    `json:"engine"`
	EvaluatedAt    time.Time `json:"evaluated_at"`
	// Candidates is the number of rules the index selected for the event.
	Candidates int `json:"candidates"`
	// Outcome is the primary classification; nil means unclassified.
	Outcome *Outcome `json:"outcome"`
	// Matches are the active rules that matched, in priority order,
	// suppress rules included.
	Matches []Match `json:"matches"`
	// Suppressed lists the categories suppress rules removed.
	Suppressed []Suppression `json:"suppressed"`
	// Shadow are the shadow rules that matched; they changed nothing.
	Shadow []Match `json:"shadow"`
	// Errors are rules (or their outputs) that failed at run time; a rule
	// whose condition fails counts as not matching.
	Errors []RuleError `json:"errors"`
	// DeadlineExceeded is set when the per-event deadline stopped the
	// evaluation; Skipped lists the rules not evaluated.
	DeadlineExceeded bool     `json:"deadline_exceeded,omitempty"`
	Skipped          []string `json:"skipped,omitempty"`
	// Context is the Odoo context the event was evaluated with, for the
	// stage that runs next in the same batch. It is stored in a column of
	// its own, not in the record.
	Context *EvalContext `json:"-"`
}

// Match is one rule that matched.
type Match struct {
	RuleID      string   `json:"rule_id"`
	RuleVersion int      `json:"rule_version"`
	Priority    int      `json:"priority"`
	Kind        Kind     `json:"kind"`
	Category    string   `json:"category,omitempty"`
	Severity    Severity `json:"severity,omitempty"`
	// Suppressed is set on classify matches whose category a suppress
	// rule removed.
	Suppressed bool `json:"suppressed,omitempty"`
}

// Suppression is one category removed from the event's classification.
type Suppression struct {
	Category string `json:"category"`
	// Rules are the classify rules whose match was dropped.
	Rules []string `json:"rules"`
	// By are the suppress rules that matched and name the category.
	By []string `json:"by"`
}

// RuleError is a rule that failed at run time.
type RuleError struct {
	RuleID      string `json:"rule_id"`
	RuleVersion int    `json:"rule_version"`
	Field       string `json:"field"`
	Line        int    `json:"line"`
	Column      int    `json:"column"`
	Message     string `json:"message"`
}

// Outcome is the primary classification and what triage should do with it.
type Outcome struct {
	RuleID      string   `json:"rule_id"`
	RuleVersion int      `json:"rule_version"`
	Category    string   `json:"category"`
	Severity    Severity `json:"severity"`
	Queue       string   `json:"queue,omitempty"`
	Team        string   `json:"team,omitempty"`
	SLA         SLA      `json:"sla,omitzero"`
	// Tags are collected from every active, not suppressed match.
	Tags    []string `json:"tags"`
	Actions []Action `json:"actions"`
	// Group is set when the rule defines grouping; nil means the default
	// fingerprint (shipment and category) with no minimum count.
	Group *GroupOutcome `json:"group,omitempty"`
}

// Action is a suggested action with its parameters rendered.
type Action struct {
	Type   string            `json:"type"`
	Params map[string]string `json:"params"`
}

// GroupOutcome is the rule's grouping evaluated for this event.
type GroupOutcome struct {
	// Keys are the grouping key values, in the rule's key order.
	Keys     []string `json:"keys"`
	MinCount int      `json:"min_count"`
	Window   Duration `json:"window"`
}

// Category is the primary category, or "" when unclassified.
func (r *Record) Category() string {
	if r.Outcome == nil {
		return ""
	}
	return r.Outcome.Category
}

// PrimaryRule is the primary rule id, or "" when unclassified.
func (r *Record) PrimaryRule() string {
	if r.Outcome == nil {
		return ""
	}
	return r.Outcome.RuleID
}

// Marshal returns the canonical JSON bytes of the record.
func (r *Record) Marshal() ([]byte, error) {
	r.fillEmpty()
	return json.Marshal(r)
}

// fillEmpty replaces nil slices with empty ones so records marshal the
// same whether they were built or decoded.
func (r *Record) fillEmpty() {
	if r.Matches == nil {
		r.Matches = []Match{}
	}
	if r.Suppressed == nil {
		r.Suppressed = []Suppression{}
	}
	if r.Shadow == nil {
		r.Shadow = []Match{}
	}
	if r.Errors == nil {
		r.Errors = []RuleError{}
	}
	if o := r.Outcome; o != nil {
		if o.Tags == nil {
			o.Tags = []string{}
		}
		if o.Actions == nil {
			o.Actions = []Action{}
		}
	}
}
