package rules

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/yardmaster/yardmaster/intake"
)

// Env is what a rule expression sees. Field names in expressions are the
// `expr` tags (event.status, shipment.dwellHours, now, ...). The `doc`,
// `example` and `enum` tags feed GET /api/v1/rules/env, so the field
// reference is generated from these types and never written twice.
//
// An Env is built once per event (NewEnv), passed to every rule by pointer
// and never changed while rules run: programs are shared between
// goroutines, the Env is not.
type Env struct {
	Event    EventEnv    `expr:"event" json:"event" doc:"The canonical event being classified."`
	Shipment ShipmentEnv `expr:"shipment" json:"shipment" doc:"The shipment's state after this event was applied, with derived durations measured at now."`
	Order    Order       `expr:"order" json:"order" doc:"The Odoo sale order linked to the shipment, from the local mirror. order.known is false when there is none."`
	Customer Customer    `expr:"customer" json:"customer" doc:"The Odoo customer of the order, from the local mirror. customer.known is false when there is none."`
	Now      time.Time   `expr:"now" json:"now" doc:"The evaluation time (UTC): when the event was received or the sweep ran. now() means the same; the wall clock is never read." example:"now - event.occurredAt > duration(\"24h\")"`
}

// EventEnv is the canonical event as rules see it: flat, with empty strings
// instead of missing values wherever a zero value cannot be mistaken.
type EventEnv struct {
	ID                string         `expr:"id" json:"id" doc:"Yardmaster event id (ULID)."`
	Source            string         `expr:"source" json:"source" doc:"Source that sent the event; \"yardmaster\" for synthetic sweep events." example:"event.source == \"yardmaster\""`
	SourceEventID     string         `expr:"sourceEventId" json:"source_event_id" doc:"The provider's own event id, when it sent one."`
	Carrier           string         `expr:"carrier" json:"carrier" doc:"Carrier slug (ups, fedex, dhl_express, ...)." example:"event.carrier in [\"ups\", \"fedex\"]"`
	TrackingNumber    string         `expr:"trackingNumber" json:"tracking_number" doc:"Carrier tracking number."`
	RawCodeTable      string         `expr:"rawCodeTable" json:"raw_code_table" doc:"Code table the raw code was looked up in (e.g. aftership.subtag)."`
	RawCode           string         `expr:"rawCode" json:"raw_code" doc:"The carrier's raw status code, normalised." example:"event.rawCode == \"Exception_013\""`
	RawText           string         `expr:"rawText" json:"raw_text" doc:"The carrier's message text." example:"lower(event.rawText) contains \"damaged\""`
	Status            string         `expr:"status" json:"status" enum:"status" doc:"Canonical milestone status of this event; empty when the event carries no milestone." example:"event.status == \"delivery_attempted\""`
	Activity          string         `expr:"activity" json:"activity" doc:"What happened physically or administratively (arrival_scan, customs_started, sweep, ...)."`
	HasException      bool           `expr:"hasException" json:"has_exception" doc:"True when the event reports an exception (event.reason is then set)."`
	Reason            string         `expr:"reason" json:"reason" enum:"reason" doc:"Canonical exception reason; empty when the event reports none." example:"event.reason in [\"lost\", \"damaged\"]"`
	ExceptionCategory string         `expr:"exceptionCategory" json:"exception_category" enum:"reason_category" doc:"Category of the exception reason (carrier, recipient, customs, external, shipper, return, tracking, unknown); empty when none." example:"event.exceptionCategory == \"customs\""`
	ExceptionSeverity string         `expr:"exceptionSeverity" json:"exception_severity" enum:"reason_severity" doc:"Carrier-side severity of the exception (info, warning, critical); empty when none."`
	ActionRequired    bool           `expr:"actionRequired" json:"action_required" doc:"True when the exception needs someone (recipient, shipper, carrier) to act."`
	ClearsExceptions  bool           `expr:"clearsExceptions" json:"clears_exceptions" doc:"True when the event closes the shipment's open exceptions (e.g. customs cleared)."`
	OccurredAt        time.Time      `expr:"occurredAt" json:"occurred_at" doc:"When the carrier says it happened (UTC; local wall time read as UTC when tzKnown is false)."`
	TZKnown           bool           `expr:"tzKnown" json:"tz_known" doc:"False when the carrier gave a local time without an offset."`
	ReceivedAt        time.Time      `expr:"receivedAt" json:"received_at" doc:"When Yardmaster received the event (UTC)."`
	LagHours          float64        `expr:"lagHours" json:"lag_hours" doc:"Hours between occurredAt and receivedAt (how late the carrier reported it)." example:"event.lagHours > 24"`
	City              string         `expr:"city" json:"city" doc:"City of the event location; empty when unknown."`
	Region            string         `expr:"region" json:"region" doc:"Region or state of the event location; empty when unknown."`
	PostalCode        string         `expr:"postalCode" json:"postal_code" doc:"Postal code of the event location; empty when unknown."`
	Country           string         `expr:"country" json:"country" doc:"ISO 3166-1 alpha-2 country of the event location; empty when unknown." example:"event.country == \"DE\""`
	EstimatedDelivery *time.Time     `expr:"estimatedDelivery" json:"estimated_delivery" doc:"Carrier estimate of delivery sent with this event; nil when absent." example:"event.estimatedDelivery != nil && shipment.promisedDelivery != nil && event.estimatedDelivery > shipment.promisedDelivery"`
	PromisedDelivery  *time.Time     `expr:"promisedDelivery" json:"promised_delivery" doc:"Delivery date promised to the customer, sent with this event; nil when absent."`
	OrderRef          string         `expr:"orderRef" json:"order_ref" doc:"Sale order reference sent with the event; empty when absent."`
	PickingRef        string         `expr:"pickingRef" json:"picking_ref" doc:"Odoo picking reference sent with the event; empty when absent."`
	Physical          bool           `expr:"physical" json:"physical" doc:"True for a physical custody scan, false for electronic data only."`
	Synthetic         bool           `expr:"synthetic" json:"synthetic" doc:"True for events a Yardmaster sweep generated (time-based conditions)."`
	Unmapped          bool           `expr:"unmapped" json:"unmapped" doc:"True when the carrier code could not be mapped to a canonical status or reason." example:"event.unmapped"`
	Attributes        map[string]any `expr:"attributes" json:"attributes" doc:"Free-form attributes sent with the event. Values have no fixed type: compare them explicitly." example:"event.attributes.temperature_controlled == true"`
}

