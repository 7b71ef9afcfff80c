package intake

import (
	"slices"
	"time"
)

// Change is what applying one event did to its shipment; rules and triage
// read it (a milestone reached, an exception opened) without diffing states.
type Change struct {
	NewShipment   bool              `json:"new_shipment,omitempty"`
	PrevStatus    Status            `json:"prev_status,omitempty"`
	StatusChanged bool              `json:"status_changed,omitempty"`
	Reopened      bool              `json:"reopened,omitempty"`
	Opened        []OpenException   `json:"opened,omitempty"`
	Cleared       []ClosedException `json:"cleared,omitempty"`
	EDDChanged    bool              `json:"edd_changed,omitempty"`
	PrevEDD       *time.Time        `json:"prev_edd,omitempty"`
}

// Bounds on the histories kept inside a shipment's state.
const (
	maxClosedExceptions = 50
	maxEDDHistory       = 50
)

// NewShipment starts the state of a shipment first seen with ev.
func NewShipment(id string, ev *Event, generation int) *Shipment {
	return &Shipment{
		ID: id, Carrier: ev.Carrier, TrackingNumber: ev.TrackingNumber,
		FirstSeenAt: ev.OccurredAt, Generation: generation,
	}
}

// Apply folds one event into the shipment (canonical-events.md §6.5–6.6):
//
//   - The milestone moves forward in rank only, except that attempts,
//     returns, cancellation and failure may follow a higher rank when they
//     happened later. An event older than the current milestone changes
//     nothing that the later milestone would have overridden, so delivery
//     order does not matter.
//   - A terminal milestone reopens only on a later physical scan.
//   - Exceptions open on events with a reason and close on a clearing event
//     or a milestone change; an exception reported after it was already
//     cleared is recorded as cleared. A physical scan also closes an open
//     no_updates (the sweep's "stale" exception), which it contradicts.
//   - The carrier's estimated delivery date is kept with its history.
//
// now stamps UpdatedAt. ev.ShipmentID is set.
func (s *Shipment) Apply(ev *Event, now time.Time) Change {
	c := Change{PrevStatus: s.Status, PrevEDD: s.EstimatedDelivery}
	ev.ShipmentID = s.ID
	s.EventCount++
	s.UpdatedAt = now
	if ev.OccurredAt.Before(s.FirstSeenAt) || s.FirstSeenAt.IsZero() {
		s.FirstSeenAt = ev.OccurredAt
	}
	newest := !ev.OccurredAt.Before(s.LastEventAt)
	if ev.Location != nil && (newest || s.LastLocation == nil) {
		l := *ev.Location
		s.LastLocation = &l
	}
	if !ev.Synthetic && !ev.factsOnly() && (s.LastEventAt.IsZero() || ev.OccurredAt.After(s.LastEventAt)) {
		s.LastEventAt = ev.OccurredAt
	}
	if ev.Physical {
		t := ev.OccurredAt
		if s.LastPhysicalScanAt == nil || t.After(*s.LastPhysicalScanAt) {
			s.LastPhysicalScanAt = &t
		}
		if ev.Status.Rank() >= StatusPickedUp.Rank() || physicalActivities[ev.Activity] {
			if s.PickedUpAt == nil || t.Before(*s.PickedUpAt) {
				s.PickedUpAt = &t
			}
		}
		if s.OriginCountry == "" && ev.OriginCountry == "" && ev.Location != nil && ev.Location.Country != "" {
			s.OriginCountry = ev.Location.Country
		}
	}
	if ev.OriginCountry != "" {
		s.OriginCountry = ev.OriginCountry
	}
	if ev.DestinationCountry != "" {
		s.DestinationCountry = ev.DestinationCountry
	}
	if ev.OrderRef != "" {
		s.OrderRef = ev.OrderRef
	}
	if ev.PickingRef != "" {
		s.PickingRef = ev.PickingRef
	}
	if ev.PromisedDelivery != nil {
		p := ev.PromisedDelivery.UTC()
		s.PromisedDelivery = &p
	}
	if ev.EstimatedDelivery != nil {
		c.EDDChanged = s.applyEDD(ev)
	}
	if ev.Status == StatusDeliveryAttempted {
		s.Attempts++
	}

	cleared := false
	if apply, reopen := s.decide(ev); apply {
		s.Status = ev.Status
		s.StatusAt = ev.OccurredAt
		c.StatusChanged = true
		if reopen {
			c.Reopened = true
			s.Reopened++
		}
		if s.Status == StatusDelivered {
			t := ev.OccurredAt
			s.DeliveredAt = &t
		} else {
			s.DeliveredAt = nil
		}
		cleared = true
	}
	if ev.ClearsExceptions {
		cleared = true
	}
	if cleared {
		c.Cleared = append(c.Cleared, s.closeExceptions(ev.OccurredAt, func(OpenException) bool { return true })...)
		if s.ExceptionsClearedAt == nil || ev.OccurredAt.After(*s.ExceptionsClearedAt) {
			t := ev.OccurredAt
			s.ExceptionsClearedAt = &t
		}
	} else if ev.Physical {
		c.Cleared = append(c.Cleared, s.closeExceptions(ev.OccurredAt, func(o OpenException) bool { return o.Reason == "no_updates" })...)
	}
	if ev.Exception != nil {
		if o, cl, ok := s.openException(ev); ok {
			if cl != nil {
				c.Cleared = append(c.Cleared, *cl)
			} else {
				c.Opened = append(c.Opened, o)
			}
		}
	}
	return c
}

