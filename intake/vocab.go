package intake

// statusRank is the milestone order of canonical-events.md §6.2. It is
// spelled out here (and checked against the embedded mappings by a test) so
// the state machine never depends on parsing data at run time.
var statusRank = map[Status]int{
	StatusPending: 0, StatusInfoReceived: 10, StatusPickedUp: 20, StatusInTransit: 30,
	StatusOutForDelivery: 40, StatusAvailableForPickup: 45, StatusDeliveryAttempted: 50,
	StatusReturning: 60, StatusDelivered: 100, StatusReturned: 100, StatusCancelled: 100, StatusFailed: 100,
}

// Valid reports whether s is one of the twelve milestone statuses.
func (s Status) Valid() bool { _, ok := statusRank[s]; return ok }

// Rank is the milestone order; -1 for an empty or unknown status.
func (s Status) Rank() int {
	if r, ok := statusRank[s]; ok {
		return r
	}
	return -1
}

// Terminal reports whether the milestone ends the shipment's journey
// (delivered, returned, cancelled, failed).
func (s Status) Terminal() bool { return s.Rank() == 100 }

// regressionAllowed lists the milestones that may follow a higher-ranked one
// (canonical-events.md §6.1 principle 4): attempts and the return and
// failure paths.
func (s Status) regressionAllowed() bool {
	switch s {
	case StatusDeliveryAttempted, StatusReturning, StatusReturned, StatusCancelled, StatusFailed:
		return true
	}
	return false
}

// physicalStatuses are milestones that only a custody scan can report.
var physicalStatuses = map[Status]bool{
	StatusPickedUp: true, StatusInTransit: true, StatusOutForDelivery: true, StatusAvailableForPickup: true,
	StatusDeliveryAttempted: true, StatusReturning: true, StatusDelivered: true, StatusReturned: true,
}

// electronicActivities never count as a physical scan even with a status.
var electronicActivities = map[string]bool{
	"eta_update": true, "label_created": true, "manifest_processed": true, "shipment_acknowledged": true,
	"paperwork_received": true, "pickup_scheduled": true, "delivery_scheduled": true, "appointment_scheduled": true,
	"recipient_contacted": true, "service_changed": true, "payment_received": true, "broker_notified": true,
	"investigation_opened": true,
}

// physicalActivities are custody scans even when they carry no milestone
// (EasyPost arrived_at_facility, departed_facility).
var physicalActivities = map[string]bool{
	"arrival_scan": true, "departure_scan": true, "destination_scan": true, "origin_scan": true,
	"pickup_scan": true, "acceptance_scan": true, "export_scan": true, "import_scan": true, "dropped_off": true,
	"arrived_destination": true, "arrived_destination_country": true, "departed_origin_country": true,
	"customs_started": true, "customs_cleared": true, "warehousing": true, "handoff": true, "origin_facility": true,
	"address_corrected": true, "rerouted": true, "arrived_pickup_location": true, "collected_by_recipient": true,
	"signed": true, "delivered_to_neighbour": true, "delivered_to_agent": true, "cod_collected": true,
	"completed_unloading": true, "completed_loading_at_pickup": true, "departed_pickup_location": true,
	"loaded_on_truck": true, "preparing_for_delivery": true,
}

// isPhysical decides whether an event is a physical custody scan: the
// signal that may reopen a terminal milestone and that stale-shipment
// sweeps watch. Synthetic events never are.
func isPhysical(ev *Event) bool {
	if ev.Synthetic || electronicActivities[ev.Activity] {
		return false
	}
	return physicalStatuses[ev.Status] || physicalActivities[ev.Activity]
}