// OpenException is one exception currently open on the shipment.
type OpenException struct {
	Reason    string    `expr:"reason" json:"reason" enum:"reason" doc:"Canonical exception reason."`
	Category  string    `expr:"category" json:"category" enum:"reason_category" doc:"Category of the reason."`
	Severity  string    `expr:"severity" json:"severity" enum:"reason_severity" doc:"Carrier-side severity (info, warning, critical)."`
	OpenedAt  time.Time `expr:"openedAt" json:"opened_at" doc:"When the exception opened."`
	HoursOpen float64   `expr:"hoursOpen" json:"hours_open" doc:"Hours the exception has been open at now." example:"any(shipment.openExceptions, .reason == \"customs_hold\" && .hoursOpen > 48)"`
}

// ShipmentEnv is the shipment state after the event, plus durations derived
// at Env.Now so rules never need the wall clock.
type ShipmentEnv struct {
	Known                  bool            `expr:"known" json:"known" doc:"False when no shipment state is available (e.g. a test fixture without one)."`
	ID                     string          `expr:"id" json:"id" doc:"Yardmaster shipment id."`
	Carrier                string          `expr:"carrier" json:"carrier" doc:"Carrier slug."`
	TrackingNumber         string          `expr:"trackingNumber" json:"tracking_number" doc:"Carrier tracking number."`
	Status                 string          `expr:"status" json:"status" enum:"status" doc:"Current milestone (monotonic: it only moves forward in rank)." example:"shipment.status in [\"picked_up\", \"in_transit\"]"`
	StatusRank             int             `expr:"statusRank" json:"status_rank" doc:"Rank of the current milestone (pending 0 ... delivered 100)."`
	Terminal               bool            `expr:"terminal" json:"terminal" doc:"True when the shipment is delivered, returned, cancelled or failed." example:"!shipment.terminal"`
	StatusAt               time.Time       `expr:"statusAt" json:"status_at" doc:"When the current milestone was reached."`
	HoursInStatus          float64         `expr:"hoursInStatus" json:"hours_in_status" doc:"Hours spent in the current milestone at now." example:"shipment.status == \"info_received\" && shipment.hoursInStatus > 48"`
	FirstSeenAt            time.Time       `expr:"firstSeenAt" json:"first_seen_at" doc:"When Yardmaster first saw the shipment."`
	AgeHours               float64         `expr:"ageHours" json:"age_hours" doc:"Hours since the shipment was first seen, at now."`
	LastEventAt            time.Time       `expr:"lastEventAt" json:"last_event_at" doc:"Occurrence time of the latest event."`
	HoursSinceLastEvent    float64         `expr:"hoursSinceLastEvent" json:"hours_since_last_event" doc:"Hours since the latest event of any kind, at now."`
	LastPhysicalScanAt     *time.Time      `expr:"lastPhysicalScanAt" json:"last_physical_scan_at" doc:"Time of the latest physical scan; nil when there has been none."`
	HasPhysicalScan        bool            `expr:"hasPhysicalScan" json:"has_physical_scan" doc:"True when the shipment has had at least one physical scan."`
	DwellHours             float64         `expr:"dwellHours" json:"dwell_hours" doc:"Hours since the last physical scan (since first seen when there has been none), at now." example:"shipment.dwellHours > 72"`
	PickedUpAt             *time.Time      `expr:"pickedUpAt" json:"picked_up_at" doc:"First custody scan; nil before pickup."`
	DeliveredAt            *time.Time      `expr:"deliveredAt" json:"delivered_at" doc:"Delivery time; nil until delivered."`
	Attempts               int             `expr:"attempts" json:"attempts" doc:"Number of failed delivery attempts so far." example:"shipment.attempts >= 2"`
	OriginCountry          string          `expr:"originCountry" json:"origin_country" doc:"Origin country (ISO alpha-2); empty when unknown."`
	DestinationCountry     string          `expr:"destinationCountry" json:"destination_country" doc:"Destination country (ISO alpha-2); empty when unknown."`
	International          bool            `expr:"international" json:"international" doc:"True when origin and destination countries are both known and differ." example:"shipment.dwellHours > (shipment.international ? 120 : 72)"`
	LastCity               string          `expr:"lastCity" json:"last_city" doc:"City of the latest known location; empty when unknown."`
	LastCountry            string          `expr:"lastCountry" json:"last_country" doc:"Country of the latest known location; empty when unknown."`
	PromisedDelivery       *time.Time      `expr:"promisedDelivery" json:"promised_delivery" doc:"Delivery date promised to the customer; nil when unknown."`
	EstimatedDelivery      *time.Time      `expr:"estimatedDelivery" json:"estimated_delivery" doc:"Latest carrier estimate of delivery; nil when none."`
	FirstEstimatedDelivery *time.Time      `expr:"firstEstimatedDelivery" json:"first_estimated_delivery" doc:"The carrier's first estimate of delivery; nil when none."`
	PromiseAt              *time.Time      `expr:"promiseAt" json:"promise_at" doc:"The date lateness is measured against: the promised date, else the carrier's first estimate; nil when neither is known."`
	HasPromise             bool            `expr:"hasPromise" json:"has_promise" doc:"True when promiseAt is known."`
	HoursLate              float64         `expr:"hoursLate" json:"hours_late" doc:"Hours past promiseAt (at delivery when delivered, else at now); 0 when not late or no promise." example:"shipment.hoursLate > 48"`
	Late                   bool            `expr:"late" json:"late" doc:"True when hoursLate > 0." example:"shipment.late && !shipment.terminal"`
	EDDChanges             int             `expr:"eddChanges" json:"edd_changes" doc:"Number of carrier estimate changes after the first estimate."`
	EDDSlipHours           float64         `expr:"eddSlipHours" json:"edd_slip_hours" doc:"Hours the latest estimate change moved delivery later (negative when earlier); 0 when none." example:"shipment.eddSlipHours >= 24"`
	EDDTotalSlipHours      float64         `expr:"eddTotalSlipHours" json:"edd_total_slip_hours" doc:"Hours between the first and the latest carrier estimate."`
	OpenExceptions         []OpenException `expr:"openExceptions" json:"open_exceptions" doc:"Exceptions currently open, oldest first." example:"any(shipment.openExceptions, .category == \"customs\" && .hoursOpen > 48)"`
	OpenReasons            []string        `expr:"openReasons" json:"open_reasons" doc:"Reasons of the open exceptions, sorted, without duplicates." example:"\"customs_hold\" in shipment.openReasons"`
	OpenCategories         []string        `expr:"openCategories" json:"open_categories" doc:"Categories of the open exceptions, sorted, without duplicates."`
	OpenExceptionCount     int             `expr:"openExceptionCount" json:"open_exception_count" doc:"Number of open exceptions."`
	EventCount             int             `expr:"eventCount" json:"event_count" doc:"Number of events received for the shipment."`
	OrderRef               string          `expr:"orderRef" json:"order_ref" doc:"Sale order reference; empty when unknown."`
	PickingRef             string          `expr:"pickingRef" json:"picking_ref" doc:"Odoo picking reference; empty when unknown."`
}

