package ai

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// PromptVersion changes whenever the prompt's wording or layout changes, so
// cached answers to an older prompt are not served.
const PromptVersion = "p1"

// Prompt is the redacted request for one case: the messages sent to the
// model, the event references it may cite, and the redactor that restores
// the answer.
type Prompt struct {
	System   string
	User     string
	Refs     map[string]string // "E3" → canonical event id
	Language string            // language code of the customer message
	Today    time.Time         // the day "today" in the prompt (UTC midnight)
	HasOrder bool              // an Odoo order is linked, so Odoo actions are possible
	redactor *Redactor
}

// Key is the cache key of the prompt for model: a hash of everything that
// determines the answer. It contains no personal data, because the prompt
// does not.
func (p *Prompt) Key(model string) string {
	h := sha256.New()
	for _, s := range []string{model, SchemaName, PromptVersion, p.System, p.User} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// BuildPrompt redacts the facts and lays them out for the model. now gives
// "today"; the result depends only on the facts and the day, so the same
// case on the same day hits the cache.
func BuildPrompt(f Facts, now time.Time) (*Prompt, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	r := NewRedactor(f)
	today := now.UTC().Truncate(24 * time.Hour)
	lang := languageCode(f.Language)
	doc := promptDoc{Today: today.Format(time.DateOnly), CustomerLanguage: languageName(lang)}
	doc.Case = promptCase{
		Kind: f.Case.Kind, Title: r.Redact(truncate(f.Case.Title, maxFieldRunes)), Severity: f.Case.Severity,
		Status: f.Case.Status, Priority: f.Case.Priority, OpenedAt: stamp(&f.Case.OpenedAt), SLADueAt: stamp(f.Case.SLADueAt),
		AffectedShipments: f.Case.AffectedShipments,
	}
	if sh := f.Shipment; sh != nil || f.carrier() != "" {
		ps := &promptShipment{Carrier: f.carrier()}
		if f.trackingNumber() != "" {
			ps.TrackingNumber = phTracking
		}
		if sh != nil {
			ps.Status = string(sh.Status)
			ps.StatusAt = stamp(&sh.StatusAt)
			ps.Origin, ps.Destination = sh.OriginCountry, sh.DestinationCountry
			ps.PickedUpAt = stamp(sh.PickedUpAt)
			ps.PromisedDelivery = stamp(sh.PromisedDelivery)
			ps.EstimatedDelivery = stamp(sh.EstimatedDelivery)
			ps.EstimateChanges = len(sh.EDDHistory)
			ps.Attempts = sh.Attempts
			ps.LastEventAt = stamp(&sh.LastEventAt)
			ps.LastPhysicalScanAt = stamp(sh.LastPhysicalScanAt)
			for _, x := range f.openExceptions() {
				ps.OpenExceptions = append(ps.OpenExceptions, promptException{Reason: string(x.Reason), Severity: string(x.Severity), OpenedAt: stamp(&x.OpenedAt)})
			}
		}
		doc.Shipment = ps
	}
	refs := map[string]string{}
	for i, e := range f.timeline() {
		ref := fmt.Sprintf("E%d", i+1)
		refs[ref] = e.ID
		pe := promptEvent{
			Ref: ref, At: stamp(&e.OccurredAt), Status: string(e.Status), Activity: r.Redact(truncate(e.Activity, 120)),
			Text: r.Redact(truncate(e.RawText, maxFieldRunes)), Synthetic: e.Synthetic, Source: e.Source,
		}
		if !e.TZKnown {
			pe.At += " (carrier local time)"
		}
		if e.Exception != nil {
			pe.Reason = string(e.Exception.Reason)
		}
		if e.Location != nil {
			// The postal code is left out: with a name it narrows down an
			// address, and city and country are enough to reason about.
			pe.Location = r.Redact(strings.Join(nonEmpty(e.Location.City, e.Location.Country), ", "))
		}
		if e.EstimatedDelivery != nil {
			pe.EstimatedDelivery = stamp(e.EstimatedDelivery)
		}
		doc.Timeline = append(doc.Timeline, pe)
	}
	ev := f.Evaluation
	doc.Evaluation = promptEvaluation{Severity: ev.Severity, Categories: ev.Categories}
	if ev.PrimaryRule.Name != "" || ev.PrimaryRule.ID != "" {
		pr := promptRule(r, ev.PrimaryRule)
		doc.Evaluation.PrimaryRule = &pr
	}
	for i, m := range ev.MatchedRules {
		if i == MaxMatchedRules {
			break
		}
		doc.Evaluation.MatchedRules = append(doc.Evaluation.MatchedRules, promptRule(r, m))
	}
	if o := f.Odoo; o != nil {
		po := &promptOrder{
			OrderRef: o.OrderRef, PickingRef: o.PickingRef, State: o.OrderState,
			PromisedToCustomer: stamp(o.CommitmentDate), PickingScheduled: stamp(o.ScheduledDate),
			CustomerCountry: o.Customer.Country, Warehouse: r.Redact(o.Warehouse),
		}
		if o.Customer.Name != "" {
			po.Customer = phCustomer
			if o.Customer.IsCompany {
				po.Customer += " (company)"
			}
		}
		if o.Salesperson.Name != "" {
			po.Salesperson = phSalesperson
		}
		if o.AmountTotal > 0 {
			po.Amount = strings.TrimSpace(fmt.Sprintf("%.2f %s", o.AmountTotal, o.Currency))
		}
		for i, l := range o.Lines {
			if i == MaxOrderLines {
				break
			}
			po.Lines = append(po.Lines, promptLine{Product: r.Redact(truncate(l.Product, 120)), Quantity: strings.TrimSpace(fmt.Sprintf("%g %s", l.Quantity, l.UoM))})
		}
		doc.Order = po
	}
	for _, n := range f.notes() {
		doc.Notes = append(doc.Notes, promptNote{At: stamp(&n.At), Author: r.Redact(n.Author), Text: r.Redact(truncate(n.Body, maxNoteRunes))})
	}
	body, err := json.MarshalIndent(doc, "", " ")
	if err != nil {
		return nil, fmt.Errorf("encode prompt facts: %w", err)
	}
	return &Prompt{
		System:   systemPrompt(),
		User:     "Case facts (JSON):\n" + string(body),
		Refs:     refs,
		Language: lang,
		Today:    today,
		HasOrder: f.Odoo != nil && (f.Odoo.OrderRef != "" || f.Odoo.PickingRef != ""),
		redactor: r,
	}, nil
}

func promptRule(r *Redactor, m RuleRef) promptRuleDoc {
	return promptRuleDoc{Name: r.Redact(truncate(m.Name, 120)), Severity: m.Severity, Category: m.Category, Explanation: r.Redact(truncate(m.Explanation, 240))}
}

// stamp formats a time for the prompt: UTC to the minute.
func stamp(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

type promptDoc struct {
	Today            string           `json:"today"`
	CustomerLanguage string           `json:"customer_message_language"`
	Case             promptCase       `json:"case"`
	Shipment         *promptShipment  `json:"shipment,omitempty"`
	Timeline         []promptEvent    `json:"timeline"`
	Evaluation       promptEvaluation `json:"rule_evaluation"`
	Order            *promptOrder     `json:"order,omitempty"`
	Notes            []promptNote     `json:"notes,omitempty"`
}

type promptCase struct {
	Kind              string `json:"kind"`
	Title             string `json:"title,omitempty"`
	Severity          string `json:"severity,omitempty"`
	Status            string `json:"status,omitempty"`
	Priority          int    `json:"priority,omitempty"`
	OpenedAt          string `json:"opened_at"`
	SLADueAt          string `json:"sla_due_at,omitempty"`
	AffectedShipments int    `json:"affected_shipments,omitempty"`
}

type promptShipment struct {
	Carrier            string            `json:"carrier,omitempty"`
	TrackingNumber     string            `json:"tracking_number,omitempty"`
	Status             string            `json:"status,omitempty"`
	StatusAt           string            `json:"status_since,omitempty"`
	Origin             string            `json:"origin_country,omitempty"`
	Destination        string            `json:"destination_country,omitempty"`
	PickedUpAt         string            `json:"picked_up_at,omitempty"`
	PromisedDelivery   string            `json:"promised_delivery,omitempty"`
	EstimatedDelivery  string            `json:"carrier_estimated_delivery,omitempty"`
	EstimateChanges    int               `json:"estimate_changes,omitempty"`
	Attempts           int               `json:"delivery_attempts,omitempty"`
	LastEventAt        string            `json:"last_event_at,omitempty"`
	LastPhysicalScanAt string            `json:"last_physical_scan_at,omitempty"`
	OpenExceptions     []promptException `json:"open_exceptions,omitempty"`
}

type promptException struct {
	Reason   string `json:"reason"`
	Severity string `json:"severity,omitempty"`
	OpenedAt string `json:"opened_at"`
}

type promptEvent struct {
	Ref               string `json:"ref"`
	At                string `json:"at"`
	Status            string `json:"status,omitempty"`
	Reason            string `json:"reason,omitempty"`
	Activity          string `json:"activity,omitempty"`
	Location          string `json:"location,omitempty"`
	Text              string `json:"carrier_text,omitempty"`
	EstimatedDelivery string `json:"estimated_delivery,omitempty"`
	Source            string `json:"source,omitempty"`
	Synthetic         bool   `json:"synthetic,omitempty"`
}

type promptEvaluation struct {
	PrimaryRule  *promptRuleDoc  `json:"primary_rule,omitempty"`
	MatchedRules []promptRuleDoc `json:"matched_rules,omitempty"`
	Categories   []string        `json:"categories,omitempty"`
	Severity     string          `json:"severity,omitempty"`
}

type promptRuleDoc struct {
	Name        string `json:"name"`
	Severity    string `json:"severity,omitempty"`
	Category    string `json:"category,omitempty"`
	Explanation string `json:"explanation,omitempty"`
}

type promptOrder struct {
	OrderRef           string       `json:"order_ref,omitempty"`
	PickingRef         string       `json:"picking_ref,omitempty"`
	State              string       `json:"state,omitempty"`
	PromisedToCustomer string       `json:"promised_to_customer,omitempty"`
	PickingScheduled   string       `json:"picking_scheduled_date,omitempty"`
	Customer           string       `json:"customer,omitempty"`
	CustomerCountry    string       `json:"customer_country,omitempty"`
	Salesperson        string       `json:"salesperson,omitempty"`
	Amount             string       `json:"amount,omitempty"`
	Lines              []promptLine `json:"lines,omitempty"`
	Warehouse          string       `json:"warehouse,omitempty"`
}

type promptLine struct {
	Product  string `json:"product"`
	Quantity string `json:"quantity"`
}

type promptNote struct {
	At     string `json:"at"`
	Author string `json:"author,omitempty"`
	Text   string `json:"text"`
}

// systemPrompt states the task, the vocabulary and the rules. It is fixed
// text (no facts), so it never carries personal data.
func systemPrompt() string {
	var b strings.Builder
	b.WriteString(`You assist the logistics exception desk of a company that ships orders managed in Odoo.
You receive the facts of one case as JSON and answer with one JSON object that matches the given schema.

Rules:
- Use only the facts given. Do not invent dates, causes, people, promises or events. If the facts do not show the cause, answer likely_cause "unknown" with cause_confidence "low".
- Personal data has been replaced by placeholders in square brackets such as [CUSTOMER], [SALESPERSON], [TRACKING], [EMAIL_1], [PHONE_1], [ADDRESS_1], [PERSON_1]. Use them exactly as written when you need them; never guess what they stand for.
- summary: at most 5 plain sentences for the operations team: what happened, where the shipment stands, what is at risk (promised date, SLA). Mention dates as YYYY-MM-DD.
- evidence: the refs (E1, E2, ...) of the timeline events that support the summary and the cause.
- next_step: exactly one proposal. A person reviews and approves it before anything happens, so say plainly what should be done and why. Choose:
  reschedule_picking: move the Odoo delivery order to a new date (scheduled_date, YYYY-MM-DD, today or later) when the delivery date has credibly changed;
  post_note: record information on the order for the team (body);
  schedule_activity: ask the salesperson to act, e.g. contact the customer (summary, body, due_in_days 0-30);
  create_ticket: open a helpdesk ticket for a claim or an investigation such as damage or loss (summary as title, body as description);
  none: nothing to do now.
  Fields that do not belong to the chosen action are null.
- customer_message: a short, polite draft to the customer in the language given by customer_message_language, addressed to [CUSTOMER] if known. State only facts from the case; no blame, no promises the facts do not support, no internal details such as rule names or priorities.

Canonical exception reasons for likely_cause:
`)
	for _, r := range reasons {
		fmt.Fprintf(&b, "- %s (%s): %s\n", r.Code, r.Category, r.Gloss)
	}
	b.WriteString("- unknown: the facts do not show the cause\n")
	return b.String()
}

// repairMessage asks the model to fix an answer that failed validation.
func repairMessage(problems []string) string {
	return "Your answer was rejected for these reasons:\n- " + strings.Join(problems, "\n- ") +
		"\nReply again with the complete corrected JSON object only, following the schema and the rules."
}

// languageCode reduces an Odoo lang ("de_DE") or BCP 47 tag ("de-AT") to its
// primary language subtag; empty or malformed means English.
func languageCode(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.IndexAny(s, "_-"); i > 0 {
		s = s[:i]
	}
	if len(s) < 2 || len(s) > 3 {
		return "en"
	}
	for _, c := range s {
		if c < 'a' || c > 'z' {
			return "en"
		}
	}
	return s
}

var languageNames = map[string]string{
	"en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "nl": "Dutch",
	"pt": "Portuguese", "pl": "Polish", "sv": "Swedish", "da": "Danish", "nb": "Norwegian", "fi": "Finnish",
	"cs": "Czech", "tr": "Turkish", "ja": "Japanese", "zh": "Chinese", "ko": "Korean", "ar": "Arabic",
}

func languageName(code string) string {
	if n, ok := languageNames[code]; ok {
		return n + " (" + code + ")"
	}
	return code
}
