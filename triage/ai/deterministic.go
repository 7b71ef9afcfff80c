package ai

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/yardmaster/yardmaster/intake"
)

// Deterministic builds the summary from the facts alone, with no model: the
// same facts always give the same summary. It is used when no LLM is
// configured or the LLM fails, and it never fails for valid facts. Its texts
// are English; the customer message is a template to review before sending.
func Deterministic(f Facts, now time.Time) (Summary, error) {
	if err := f.Validate(); err != nil {
		return Summary{}, err
	}
	now = now.UTC()
	today := now.Truncate(24 * time.Hour)
	cause, conf, causeEvent := deterministicCause(f)
	s := Summary{
		CaseID:          f.Case.ID,
		GeneratedBy:     GeneratedByDeterministic,
		Text:            deterministicText(f, now, cause),
		LikelyCause:     cause,
		CauseConfidence: conf,
		Language:        "en",
		GeneratedAt:     now,
	}
	ev := map[string]bool{}
	if causeEvent != "" {
		ev[causeEvent] = true
	}
	if tl := f.timeline(); len(tl) > 0 {
		ev[tl[len(tl)-1].ID] = true
	}
	for id := range ev {
		s.Evidence = append(s.Evidence, id)
	}
	sort.Strings(s.Evidence)
	s.NextStep = deterministicStep(f, cause, today)
	s.CustomerMessage = deterministicMessage(f, cause)
	return s, nil
}

// deterministicCause picks the most recent open exception, else the most
// recent exception on the timeline, else unknown. A carrier-reported open
// exception is "medium" confidence; anything older is "low".
func deterministicCause(f Facts) (cause, confidence, eventID string) {
	if ex := f.openExceptions(); len(ex) > 0 {
		x := ex[len(ex)-1]
		if IsCause(string(x.Reason)) {
			return string(x.Reason), "medium", x.SourceEventID
		}
	}
	tl := f.timeline()
	for i := len(tl) - 1; i >= 0; i-- {
		if x := tl[i].Exception; x != nil && IsCause(string(x.Reason)) {
			return string(x.Reason), "low", tl[i].ID
		}
	}
	return CauseUnknown, "low", ""
}

func deterministicText(f Facts, now time.Time, cause string) string {
	var parts []string
	subject := "The shipment"
	if tn := f.trackingNumber(); tn != "" {
		subject = strings.TrimSpace(strings.ToUpper(f.carrier()) + " shipment " + tn)
	}
	if f.Odoo != nil && f.Odoo.OrderRef != "" {
		subject += " (order " + f.Odoo.OrderRef + ")"
	}
	if f.Case.Kind == KindDisruption {
		d := fmt.Sprintf("Disruption on %s affecting %d shipments", orDefault(strings.ToUpper(f.carrier()), "one carrier"), f.Case.AffectedShipments)
		if cause != CauseUnknown {
			d += ", mostly " + humanReason(cause)
		}
		parts = append(parts, d+".")
	}
	if sh := f.Shipment; sh != nil && sh.Status != "" {
		parts = append(parts, fmt.Sprintf("%s: %s since %s.", subject, humanStatus(sh.Status), day(sh.StatusAt)))
	} else if f.Case.Kind == KindShipment {
		parts = append(parts, subject+" has no tracking status yet.")
	}
	if ex := f.openExceptions(); len(ex) > 0 {
		names := make([]string, 0, len(ex))
		for _, x := range ex {
			names = append(names, fmt.Sprintf("%s (since %s)", humanReason(string(x.Reason)), day(x.OpenedAt)))
		}
		parts = append(parts, "Open exceptions: "+strings.Join(names, ", ")+".")
	}
	if sh := f.Shipment; sh != nil {
		promised := sh.PromisedDelivery
		if promised == nil && f.Odoo != nil {
			promised = f.Odoo.CommitmentDate
		}
		switch {
		case promised != nil && sh.DeliveredAt == nil && now.After(*promised):
			parts = append(parts, fmt.Sprintf("The promised delivery date %s has passed.", day(*promised)))
		case promised != nil && sh.DeliveredAt == nil:
			parts = append(parts, fmt.Sprintf("Promised delivery: %s.", day(*promised)))
		}
		if sh.EstimatedDelivery != nil && sh.DeliveredAt == nil {
			parts = append(parts, fmt.Sprintf("The carrier estimates delivery on %s.", day(*sh.EstimatedDelivery)))
		}
		if sh.LastPhysicalScanAt != nil {
			h := int(now.Sub(*sh.LastPhysicalScanAt).Hours())
			where := ""
			if sh.LastLocation != nil {
				where = " in " + strings.Join(nonEmpty(sh.LastLocation.City, sh.LastLocation.Country), ", ")
			}
			parts = append(parts, fmt.Sprintf("Last physical scan %d h ago%s.", h, where))
		}
	}
	if pr := f.Evaluation.PrimaryRule; pr.Name != "" {
		r := "Flagged by rule \"" + pr.Name + "\""
		if pr.Severity != "" {
			r += " (" + pr.Severity + ")"
		}
		parts = append(parts, r+".")
	}
	if f.Case.SLADueAt != nil {
		if now.After(*f.Case.SLADueAt) {
			parts = append(parts, "The case SLA is breached.")
		} else {
			parts = append(parts, fmt.Sprintf("SLA due in %s.", roundDuration(f.Case.SLADueAt.Sub(now))))
		}
	}
	return strings.Join(parts, " ")
}