// Order is the Odoo sale order behind a shipment, as the local mirror knows
// it. internal/app fills it through a ContextLookup; rules never call Odoo.
type Order struct {
	Known          bool       `expr:"known" json:"known" doc:"True when the order was found in the Odoo mirror; all other fields are empty otherwise." example:"order.known && order.amount > 1000"`
	ID             int64      `expr:"id" json:"id,omitempty" doc:"Odoo sale.order id."`
	Ref            string     `expr:"ref" json:"ref,omitempty" doc:"Order reference (e.g. S00042)."`
	Amount         float64    `expr:"amount" json:"amount,omitempty" doc:"Order total including taxes, in currency." example:"order.amount >= 5000"`
	Currency       string     `expr:"currency" json:"currency,omitempty" doc:"ISO 4217 currency of amount."`
	State          string     `expr:"state" json:"state,omitempty" doc:"Odoo order state (sale, done, cancel, ...)."`
	CommitmentDate *time.Time `expr:"commitmentDate" json:"commitment_date,omitempty" doc:"Delivery date committed to the customer in Odoo; nil when not set."`
	Salesperson    string     `expr:"salesperson" json:"salesperson,omitempty" doc:"Name of the salesperson."`
	Team           string     `expr:"team" json:"team,omitempty" doc:"Sales team name." example:"order.team == \"Key Accounts\""`
	Warehouse      string     `expr:"warehouse" json:"warehouse,omitempty" doc:"Warehouse code of the picking."`
	Tags           []string   `expr:"tags" json:"tags,omitempty" doc:"Order tags." example:"\"expedite\" in order.tags"`
}

