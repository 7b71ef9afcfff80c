package ai

import "github.com/yardmaster/yardmaster/intake"

// CauseUnknown is the likely cause when the facts do not support any
// canonical reason. The model is told to prefer it over guessing.
const CauseUnknown = "unknown"

// reasonInfo is one canonical exception reason with a short gloss that helps
// the model choose between neighbouring codes.
type reasonInfo struct {
	Code     intake.Reason
	Category string
	Gloss    string
}

// reasons is the canonical reason vocabulary (canonical-events.md §6.3), in
// the order of the reference mapping file. A test keeps it equal to
// shared/reference/carrier-mappings.json.
var reasons = []reasonInfo{
	{"delayed", "carrier", "generic operational delay"},
	{"missed_connection", "carrier", "missed flight, trailer or linehaul transfer"},
	{"carrier_capacity", "carrier", "network volume or equipment shortage"},
	{"vehicle_issue", "carrier", "breakdown or accident"},
	{"missorted", "carrier", "mis-sorted or misrouted"},
	{"label_issue", "carrier", "label missing or unreadable"},
	{"held_at_carrier", "carrier", "held at a carrier facility"},
	{"damaged", "carrier", "package or contents damaged"},
	{"lost", "carrier", "package lost or missing"},
	{"disposed", "carrier", "destroyed or disposed of"},
	{"failed_attempt", "recipient", "delivery attempt failed, no cause given"},
	{"recipient_unavailable", "recipient", "nobody there to receive"},
	{"business_closed", "recipient", "receiving business closed"},
	{"access_issue", "recipient", "no access to the delivery location"},
	{"address_issue", "recipient", "wrong, incomplete or unknown address"},
	{"recipient_moved", "recipient", "recipient moved"},
	{"refused", "recipient", "recipient refused the shipment"},
	{"unclaimed", "recipient", "not collected from the pickup point in time"},
	{"payment_required", "recipient", "cash on delivery or fees due"},
	{"signature_required", "recipient", "a signature was needed and not given"},
	{"delivery_rescheduled", "recipient", "delivery date changed on request"},
	{"information_required", "recipient", "carrier awaits information"},
	{"recipient_issue", "recipient", "consignee-related, no detail"},
	{"undeliverable", "recipient", "carrier cannot deliver"},
	{"customs_hold", "customs", "customs hold or inspection"},
	{"customs_documentation", "customs", "customs documents missing or wrong"},
	{"customs_duties_unpaid", "customs", "duties or taxes awaiting payment"},
	{"prohibited_item", "customs", "restricted or prohibited goods"},
	{"weather", "external", "weather delay"},
	{"force_majeure", "external", "disaster, strike or civil emergency"},
	{"shipper_issue", "shipper", "shipper not ready or data/packaging problem"},
	{"cancelled", "shipper", "shipment or label cancelled"},
	{"return_to_sender", "return", "return to sender in progress"},
	{"partial_delivery", "carrier", "only part of the pieces delivered"},
	{"no_updates", "tracking", "no carrier updates for too long"},
	{"invalid_tracking_number", "tracking", "tracking number invalid or wrong carrier"},
	{"exception_other", "unknown", "exception without a recognisable cause"},
}

var reasonSet = func() map[string]reasonInfo {
	m := make(map[string]reasonInfo, len(reasons))
	for _, r := range reasons {
		m[string(r.Code)] = r
	}
	return m
}()

// IsCause reports whether s is an accepted likely cause: a canonical reason
// code or CauseUnknown.
func IsCause(s string) bool {
	if s == CauseUnknown {
		return true
	}
	_, ok := reasonSet[s]
	return ok
}

// Action types the model may recommend. They are the Odoo write-back actions
// triage knows; ActionNone means no action is recommended now.
const (
	ActionReschedulePicking = "reschedule_picking"
	ActionPostNote          = "post_note"
	ActionScheduleActivity  = "schedule_activity"
	ActionCreateTicket      = "create_ticket"
	ActionNone              = "none"
)

// ActionTypes lists the recommendable actions in schema order.
var ActionTypes = []string{ActionReschedulePicking, ActionPostNote, ActionScheduleActivity, ActionCreateTicket, ActionNone}
