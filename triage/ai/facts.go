package ai

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/apperr"
)

// Case kinds the summarizer distinguishes: one shipment, or a disruption that
// groups many shipments behind one root cause.
const (
	KindShipment   = "shipment"
	KindDisruption = "disruption"
)

// Limits on what one summary may be built from. Larger inputs are trimmed
// (oldest events, oldest notes first), never rejected: a long-running case
// still gets a summary of its recent history.
const (
	MaxTimelineEvents = 40
	MaxNotes          = 10
	MaxMatchedRules   = 10
	MaxOrderLines     = 10
	maxFieldRunes     = 400
	maxNoteRunes      = 600
)

// Facts is everything a summary may say. Triage fills it from the case, the
// shipment's canonical timeline, the rule evaluation record and the Odoo
// mirror; the summarizer never reads storage itself, so the same Facts always
// give the same prompt and the same deterministic summary.
type Facts struct {
	Case       CaseFacts
	Shipment   *intake.Shipment // folded shipment state; nil for disruption cases
	Timeline   []intake.Event   // canonical events of the shipment, any order
	Evaluation Evaluation
	Odoo       *OdooContext // nil when the shipment is not linked to Odoo
	Notes      []Note       // human notes on the case, any order
	// Language of the customer message draft (Odoo partner lang such as
	// "de_DE", or a BCP 47 tag). Empty: English.
	Language string
}

// CaseFacts identifies the case and its current triage state.
type CaseFacts struct {
	ID       string
	Kind     string // KindShipment or KindDisruption
	Title    string
	Severity string
	Status   string
	Priority int
	OpenedAt time.Time
	SLADueAt *time.Time
	// Carrier and TrackingNumber describe the case when Shipment is nil.
	Carrier        string
	TrackingNumber string
	// AffectedShipments counts the shipments grouped under a disruption case.
	AffectedShipments int
}

// Evaluation is the rule evaluation record that opened or last changed the case.
type Evaluation struct {
	PrimaryRule    RuleRef
	MatchedRules   []RuleRef
	Categories     []string
	Severity       string
	RulesetVersion string
}

// RuleRef names one matched rule and why it matched.
type RuleRef struct {
	ID          string
	Name        string
	Severity    string
	Category    string
	Explanation string
}

// OdooContext is the order side of the case, read from the Odoo mirror.
type OdooContext struct {
	OrderRef       string
	PickingRef     string
	OrderState     string
	CommitmentDate *time.Time // what was promised to the customer
	ScheduledDate  *time.Time // the picking's scheduled date
	Customer       Contact
	Salesperson    Contact
	// Contacts are further people on the order (delivery address, invoice
	// contact, warehouse responsible). Their personal data is redacted too.
	Contacts    []Contact
	AmountTotal float64
	Currency    string
	Lines       []OrderLine
	Warehouse   string
}

// Contact is a person or company from Odoo. Every personal field here is
// known to the redactor, so it is replaced wherever it appears in the prompt.
type Contact struct {
	Role      string // "customer", "salesperson", "delivery", ...
	Name      string
	IsCompany bool
	Email     string
	Phone     string
	Mobile    string
	Street    string
	Street2   string
	Zip       string
	City      string
	Country   string
}

// OrderLine is one product line of the order.
type OrderLine struct {
	Product  string
	Quantity float64
	UoM      string
}

// Note is a human note on the case. Its author is a person, so redacted.
type Note struct {
	Author string
	Body   string
	At     time.Time
}

// Validate reports facts a summary cannot be built from. It does not check
// the optional parts beyond what the prompt relies on.
func (f Facts) Validate() error {
	var fe []apperr.FieldError
	if strings.TrimSpace(f.Case.ID) == "" {
		fe = append(fe, apperr.FieldError{Field: "case.id", Message: "required"})
	}
	switch f.Case.Kind {
	case KindShipment, KindDisruption:
	default:
		fe = append(fe, apperr.FieldError{Field: "case.kind", Message: fmt.Sprintf("must be %q or %q", KindShipment, KindDisruption)})
	}
	if f.Case.OpenedAt.IsZero() {
		fe = append(fe, apperr.FieldError{Field: "case.opened_at", Message: "required"})
	}
	for i, e := range f.Timeline {
		if e.OccurredAt.IsZero() {
			fe = append(fe, apperr.FieldError{Field: fmt.Sprintf("timeline[%d].occurred_at", i), Message: "required"})
		}
		if e.ID == "" {
			fe = append(fe, apperr.FieldError{Field: fmt.Sprintf("timeline[%d].id", i), Message: "required"})
		}
	}
	if len(fe) > 0 {
		return apperr.Invalid("case facts are incomplete", fe...)
	}
	return nil
}

// carrier is the carrier the case is about.
func (f Facts) carrier() string {
	if f.Shipment != nil && f.Shipment.Carrier != "" {
		return f.Shipment.Carrier
	}
	return f.Case.Carrier
}

// trackingNumber is the tracking number the case is about.
func (f Facts) trackingNumber() string {
	if f.Shipment != nil && f.Shipment.TrackingNumber != "" {
		return f.Shipment.TrackingNumber
	}
	return f.Case.TrackingNumber
}

// timeline returns the most recent MaxTimelineEvents events, oldest first,
// ordered by occurrence and then id so equal facts give equal prompts.
func (f Facts) timeline() []intake.Event {
	ev := append([]intake.Event(nil), f.Timeline...)
	sort.SliceStable(ev, func(i, j int) bool {
		if !ev[i].OccurredAt.Equal(ev[j].OccurredAt) {
			return ev[i].OccurredAt.Before(ev[j].OccurredAt)
		}
		return ev[i].ID < ev[j].ID
	})
	if len(ev) > MaxTimelineEvents {
		ev = ev[len(ev)-MaxTimelineEvents:]
	}
	return ev
}

// notes returns the most recent MaxNotes notes, oldest first.
func (f Facts) notes() []Note {
	n := append([]Note(nil), f.Notes...)
	sort.SliceStable(n, func(i, j int) bool { return n[i].At.Before(n[j].At) })
	if len(n) > MaxNotes {
		n = n[len(n)-MaxNotes:]
	}
	return n
}

// openExceptions lists the shipment's open exceptions, oldest first.
func (f Facts) openExceptions() []intake.OpenException {
	if f.Shipment == nil {
		return nil
	}
	ex := append([]intake.OpenException(nil), f.Shipment.OpenExceptions...)
	sort.SliceStable(ex, func(i, j int) bool { return ex[i].OpenedAt.Before(ex[j].OpenedAt) })
	return ex
}

// contacts lists every known person or company of the facts, for redaction.
func (f Facts) contacts() []Contact {
	if f.Odoo == nil {
		return nil
	}
	out := []Contact{f.Odoo.Customer, f.Odoo.Salesperson}
	return append(out, f.Odoo.Contacts...)
}

// truncate cuts s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