// decide says whether ev's status becomes the milestone and whether that
// reopens a terminal one.
func (s *Shipment) decide(ev *Event) (apply, reopen bool) {
	st, cur := ev.Status, s.Status
	if st == "" || st == cur {
		return false, false
	}
	if cur == "" {
		return true, false
	}
	if ev.OccurredAt.Before(s.StatusAt) {
		// Had ev arrived in order, the current milestone would have
		// followed it: keep the current one wherever it would have won.
		if cur.Rank() > st.Rank() || cur.regressionAllowed() || (st.Terminal() && physicalStatuses[cur]) {
			return false, false
		}
		return true, false
	}
	if cur.Terminal() {
		if ev.Physical && ev.OccurredAt.After(s.StatusAt) {
			return true, true
		}
		return false, false
	}
	if st.Rank() > cur.Rank() {
		return true, false
	}
	if st.regressionAllowed() && ev.OccurredAt.After(s.StatusAt) {
		return true, false
	}
	return false, false
}

// closeExceptions closes the open exceptions opened no later than at that
// match keep.
func (s *Shipment) closeExceptions(at time.Time, match func(OpenException) bool) []ClosedException {
	var closed []ClosedException
	kept := s.OpenExceptions[:0]
	for _, o := range s.OpenExceptions {
		if match(o) && !o.OpenedAt.After(at) {
			ce := ClosedException{OpenException: o, ClearedAt: at}
			closed = append(closed, ce)
			s.ClosedExceptions = append(s.ClosedExceptions, ce)
			continue
		}
		kept = append(kept, o)
	}
	if len(kept) == 0 {
		kept = nil
	}
	s.OpenExceptions = kept
	if n := len(s.ClosedExceptions); n > maxClosedExceptions {
		s.ClosedExceptions = slices.Clone(s.ClosedExceptions[n-maxClosedExceptions:])
	}
	return closed
}

// openException opens ev's exception unless the same reason is open. An
// exception older than the last clearing is recorded as already cleared
// (returned as the second value).
func (s *Shipment) openException(ev *Event) (OpenException, *ClosedException, bool) {
	for _, o := range s.OpenExceptions {
		if o.Reason == ev.Exception.Reason {
			return OpenException{}, nil, false
		}
	}
	o := OpenException{
		Reason: ev.Exception.Reason, Category: ev.Exception.Category, Severity: ev.Exception.Severity,
		OpenedAt: ev.OccurredAt, SourceEventID: ev.ID,
	}
	if s.ExceptionsClearedAt != nil && ev.OccurredAt.Before(*s.ExceptionsClearedAt) {
		ce := ClosedException{OpenException: o, ClearedAt: *s.ExceptionsClearedAt}
		s.ClosedExceptions = append(s.ClosedExceptions, ce)
		if n := len(s.ClosedExceptions); n > maxClosedExceptions {
			s.ClosedExceptions = slices.Clone(s.ClosedExceptions[n-maxClosedExceptions:])
		}
		return o, &ce, true
	}
	s.OpenExceptions = append(s.OpenExceptions, o)
	return o, nil, true
}