// Customer is the Odoo customer of the order, as the local mirror knows it.
type Customer struct {
	Known       bool     `expr:"known" json:"known" doc:"True when the customer was found in the Odoo mirror."`
	ID          int64    `expr:"id" json:"id,omitempty" doc:"Odoo res.partner id."`
	Name        string   `expr:"name" json:"name,omitempty" doc:"Customer name."`
	Tier        string   `expr:"tier" json:"tier,omitempty" doc:"Customer tier (e.g. gold, silver); empty when unset." example:"customer.tier in [\"gold\", \"platinum\"]"`
	Country     string   `expr:"country" json:"country,omitempty" doc:"Customer country (ISO alpha-2)."`
	Salesperson string   `expr:"salesperson" json:"salesperson,omitempty" doc:"Account owner."`
	Team        string   `expr:"team" json:"team,omitempty" doc:"Account team."`
	Tags        []string `expr:"tags" json:"tags,omitempty" doc:"Customer tags." example:"inList(\"vip_customers\", customer.name)"`
}

// statusRank is the milestone order of canonical-events.md §6.2.
var statusRank = map[intake.Status]int{
	intake.StatusPending:            0,
	intake.StatusInfoReceived:       10,
	intake.StatusPickedUp:           20,
	intake.StatusInTransit:          30,
	intake.StatusOutForDelivery:     40,
	intake.StatusAvailableForPickup: 45,
	intake.StatusDeliveryAttempted:  50,
	intake.StatusReturning:          60,
	intake.StatusDelivered:          100,
	intake.StatusReturned:           100,
	intake.StatusCancelled:          100,
	intake.StatusFailed:             100,
}

