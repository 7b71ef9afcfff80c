package triage

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"

	"github.com/invopop/jsonschema"
	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/rules"
)

// State is where a case is in its lifecycle.
type State string

// Case states. Snoozed is a state of its own so the queue can leave it out
// with one index range; a woken case returns to open.
const (
	StateOpen         State = "open"
	StateAcknowledged State = "acknowledged"
	StateSnoozed      State = "snoozed"
	StateResolved     State = "resolved"
	StateDismissed    State = "dismissed"
)

// States lists every state in lifecycle order.
var States = []State{StateOpen, StateAcknowledged, StateSnoozed, StateResolved, StateDismissed}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	for _, v := range States {
		if v == s {
			return true
		}
	}
	return false
}

// Closed reports whether the case is resolved or dismissed.
func (s State) Closed() bool { return s == StateResolved || s == StateDismissed }

// Buckets group states for the indexes: the working queue, snoozed cases
// and closed ones.
const (
	BucketQueue   = "queue"
	BucketSnoozed = "snoozed"
	BucketClosed  = "closed"
)

func bucketOf(s State) string {
	switch s {
	case StateSnoozed:
		return BucketSnoozed
	case StateResolved, StateDismissed:
		return BucketClosed
	default:
		return BucketQueue
	}
}

// Case kinds.
const (
	KindShipment   = "shipment"   // one shipment and one category (the default fingerprint)
	KindGroup      = "group"      // a rule's own grouping keys; may span shipments
	KindDisruption = "disruption" // parent of many cases of one carrier/lane/reason
)

// SLA states. A case's state is the worst of its running clocks.
const (
	SLANone     = "none"
	SLAOK       = "ok"
	SLAAtRisk   = "at_risk"
	SLABreached = "breached"
	SLAMet      = "met"
)

// SLAStates lists the SLA states for filters.
var SLAStates = []string{SLANone, SLAOK, SLAAtRisk, SLABreached, SLAMet}

// Close reasons: why a case was resolved or dismissed.
var CloseReasons = map[State][]string{
	StateResolved:  {"fixed", "delivered", "customer_contacted", "carrier_resolved", "action_taken", "other", "parent_resolved"},
	StateDismissed: {"false_positive", "duplicate", "not_actionable", "expected", "other"},
}