// Cause groups for the deterministic next step and customer message.
var (
	delayCauses = set("delayed", "missed_connection", "carrier_capacity", "vehicle_issue", "missorted", "label_issue",
		"held_at_carrier", "customs_hold", "weather", "force_majeure", "no_updates", "delivery_rescheduled")
	recipientCauses = set("failed_attempt", "recipient_unavailable", "business_closed", "access_issue", "address_issue",
		"recipient_moved", "unclaimed", "payment_required", "signature_required", "information_required",
		"recipient_issue", "customs_documentation", "customs_duties_unpaid", "invalid_tracking_number", "shipper_issue")
	claimCauses = set("damaged", "lost", "disposed", "partial_delivery", "prohibited_item", "refused", "return_to_sender", "undeliverable")
)

func set(ss ...string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return m
}

func deterministicStep(f Facts, cause string, today time.Time) *ProposedAction {
	if f.Odoo == nil || (f.Odoo.OrderRef == "" && f.Odoo.PickingRef == "") {
		return nil
	}
	what := humanReason(cause)
	switch {
	case claimCauses[cause]:
		return &ProposedAction{
			Type: ActionCreateTicket,
			Params: map[string]string{
				"title":       fmt.Sprintf("Shipment %s: %s", orDefault(f.trackingNumber(), f.Odoo.OrderRef), what),
				"description": fmt.Sprintf("The carrier reports %s for order %s. Investigate, file a claim with the carrier if needed and arrange a replacement or refund.", what, f.Odoo.OrderRef),
			},
			Rationale: "The carrier reports " + what + ", which needs an investigation and possibly a claim.",
		}
	case recipientCauses[cause]:
		return &ProposedAction{
			Type: ActionScheduleActivity,
			Params: map[string]string{
				"summary":       "Contact customer: " + what,
				"note":          fmt.Sprintf("The carrier reports %s for order %s. Contact the customer to resolve it before the carrier returns the parcel.", what, f.Odoo.OrderRef),
				"date_deadline": today.Format(time.DateOnly),
			},
			Rationale: "Delivery cannot complete without the customer; the salesperson should contact them today.",
		}
	case delayCauses[cause] || cause == CauseUnknown:
		if sh := f.Shipment; sh != nil && sh.EstimatedDelivery != nil && f.Odoo.PickingRef != "" {
			eta := sh.EstimatedDelivery.UTC().Truncate(24 * time.Hour)
			if sched := f.Odoo.ScheduledDate; (sched == nil || eta.After(sched.UTC())) && !eta.Before(today) {
				return &ProposedAction{
					Type:      ActionReschedulePicking,
					Params:    map[string]string{"scheduled_date": eta.Format(time.DateOnly)},
					Rationale: "The carrier's new estimate is " + eta.Format(time.DateOnly) + "; moving the delivery date keeps the order's dates true.",
				}
			}
		}
		if cause == CauseUnknown {
			return nil
		}
		return &ProposedAction{
			Type:      ActionPostNote,
			Params:    map[string]string{"body": fmt.Sprintf("Carrier reports %s for shipment %s.", what, orDefault(f.trackingNumber(), "of this order"))},
			Rationale: "Record the delay on the order so the team sees it.",
		}
	}
	return nil
}

func deterministicMessage(f Facts, cause string) string {
	greet := "Hello,"
	if f.Odoo != nil && strings.TrimSpace(f.Odoo.Customer.Name) != "" && !f.Odoo.Customer.IsCompany {
		greet = "Hello " + strings.TrimSpace(f.Odoo.Customer.Name) + ","
	}
	order := "your order"
	if f.Odoo != nil && f.Odoo.OrderRef != "" {
		order = "your order " + f.Odoo.OrderRef
	}
	var body string
	switch {
	case claimCauses[cause]:
		body = fmt.Sprintf("the carrier has informed us of a problem with the delivery of %s (%s). We are looking into it and will come back to you with a solution as soon as possible.", order, humanReason(cause))
	case recipientCauses[cause]:
		body = fmt.Sprintf("the carrier could not complete the delivery of %s (%s). Please reply to this message so that we can arrange the delivery with you.", order, humanReason(cause))
	case delayCauses[cause]:
		body = fmt.Sprintf("the delivery of %s is delayed (%s).", order, humanReason(cause))
		if f.Shipment != nil && f.Shipment.EstimatedDelivery != nil {
			body += " The carrier now expects to deliver on " + day(*f.Shipment.EstimatedDelivery) + "."
		}
		body += " We are sorry for the inconvenience and are following the shipment closely."
	default:
		body = fmt.Sprintf("we are checking on the delivery of %s and will update you shortly.", order)
	}
	return greet + "\n\n" + strings.ToUpper(body[:1]) + body[1:] + "\n\nKind regards"
}

func humanReason(code string) string {
	if code == CauseUnknown || code == "" {
		return "an unknown cause"
	}
	if r, ok := reasonSet[code]; ok {
		return r.Gloss
	}
	return strings.ReplaceAll(code, "_", " ")
}

func humanStatus(s intake.Status) string {
	return strings.ReplaceAll(string(s), "_", " ")
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

func roundDuration(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	}
	if d >= time.Hour {
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d min", int(d.Minutes()))
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}
