package digest

import (
	"context"
	"time"
)

// Severity is a case severity; the order is info < low < medium < high <
// critical (ARCHITECTURE.md §4).
type Severity string

// Severities.
const (
	SeverityInfo     Severity = "info"
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// Severities lists every severity, least severe first.
var Severities = []Severity{SeverityInfo, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// Rank orders severities; an unknown severity ranks below info.
func (s Severity) Rank() int {
	for i, v := range Severities {
		if v == s {
			return i + 1
		}
	}
	return 0
}

// Valid reports whether s is a known severity.
func (s Severity) Valid() bool { return s.Rank() > 0 }

// AtLeast reports whether s is min or more severe.
func (s Severity) AtLeast(min Severity) bool { return s.Rank() >= min.Rank() }

// Customer is an account a digest reports on: in practice an Odoo
// res.partner (ID is its id in decimal).
type Customer struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// SalespersonOdooID is the res.users id of the customer's salesperson,
	// for the Odoo activity channel; 0 when unknown.
	SalespersonOdooID int64 `json:"-"`
}

// Account names a subscriber the way the Odoo mirror can match it.
type Account struct {
	// Emails of the user, or of the team's members.
	Emails []string
	// Team is the team name (matched against Odoo sales team names).
	Team string
}

// Directory tells which customers an account looks after. The Odoo mirror
// implements it (salesperson and sales team of the customers' orders).
type Directory interface {
	// CustomersOf returns the customers linked to the account.
	CustomersOf(ctx context.Context, a Account) ([]Customer, error)
	// Customers resolves ids (names, salesperson); unknown ids are left out.
	Customers(ctx context.Context, ids []string) ([]Customer, error)
}

// CaseQuery asks for the cases of some customers over a period.
type CaseQuery struct {
	Customers   []string
	Since       time.Time // inclusive
	Until       time.Time // exclusive
	MinSeverity Severity
}

// Case is what a digest needs of a triage case: one that is open at Until
// or changed within [Since, Until).
type Case struct {
	ID             string     `json:"id"`
	Ref            string     `json:"ref,omitempty"` // short human reference shown in lists
	Title          string     `json:"title"`
	CustomerID     string     `json:"customer_id"`
	CustomerName   string     `json:"customer_name,omitempty"`
	Severity       Severity   `json:"severity"`
	State          string     `json:"state"` // open | acknowledged | snoozed | resolved | dismissed
	Category       string     `json:"category,omitempty"`
	Carrier        string     `json:"carrier,omitempty"`
	TrackingNumber string     `json:"tracking_number,omitempty"`
	OrderRef       string     `json:"order_ref,omitempty"`
	OpenedAt       time.Time  `json:"opened_at"`
	ResolvedAt     *time.Time `json:"resolved_at,omitempty"`
	// SLA is "ok", "at_risk" or "breached" at Until.
	SLA       string     `json:"sla,omitempty"`
	ResolveBy *time.Time `json:"resolve_by,omitempty"`
	// ETARisk is the probability of missing the promised date, when scored.
	ETARisk *float64 `json:"eta_risk,omitempty"`
	// Changes within [Since, Until), oldest first.
	Changes []Change `json:"changes,omitempty"`
	// Actions taken within [Since, Until) or awaiting approval at Until.
	Actions []Action `json:"actions,omitempty"`
}

// Change kinds a CaseSource reports.
const (
	ChangeOpened       = "opened"
	ChangeEscalated    = "escalated"
	ChangeAcknowledged = "acknowledged"
	ChangeAssigned     = "assigned"
	ChangeSLAAtRisk    = "sla_at_risk"
	ChangeSLABreached  = "sla_breached"
	ChangeResolved     = "resolved"
	ChangeDismissed    = "dismissed"
	ChangeReopened     = "reopened"
	ChangeComment      = "comment"
)

// Change is one thing that happened to a case.
type Change struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Detail string    `json:"detail,omitempty"`
}

// Action states a CaseSource reports.
const (
	ActionProposed  = "proposed"
	ActionApproved  = "approved"
	ActionExecuting = "executing"
	ActionSucceeded = "succeeded"
	ActionFailed    = "failed"
	ActionRejected  = "rejected"
)

// Action is a write-back action on a case.
type Action struct {
	ID      string    `json:"id"`
	Type    string    `json:"type"`
	State   string    `json:"state"`
	Summary string    `json:"summary,omitempty"`
	At      time.Time `json:"at"`
}

// CaseSource reads cases for digests. Triage implements it.
type CaseSource interface {
	CustomerCases(ctx context.Context, q CaseQuery) ([]Case, error)
}

// Escalation kinds.
const (
	EscalationSeverity = "severity"     // the case reached a severity
	EscalationBreach   = "sla_breached" // the case breached its SLA
)

// Escalation is a case that became urgent.
type Escalation struct {
	// Cursor orders escalations; the feed returns those after a cursor.
	// It must sort lexically in feed order (e.g. a ULID or a zero-padded
	// sequence number).
	Cursor       string    `json:"cursor"`
	CaseID       string    `json:"case_id"`
	CaseRef      string    `json:"case_ref,omitempty"`
	Title        string    `json:"title"`
	CustomerID   string    `json:"customer_id"`
	CustomerName string    `json:"customer_name,omitempty"`
	Severity     Severity  `json:"severity"`
	Kind         string    `json:"kind"`
	At           time.Time `json:"at"`
}

// EscalationFeed lists escalations in order. Triage implements it over its
// case history; it offers no push hook, so the digest polls it.
type EscalationFeed interface {
	// EscalationsAfter returns at most limit escalations whose cursor sorts
	// after the given one ("" = from the start), in cursor order.
	EscalationsAfter(ctx context.Context, cursor string, limit int) ([]Escalation, error)
	// StillEscalated returns which of the cases are still open and
	// escalated (for repeat notices).
	StillEscalated(ctx context.Context, caseIDs []string) (map[string]bool, error)
	// CursorAt returns a cursor before every escalation from t on: the
	// first poll starts there, so history older than that is not notified.
	CursorAt(t time.Time) string
}

// FirstPollLookback is how far back the very first escalation poll reads.
const FirstPollLookback = time.Hour

// OdooPoster posts digests into Odoo. internal/app implements it with the
// odoo client. Both methods are idempotent on marker: when a message or
// activity containing it exists, its id is returned and nothing is created.
type OdooPoster interface {
	// PostNote posts an internal note (no e-mail to followers) on the
	// res.partner's chatter.
	PostNote(ctx context.Context, partnerID int64, subject, htmlBody, marker string) (messageID int64, err error)
	// ScheduleActivity creates a mail.activity on the res.partner for the
	// Odoo user userID, due on deadline.
	ScheduleActivity(ctx context.Context, partnerID, userID int64, summary, htmlNote, marker string, deadline time.Time) (activityID int64, err error)
}

// Overview is a short text introducing a digest.
type Overview struct {
	Text        string `json:"text"`
	GeneratedBy string `json:"generated_by"` // "deterministic" or the model that wrote it
	// Highlights point at the cases most worth attention (model-written
	// overviews only).
	Highlights []Highlight `json:"highlights,omitempty"`
}

// Highlight is one case an overview points at.
type Highlight struct {
	CaseID string `json:"case_id"`
	Ref    string `json:"ref,omitempty"`
	URL    string `json:"url,omitempty"`
	Text   string `json:"text"`
}

// Overviewer writes the overview of a digest (an LLM summary, for example).
// When it fails or is absent, the deterministic overview is used.
type Overviewer interface {
	DigestOverview(ctx context.Context, d *Digest) (Overview, error)
}