// Case is one triage case. It is both the stored row and the API shape.
type Case struct {
	bun.BaseModel `bun:"table:triage_cases" json:"-"`

	ID          string         `bun:"id,pk" json:"id"`
	Kind        string         `bun:"kind" json:"kind"`
	Fingerprint string         `bun:"fingerprint" json:"fingerprint"`
	State       State          `bun:"state" json:"state"`
	Bucket      string         `bun:"bucket" json:"-"`
	Title       string         `bun:"title" json:"title"`
	Category    string         `bun:"category" json:"category"`
	Reason      string         `bun:"reason" json:"reason,omitempty"`
	Severity    rules.Severity `bun:"severity" json:"severity"`
	// InitialSeverity is the severity the case opened with; Severity may
	// have been escalated since.
	InitialSeverity rules.Severity `bun:"initial_severity" json:"initial_severity"`
	Queue           string         `bun:"queue" json:"queue,omitempty"`
	Team            string         `bun:"team" json:"team,omitempty"`
	AssigneeID      string         `bun:"assignee_id" json:"assignee_id,omitempty"`
	AssigneeName    string         `bun:"assignee_name" json:"assignee_name,omitempty"`
	ShipmentID      string         `bun:"shipment_id" json:"shipment_id,omitempty"`
	Carrier         string         `bun:"carrier" json:"carrier,omitempty"`
	TrackingNumber  string         `bun:"tracking_number" json:"tracking_number,omitempty"`
	OrderRef        string         `bun:"order_ref" json:"order_ref,omitempty"`
	PickingRef      string         `bun:"picking_ref" json:"picking_ref,omitempty"`
	CustomerID      string         `bun:"customer_id" json:"customer_id,omitempty"`
	CustomerName    string         `bun:"customer_name" json:"customer_name,omitempty"`
	CustomerTier    string         `bun:"customer_tier" json:"customer_tier,omitempty"`
	SalesTeam       string         `bun:"sales_team" json:"sales_team,omitempty"`
	Salesperson     string         `bun:"salesperson" json:"salesperson,omitempty"`
	OrderValue      float64        `bun:"order_value" json:"order_value,omitempty"`
	Currency        string         `bun:"currency" json:"currency,omitempty"`
	// Lane is "<origin>><destination>" (ISO countries), "" when unknown.
	Lane           string    `bun:"lane" json:"lane,omitempty"`
	RuleID         string    `bun:"rule_id" json:"rule_id,omitempty"`
	RuleVersion    int       `bun:"rule_version" json:"rule_version,omitempty"`
	RulesetVersion int64     `bun:"ruleset_version" json:"ruleset_version,omitempty"`
	Tags           StringSet `bun:"tags,type:text" json:"tags"`
	// AutoResolve says whether a delivered scan resolves the case.
	AutoResolve bool   `bun:"auto_resolve" json:"auto_resolve"`
	ParentID    string `bun:"parent_id" json:"parent_id,omitempty"`
	ChildCount  int    `bun:"child_count" json:"child_count,omitempty"`
	EventCount  int    `bun:"event_count" json:"event_count"`

	FirstEventAt        *time.Time `bun:"first_event_at" json:"first_event_at,omitempty"`
	LastEventAt         *time.Time `bun:"last_event_at" json:"last_event_at,omitempty"`
	LastEventID         string     `bun:"last_event_id" json:"last_event_id,omitempty"`
	OpenedAt            time.Time  `bun:"opened_at" json:"opened_at"`
	AcknowledgedAt      *time.Time `bun:"acknowledged_at" json:"acknowledged_at,omitempty"`
	FirstAcknowledgedAt *time.Time `bun:"first_acknowledged_at" json:"first_acknowledged_at,omitempty"`
	ClosedAt            *time.Time `bun:"closed_at" json:"closed_at,omitempty"`
	CloseReason         string     `bun:"close_reason" json:"close_reason,omitempty"`
	CloseNote           string     `bun:"close_note" json:"close_note,omitempty"`
	ReopenCount         int        `bun:"reopen_count" json:"reopen_count"`
	SnoozedUntil        *time.Time `bun:"snoozed_until" json:"snoozed_until,omitempty"`
	SnoozeUntilEvent    bool       `bun:"snooze_until_event" json:"snooze_until_event,omitempty"`
	SnoozedAt           *time.Time `bun:"snoozed_at" json:"snoozed_at,omitempty"`

	// SLAStartedAt is when the clocks started: the opening, or the last
	// reopening.
	SLAStartedAt      *time.Time `bun:"sla_started_at" json:"sla_started_at,omitempty"`
	RespondBy         *time.Time `bun:"respond_by" json:"respond_by,omitempty"`
	ResolveBy         *time.Time `bun:"resolve_by" json:"resolve_by,omitempty"`
	DueAt             *time.Time `bun:"due_at" json:"due_at,omitempty"`
	SLAState          string     `bun:"sla_state" json:"sla_state"`
	SLANextCheckAt    *time.Time `bun:"sla_next_check_at" json:"-"`
	RespondBreachedAt *time.Time `bun:"respond_breached_at" json:"respond_breached_at,omitempty"`
	ResolveBreachedAt *time.Time `bun:"resolve_breached_at" json:"resolve_breached_at,omitempty"`
	BusinessHours     bool       `bun:"business_hours" json:"business_hours"`
	EscalationLevel   int        `bun:"escalation_level" json:"escalation_level"`

	Priority           int          `bun:"priority" json:"priority"`
	PriorityComponents PriorityInfo `bun:"priority_components,type:text" json:"priority_components"`
	ETARisk            *float64     `bun:"eta_risk" json:"eta_risk,omitempty"`
	ETADetail          string       `bun:"eta_detail" json:"eta_detail,omitempty"`
	// Source says what opened the case: rules, anomaly (disruptions) or a
	// person.
	Source    string    `bun:"source" json:"source"`
	Detail    string    `bun:"detail" json:"detail,omitempty"`
	Version   int       `bun:"version" json:"version"`
	CreatedAt time.Time `bun:"created_at" json:"created_at"`
	UpdatedAt time.Time `bun:"updated_at" json:"updated_at"`
}

// clone returns a copy whose mutable parts are not shared.
func (c *Case) clone() *Case {
	n := *c
	n.Tags = append(StringSet(nil), c.Tags...)
	n.PriorityComponents.Components = append([]PriorityComponent(nil), c.PriorityComponents.Components...)
	return &n
}

// Live reports whether the case still needs work (not closed).
func (c *Case) Live() bool { return !c.State.Closed() }

// StringSet is a list of strings stored as JSON in a TEXT column; it is
// never null in JSON.
type StringSet []string

// MarshalJSON writes [] for an empty set.
func (s StringSet) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]string(s))
}

// Value stores the set as JSON text.
func (s StringSet) Value() (driver.Value, error) {
	b, err := s.MarshalJSON()
	return string(b), err
}