// Statuses lists the canonical milestone statuses in rank order.
func Statuses() []string {
	out := make([]string, 0, len(statusRank))
	for s := range statusRank {
		out = append(out, string(s))
	}
	sort.Slice(out, func(i, j int) bool {
		ri, rj := statusRank[intake.Status(out[i])], statusRank[intake.Status(out[j])]
		if ri != rj {
			return ri < rj
		}
		return out[i] < out[j]
	})
	return out
}

func isTerminal(s intake.Status) bool {
	return s == intake.StatusDelivered || s == intake.StatusReturned || s == intake.StatusCancelled || s == intake.StatusFailed
}

// Input is everything one evaluation depends on besides the ruleset. It is
// stored with the evaluation record so an evaluation can be replayed exactly
// (and backtested) long after the shipment and the Odoo mirror have moved on.
type Input struct {
	Event    *intake.Event    `json:"event"`
	Shipment *intake.Shipment `json:"shipment,omitempty"`
	Order    *Order           `json:"order,omitempty"`
	Customer *Customer        `json:"customer,omitempty"`
	// Now overrides the evaluation time; the default is Event.ReceivedAt.
	Now *time.Time `json:"now,omitempty"`
}

// EvalTime is the time the input is evaluated at, in UTC: Now when set,
// else when the event was received, else when the shipment state was
// updated by it (both are stored with the event, so replays agree).
func (in *Input) EvalTime() time.Time {
	switch {
	case in.Now != nil:
		return in.Now.UTC()
	case in.Event != nil && !in.Event.ReceivedAt.IsZero():
		return in.Event.ReceivedAt.UTC()
	case in.Shipment != nil && !in.Shipment.UpdatedAt.IsZero():
		return in.Shipment.UpdatedAt.UTC()
	}
	return time.Time{}
}

// ErrNoEvent is returned when an evaluation input has no event.
var ErrNoEvent = fmt.Errorf("rules: input has no event")

// NewEnv builds the environment for in. It fails only when the input has no
// event or no evaluation time.
func NewEnv(in *Input) (*Env, error) {
	env := &Env{}
	if err := env.Fill(in); err != nil {
		return nil, err
	}
	return env, nil
}