// applyEDD records a carrier estimate. History is ordered by when the
// carrier stated the estimate (the event time), so a late event cannot
// overwrite a newer estimate; the current EDD is the latest statement.
func (s *Shipment) applyEDD(ev *Event) bool {
	edd := ev.EstimatedDelivery.UTC()
	entry := EDDChange{EstimatedDelivery: edd, SeenAt: ev.OccurredAt, EventID: ev.ID}
	i := len(s.EDDHistory)
	for i > 0 && s.EDDHistory[i-1].SeenAt.After(entry.SeenAt) {
		i--
	}
	if i > 0 && s.EDDHistory[i-1].EstimatedDelivery.Equal(edd) {
		return false // the same estimate restated
	}
	s.EDDHistory = slices.Insert(s.EDDHistory, i, entry)
	if n := len(s.EDDHistory); n > maxEDDHistory {
		s.EDDHistory = slices.Clone(s.EDDHistory[n-maxEDDHistory:])
	}
	last := s.EDDHistory[len(s.EDDHistory)-1].EstimatedDelivery
	changed := s.EstimatedDelivery == nil || !s.EstimatedDelivery.Equal(last)
	s.EstimatedDelivery = &last
	return changed
}

// Clone returns a deep copy, so each processed event can carry the state as
// of itself while later events of the batch keep folding.
func (s *Shipment) Clone() *Shipment {
	c := *s
	cp := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		v := *t
		return &v
	}
	c.LastPhysicalScanAt, c.PickedUpAt, c.DeliveredAt = cp(s.LastPhysicalScanAt), cp(s.PickedUpAt), cp(s.DeliveredAt)
	c.PromisedDelivery, c.EstimatedDelivery, c.ExceptionsClearedAt = cp(s.PromisedDelivery), cp(s.EstimatedDelivery), cp(s.ExceptionsClearedAt)
	if s.LastLocation != nil {
		l := *s.LastLocation
		c.LastLocation = &l
	}
	c.EDDHistory = slices.Clone(s.EDDHistory)
	c.OpenExceptions = slices.Clone(s.OpenExceptions)
	c.ClosedExceptions = slices.Clone(s.ClosedExceptions)
	return &c
}

// PickShipment chooses which shipment of a (carrier, tracking number) an
// event belongs to, or reports that it starts a new one. Carriers recycle
// tracking numbers: an event more than recycleAfter after the latest
// shipment's last event (or, for a finished shipment, after its end) opens
// the next generation. candidates are ordered by generation. A sweep's
// event names the shipment it is about and joins it however old it is: a
// parcel silent for months is the stale one, not a new parcel.
func PickShipment(candidates []*Shipment, ev *Event, recycleAfter time.Duration) (*Shipment, bool) {
	if len(candidates) == 0 {
		return nil, true
	}
	if ev.Synthetic {
		if id, _ := ev.Attributes[AttrShipmentID].(string); id != "" {
			for _, s := range candidates {
				if s.ID == id {
					return s, false
				}
			}
		}
	}
	// The latest generation whose first event is not far after ev.
	for i := len(candidates) - 1; i >= 0; i-- {
		s := candidates[i]
		if i > 0 && ev.OccurredAt.Before(s.FirstSeenAt.Add(-recycleAfter)) {
			continue
		}
		last := s.LastEventAt
		if last.IsZero() {
			last = s.FirstSeenAt
		}
		if i == len(candidates)-1 && ev.OccurredAt.After(last.Add(recycleAfter)) {
			return nil, true
		}
		return s, false
	}
	return candidates[0], false
}

// SortForApply orders a delivery's events for folding: by occurred time,
// keeping the payload's order for equal times (carriers' sequence).
func SortForApply(evs []*Event) {
	slices.SortStableFunc(evs, func(a, b *Event) int { return a.OccurredAt.Compare(b.OccurredAt) })
}

// factsOnly reports an event that only restates shipment facts (a delivery
// estimate, a promised date): it is no carrier activity, so it does not
// move LastEventAt.
func (ev *Event) factsOnly() bool {
	return ev.Status == "" && ev.Exception == nil && len(ev.Codes) == 0 && !ev.ClearsExceptions
}