// Scan reads JSON text.
func (s *StringSet) Scan(src any) error { return scanJSON(src, (*[]string)(s)) }

// RawJSON is a JSON document stored as TEXT ("" when empty).
type RawJSON []byte

// MarshalJSON writes the document, or null when empty.
func (r RawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

// UnmarshalJSON keeps the document as it is.
func (r *RawJSON) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*r = nil
		return nil
	}
	*r = append((*r)[:0], b...)
	return nil
}

// Value stores the document as text.
func (r RawJSON) Value() (driver.Value, error) { return string(r), nil }

// JSONSchema documents RawJSON as any JSON value (not base64 bytes) in the
// OpenAPI document.
func (RawJSON) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Description: "a JSON document"}
}

// Scan reads text.
func (r *RawJSON) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*r = nil
	case string:
		*r = RawJSON(v)
	case []byte:
		*r = append(RawJSON(nil), v...)
	default:
		return fmt.Errorf("triage: cannot scan %T into JSON", src)
	}
	if len(*r) == 0 {
		*r = nil
	}
	return nil
}

func scanJSON(src any, dst any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("triage: cannot scan %T as JSON", src)
	}
	if len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, dst)
}

func rawJSON(v any) RawJSON {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// TimelineEntry is one line of a case's history as people read it: an
// event, an evaluation, a state change, a comment, an action step.
type TimelineEntry struct {
	bun.BaseModel `bun:"table:triage_timeline" json:"-"`

	ID        string    `bun:"id,pk" json:"id"`
	CaseID    string    `bun:"case_id" json:"case_id"`
	At        time.Time `bun:"at" json:"at"`
	Kind      string    `bun:"kind" json:"kind"`
	EventID   string    `bun:"event_id" json:"event_id,omitempty"`
	ActorType string    `bun:"actor_type" json:"actor_type,omitempty"`
	ActorID   string    `bun:"actor_id" json:"actor_id,omitempty"`
	ActorName string    `bun:"actor_name" json:"actor_name,omitempty"`
	Summary   string    `bun:"summary" json:"summary"`
	Data      RawJSON   `bun:"data,type:text" json:"data,omitempty"`
}

// Timeline kinds.
const (
	TLEvent      = "event"      // a shipment event that matched the case
	TLEvaluation = "evaluation" // the rule evaluation of that event
	TLState      = "state"      // lifecycle change (acknowledged, snoozed, resolved, ...)
	TLAssignment = "assignment"
	TLEscalation = "escalation" // severity or team escalated
	TLSLA        = "sla"        // at risk, breached
	TLComment    = "comment"
	TLAction     = "action"
	TLDisruption = "disruption"
	TLETA        = "eta"
)

// Comment is a person's note on a case. Mentions are user ids named with
// @username in the body.
type Comment struct {
	bun.BaseModel `bun:"table:triage_comments" json:"-"`

	ID         string    `bun:"id,pk" json:"id"`
	CaseID     string    `bun:"case_id" json:"case_id"`
	AuthorType string    `bun:"author_type" json:"author_type"`
	AuthorID   string    `bun:"author_id" json:"author_id"`
	AuthorName string    `bun:"author_name" json:"author_name,omitempty"`
	Body       string    `bun:"body" json:"body"`
	Mentions   StringSet `bun:"mentions,type:text" json:"mentions"`
	CreatedAt  time.Time `bun:"created_at" json:"created_at"`
}

// caseShipment links a case to a shipment (snooze-until-event, delivered
// auto-resolve, and the shipment's cases).
type caseShipment struct {
	bun.BaseModel `bun:"table:triage_case_shipments"`
	ShipmentID    string `bun:"shipment_id,pk"`
	CaseID        string `bun:"case_id,pk"`
}

type caseTerm struct {
	bun.BaseModel `bun:"table:triage_case_terms"`
	Term          string `bun:"term,pk"`
	CaseID        string `bun:"case_id,pk"`
}

type candidate struct {
	bun.BaseModel `bun:"table:triage_candidates"`
	Fingerprint   string    `bun:"fingerprint,pk"`
	EventID       string    `bun:"event_id,pk"`
	ShipmentID    string    `bun:"shipment_id"`
	At            time.Time `bun:"at"`
}

type accountCustomer struct {
	bun.BaseModel `bun:"table:triage_account_customers"`
	UserID        string    `bun:"user_id,pk"`
	CustomerID    string    `bun:"customer_id,pk"`
	CreatedAt     time.Time `bun:"created_at"`
}