// Fill overwrites env with the environment for in, reusing env's slices
// where it can (the engine keeps one Env per worker).
func (env *Env) Fill(in *Input) error {
	if in == nil || in.Event == nil {
		return ErrNoEvent
	}
	now := in.EvalTime()
	if now.IsZero() {
		return fmt.Errorf("rules: event %s has no received_at and no evaluation time", in.Event.ID)
	}
	openEx, openReasons, openCats := env.Shipment.OpenExceptions[:0], env.Shipment.OpenReasons[:0], env.Shipment.OpenCategories[:0]
	*env = Env{Now: now}
	fillEvent(&env.Event, in.Event)
	env.Shipment.OpenExceptions, env.Shipment.OpenReasons, env.Shipment.OpenCategories = openEx, openReasons, openCats
	if in.Shipment != nil {
		fillShipment(&env.Shipment, in.Shipment, now)
	} else {
		env.Shipment.OpenExceptions, env.Shipment.OpenReasons, env.Shipment.OpenCategories = nil, nil, nil
	}
	if in.Order != nil {
		env.Order = *in.Order
		env.Order.CommitmentDate = utcPtr(env.Order.CommitmentDate)
	}
	if in.Customer != nil {
		env.Customer = *in.Customer
	}
	return nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func hoursBetween(from, to time.Time) float64 {
	return roundHours(to.Sub(from).Hours())
}

// roundHours rounds to the microsecond-hour so derived values print and
// compare the same on every platform.
func roundHours(h float64) float64 {
	return math.Round(h*1e6) / 1e6
}

func fillEvent(e *EventEnv, ev *intake.Event) {
	*e = EventEnv{
		ID:                ev.ID,
		Source:            ev.Source,
		SourceEventID:     ev.SourceEventID,
		Carrier:           ev.Carrier,
		TrackingNumber:    ev.TrackingNumber,
		RawCodeTable:      ev.RawCodeTable,
		RawCode:           ev.RawCode,
		RawText:           ev.RawText,
		Status:            string(ev.Status),
		Activity:          ev.Activity,
		ClearsExceptions:  ev.ClearsExceptions,
		OccurredAt:        ev.OccurredAt.UTC(),
		TZKnown:           ev.TZKnown,
		ReceivedAt:        ev.ReceivedAt.UTC(),
		EstimatedDelivery: utcPtr(ev.EstimatedDelivery),
		PromisedDelivery:  utcPtr(ev.PromisedDelivery),
		OrderRef:          ev.OrderRef,
		PickingRef:        ev.PickingRef,
		Physical:          ev.Physical,
		Synthetic:         ev.Synthetic,
		Unmapped:          ev.Unmapped,
		Attributes:        ev.Attributes,
	}
	if !ev.OccurredAt.IsZero() && !ev.ReceivedAt.IsZero() {
		e.LagHours = hoursBetween(ev.OccurredAt, ev.ReceivedAt)
	}
	if x := ev.Exception; x != nil && x.Reason != "" {
		e.HasException = true
		e.Reason = string(x.Reason)
		e.ExceptionCategory = x.Category
		if e.ExceptionCategory == "" {
			e.ExceptionCategory = reasonCategory[e.Reason]
		}
		e.ExceptionSeverity = string(x.Severity)
		e.ActionRequired = x.ActionRequired
	}
	if l := ev.Location; l != nil {
		e.City, e.Region, e.PostalCode, e.Country = l.City, l.Region, l.PostalCode, l.Country
	}
}

func fillShipment(s *ShipmentEnv, sh *intake.Shipment, now time.Time) {
	openEx, openReasons, openCats := s.OpenExceptions[:0], s.OpenReasons[:0], s.OpenCategories[:0]
	*s = ShipmentEnv{
		Known:              true,
		ID:                 sh.ID,
		Carrier:            sh.Carrier,
		TrackingNumber:     sh.TrackingNumber,
		Status:             string(sh.Status),
		StatusRank:         statusRank[sh.Status],
		Terminal:           isTerminal(sh.Status),
		StatusAt:           sh.StatusAt.UTC(),
		FirstSeenAt:        sh.FirstSeenAt.UTC(),
		LastEventAt:        sh.LastEventAt.UTC(),
		LastPhysicalScanAt: utcPtr(sh.LastPhysicalScanAt),
		HasPhysicalScan:    sh.LastPhysicalScanAt != nil,
		PickedUpAt:         utcPtr(sh.PickedUpAt),
		DeliveredAt:        utcPtr(sh.DeliveredAt),
		Attempts:           sh.Attempts,
		OriginCountry:      sh.OriginCountry,
		DestinationCountry: sh.DestinationCountry,
		PromisedDelivery:   utcPtr(sh.PromisedDelivery),
		EstimatedDelivery:  utcPtr(sh.EstimatedDelivery),
		EventCount:         sh.EventCount,
		OrderRef:           sh.OrderRef,
		PickingRef:         sh.PickingRef,
	}
	s.International = sh.OriginCountry != "" && sh.DestinationCountry != "" && sh.OriginCountry != sh.DestinationCountry
	if !sh.StatusAt.IsZero() {
		s.HoursInStatus = hoursBetween(sh.StatusAt, now)
	}
	if !sh.FirstSeenAt.IsZero() {
		s.AgeHours = hoursBetween(sh.FirstSeenAt, now)
	}
	if !sh.LastEventAt.IsZero() {
		s.HoursSinceLastEvent = hoursBetween(sh.LastEventAt, now)
	}
	switch {
	case sh.LastPhysicalScanAt != nil:
		s.DwellHours = hoursBetween(*sh.LastPhysicalScanAt, now)
	case !sh.FirstSeenAt.IsZero():
		s.DwellHours = hoursBetween(sh.FirstSeenAt, now)
	}
	if l := sh.LastLocation; l != nil {
		s.LastCity, s.LastCountry = l.City, l.Country
	}
	if n := len(sh.EDDHistory); n > 0 {
		first := sh.EDDHistory[0].EstimatedDelivery.UTC()
		s.FirstEstimatedDelivery = &first
		s.EDDChanges = n - 1
		if n > 1 {
			last, prev := sh.EDDHistory[n-1].EstimatedDelivery, sh.EDDHistory[n-2].EstimatedDelivery
			s.EDDSlipHours = hoursBetween(prev, last)
			s.EDDTotalSlipHours = hoursBetween(first, last)
		}
	} else if s.EstimatedDelivery != nil {
		first := *s.EstimatedDelivery
		s.FirstEstimatedDelivery = &first
	}
	switch {
	case s.PromisedDelivery != nil:
		p := *s.PromisedDelivery
		s.PromiseAt = &p
	case s.FirstEstimatedDelivery != nil:
		p := *s.FirstEstimatedDelivery
		s.PromiseAt = &p
	}
	if s.PromiseAt != nil {
		s.HasPromise = true
		ref := now
		if s.DeliveredAt != nil {
			ref = *s.DeliveredAt
		}
		if late := hoursBetween(*s.PromiseAt, ref); late > 0 {
			s.HoursLate = late
			s.Late = true
		}
	}
	for _, x := range sh.OpenExceptions {
		cat := x.Category
		if cat == "" {
			cat = reasonCategory[string(x.Reason)]
		}
		openEx = append(openEx, OpenException{
			Reason:    string(x.Reason),
			Category:  cat,
			Severity:  string(x.Severity),
			OpenedAt:  x.OpenedAt.UTC(),
			HoursOpen: hoursBetween(x.OpenedAt, now),
		})
		openReasons = append(openReasons, string(x.Reason))
		openCats = append(openCats, cat)
	}
	sort.SliceStable(openEx, func(i, j int) bool { return openEx[i].OpenedAt.Before(openEx[j].OpenedAt) })
	s.OpenExceptions = openEx
	s.OpenReasons = sortedUnique(openReasons)
	s.OpenCategories = sortedUnique(openCats)
	s.OpenExceptionCount = len(openEx)
}

// sortedUnique sorts xs in place and drops duplicates and empty strings.
func sortedUnique(xs []string) []string {
	sort.Strings(xs)
	out := xs[:0]
	for _, x := range xs {
		if x == "" || (len(out) > 0 && out[len(out)-1] == x) {
			continue
		}
		out = append(out, x)
	}
	return out
}
