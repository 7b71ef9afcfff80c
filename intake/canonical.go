package intake

import "time"

// Status is a shipment milestone. Exceptions are never encoded as a status:
// where the parcel is and what went wrong are separate fields of an Event.
type Status string

// The twelve milestone statuses of canonical-events.md §6.2.
const (
	StatusPending            Status = "pending"
	StatusInfoReceived       Status = "info_received"
	StatusPickedUp           Status = "picked_up"
	StatusInTransit          Status = "in_transit"
	StatusOutForDelivery     Status = "out_for_delivery"
	StatusAvailableForPickup Status = "available_for_pickup"
	StatusDeliveryAttempted  Status = "delivery_attempted"
	StatusReturning          Status = "returning"
	StatusDelivered          Status = "delivered"
	StatusReturned           Status = "returned"
	StatusCancelled          Status = "cancelled"
	StatusFailed             Status = "failed"
)

// Reason is a canonical exception reason code (canonical-events.md §6.3).
type Reason string

// Severity of an exception reason as carriers report it (info, warning,
// critical). Case severity is a separate, richer scale owned by rules.
type Severity string

// Exception reason severities.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Location is where an event happened. Country is ISO 3166-1 alpha-2.
type Location struct {
	City       string `json:"city,omitempty"`
	Region     string `json:"region,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Country    string `json:"country,omitempty"`
}

// Exception is what went wrong on an event, why, and who must act.
type Exception struct {
	Reason         Reason   `json:"reason"`
	Category       string   `json:"category"`
	Severity       Severity `json:"severity"`
	ActionRequired bool     `json:"action_required"`
}

// Event is one canonical shipment event: a checkpoint of a provider payload,
// a canonical API item, an imported line or a synthetic sweep event.
type Event struct {
	ID             string     `json:"id"`
	ShipmentID     string     `json:"shipment_id"`
	Source         string     `json:"source"`
	SourceEventID  string     `json:"source_event_id,omitempty"`
	Carrier        string     `json:"carrier"`
	TrackingNumber string     `json:"tracking_number"`
	RawCodeTable   string     `json:"raw_code_table,omitempty"`
	RawCode        string     `json:"raw_code,omitempty"`
	RawText        string     `json:"raw_text,omitempty"`
	Status         Status     `json:"status,omitempty"` // empty: no milestone information
	Activity       string     `json:"activity,omitempty"`
	Exception      *Exception `json:"exception,omitempty"`
	// ClearsExceptions is set by mappings such as "customs cleared" that
	// close the shipment's open exceptions without a milestone change.
	ClearsExceptions bool      `json:"clears_exceptions,omitempty"`
	OccurredAt       time.Time `json:"occurred_at"`
	// TZKnown is false when the carrier gave a local time without an offset;
	// OccurredAt is then that wall time read as UTC and OccurredLocal keeps
	// the original string.
	TZKnown           bool           `json:"tz_known"`
	OccurredLocal     string         `json:"occurred_local,omitempty"`
	ReceivedAt        time.Time      `json:"received_at"`
	Location          *Location      `json:"location,omitempty"`
	EstimatedDelivery *time.Time     `json:"estimated_delivery,omitempty"`
	PromisedDelivery  *time.Time     `json:"promised_delivery,omitempty"`
	OrderRef          string         `json:"order_ref,omitempty"`
	PickingRef        string         `json:"picking_ref,omitempty"`
	Physical          bool           `json:"physical"` // a physical custody scan, not electronic data
	Synthetic         bool           `json:"synthetic,omitempty"`
	Unmapped          bool           `json:"unmapped,omitempty"`
	MappingVersion    string         `json:"mapping_version,omitempty"`
	PayloadID         string         `json:"payload_id,omitempty"`
	PayloadHash       string         `json:"payload_hash,omitempty"`
	Attributes        map[string]any `json:"attributes,omitempty"`
	// Codes is every (table, code) pair the mapping looked up for this
	// event, most specific first; RawCodeTable/RawCode is the first of them.
	Codes []CodeRef `json:"codes,omitempty"`
	// ReasonRule names the message-text rule that refined a generic reason.
	ReasonRule string `json:"reason_rule,omitempty"`
	// OriginCountry and DestinationCountry are shipment-level facts some
	// providers send with every event (ISO 3166-1 alpha-2).
	OriginCountry      string `json:"origin_country,omitempty"`
	DestinationCountry string `json:"destination_country,omitempty"`
	// DedupKey identifies the event within its source: "id:<source event
	// id>" or "h:<content hash>" (ARCHITECTURE §3.3).
	DedupKey string `json:"dedup_key,omitempty"`
}

// CodeRef is one raw code in one mapping table, e.g. ("fedex.event_type", "DE").
type CodeRef struct {
	Table string `json:"table"`
	Code  string `json:"code"`
}

// OpenException is an exception currently open on a shipment.
type OpenException struct {
	Reason        Reason    `json:"reason"`
	Category      string    `json:"category"`
	Severity      Severity  `json:"severity"`
	OpenedAt      time.Time `json:"opened_at"`
	SourceEventID string    `json:"source_event_id,omitempty"` // our event id that opened it
}

// ClosedException is an exception that was open and has been cleared.
type ClosedException struct {
	OpenException
	ClearedAt time.Time `json:"cleared_at"`
}

// EDDChange is one carrier estimate of the delivery date, in arrival order.
type EDDChange struct {
	EstimatedDelivery time.Time `json:"estimated_delivery"`
	SeenAt            time.Time `json:"seen_at"`
	EventID           string    `json:"event_id"`
}

// Shipment is the folded state of all events of one (carrier, tracking
// number, first-seen window).
type Shipment struct {
	ID                 string            `json:"id"`
	Carrier            string            `json:"carrier"`
	TrackingNumber     string            `json:"tracking_number"`
	FirstSeenAt        time.Time         `json:"first_seen_at"`
	Status             Status            `json:"status"`
	StatusAt           time.Time         `json:"status_at"`
	LastEventAt        time.Time         `json:"last_event_at"`
	LastPhysicalScanAt *time.Time        `json:"last_physical_scan_at,omitempty"`
	PickedUpAt         *time.Time        `json:"picked_up_at,omitempty"`
	DeliveredAt        *time.Time        `json:"delivered_at,omitempty"`
	Attempts           int               `json:"attempts"`
	OriginCountry      string            `json:"origin_country,omitempty"`
	DestinationCountry string            `json:"destination_country,omitempty"`
	LastLocation       *Location         `json:"last_location,omitempty"`
	PromisedDelivery   *time.Time        `json:"promised_delivery,omitempty"`
	EstimatedDelivery  *time.Time        `json:"estimated_delivery,omitempty"`
	EDDHistory         []EDDChange       `json:"edd_history,omitempty"`
	OpenExceptions     []OpenException   `json:"open_exceptions,omitempty"`
	ClosedExceptions   []ClosedException `json:"closed_exceptions,omitempty"`
	OrderRef           string            `json:"order_ref,omitempty"`
	PickingRef         string            `json:"picking_ref,omitempty"`
	EventCount         int               `json:"event_count"`
	UpdatedAt          time.Time         `json:"updated_at"`
	// Generation counts reuses of a recycled tracking number: the first
	// shipment with this carrier and number is 1.
	Generation int `json:"generation"`
	// ExceptionsClearedAt is when exceptions were last cleared (by a
	// milestone change or a clearing event): an exception reported late with
	// an earlier time is recorded as already cleared.
	ExceptionsClearedAt *time.Time `json:"exceptions_cleared_at,omitempty"`
	// Reopened counts how often a terminal milestone was reopened by a later
	// physical scan.
	Reopened int `json:"reopened,omitempty"`
}
