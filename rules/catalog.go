package rules

// reasonCategory maps the canonical exception reasons of
// canonical-events.md §6.3 to their category. Rules use it to fill
// exceptionCategory when intake left it empty and to check reason: index
// keys (an unknown reason is a warning, not an error: the vocabulary grows).
var reasonCategory = map[string]string{
	"delayed":                 "carrier",
	"missed_connection":       "carrier",
	"carrier_capacity":        "carrier",
	"vehicle_issue":           "carrier",
	"missorted":               "carrier",
	"label_issue":             "carrier",
	"held_at_carrier":         "carrier",
	"damaged":                 "carrier",
	"lost":                    "carrier",
	"disposed":                "carrier",
	"failed_attempt":          "recipient",
	"recipient_unavailable":   "recipient",
	"business_closed":         "recipient",
	"access_issue":            "recipient",
	"address_issue":           "recipient",
	"recipient_moved":         "recipient",
	"refused":                 "recipient",
	"unclaimed":               "recipient",
	"payment_required":        "recipient",
	"signature_required":      "recipient",
	"delivery_rescheduled":    "recipient",
	"information_required":    "recipient",
	"recipient_issue":         "recipient",
	"undeliverable":           "recipient",
	"customs_hold":            "customs",
	"customs_documentation":   "customs",
	"customs_duties_unpaid":   "customs",
	"prohibited_item":         "customs",
	"weather":                 "external",
	"force_majeure":           "external",
	"shipper_issue":           "shipper",
	"cancelled":               "shipper",
	"return_to_sender":        "return",
	"partial_delivery":        "carrier",
	"no_updates":              "tracking",
	"invalid_tracking_number": "tracking",
	"exception_other":         "unknown",
}

// ReasonCategories lists the exception reason categories.
var ReasonCategories = []string{"carrier", "recipient", "customs", "external", "shipper", "return", "tracking", "unknown"}

// Reasons lists the known canonical exception reasons, sorted.
func Reasons() []string {
	out := make([]string, 0, len(reasonCategory))
	for r := range reasonCategory {
		out = append(out, r)
	}
	return sortedUnique(out)
}
