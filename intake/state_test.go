package intake

import (
	"math/rand"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

func at(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }

// ev builds a normalised event from a status and a reason at hour h.
func mkEvent(h int, st Status, reason Reason) *Event {
	e := &Event{Source: "s", Carrier: "ups", TrackingNumber: "1Z1", OccurredAt: at(h), TZKnown: true, Status: st}
	if reason != "" {
		e.Exception = &Exception{Reason: reason}
	}
	DefaultMappings().Normalize(e, nil)
	return e
}

func fold(evs ...*Event) (*Shipment, []Change) {
	var s *Shipment
	var cs []Change
	for _, e := range evs {
		if s == nil {
			s = NewShipment("sh", e, 1)
		}
		cs = append(cs, s.Apply(e, t0))
	}
	return s, cs
}

func TestMilestoneRules(t *testing.T) {
	cases := []struct {
		name string
		evs  []*Event
		want Status
	}{
		{"forward", []*Event{mkEvent(0, StatusInfoReceived, ""), mkEvent(1, StatusPickedUp, ""), mkEvent(2, StatusInTransit, "")}, StatusInTransit},
		{"no regression on a later lower rank", []*Event{mkEvent(0, StatusOutForDelivery, ""), mkEvent(1, StatusInTransit, "")}, StatusOutForDelivery},
		{"attempt after pickup point", []*Event{mkEvent(0, StatusAvailableForPickup, ""), mkEvent(1, StatusDeliveryAttempted, "failed_attempt")}, StatusDeliveryAttempted},
		{"attempt may follow returning when later", []*Event{mkEvent(0, StatusReturning, "return_to_sender"), mkEvent(1, StatusDeliveryAttempted, "failed_attempt")}, StatusDeliveryAttempted},
		{"older attempt never regresses returning", []*Event{mkEvent(2, StatusReturning, "return_to_sender"), mkEvent(1, StatusDeliveryAttempted, "failed_attempt")}, StatusReturning},
		{"terminal stays on electronic later event", []*Event{mkEvent(0, StatusDelivered, ""), mkEvent(5, StatusCancelled, "cancelled")}, StatusDelivered},
		{"terminal reopens on later physical scan", []*Event{mkEvent(0, StatusFailed, "lost"), mkEvent(5, StatusInTransit, "")}, StatusInTransit},
		{"terminal ignores older physical scan", []*Event{mkEvent(5, StatusDelivered, ""), mkEvent(1, StatusInTransit, "")}, StatusDelivered},
		{"late delivered after returned, occurred later: reopens", []*Event{mkEvent(2, StatusReturned, "return_to_sender"), mkEvent(6, StatusDelivered, "")}, StatusDelivered},
		{"late delivered after returned, occurred earlier: ignored", []*Event{mkEvent(6, StatusReturned, "return_to_sender"), mkEvent(2, StatusDelivered, "")}, StatusReturned},
		{"delivered older than a later scan does not stick", []*Event{mkEvent(5, StatusInTransit, ""), mkEvent(3, StatusDelivered, "")}, StatusInTransit},
		{"delivered older than electronic info sticks", []*Event{mkEvent(5, StatusInfoReceived, ""), mkEvent(3, StatusDelivered, "")}, StatusDelivered},
		{"reason-only event keeps milestone", []*Event{mkEvent(0, StatusInTransit, ""), mkEvent(1, "", "delayed")}, StatusInTransit},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _ := fold(c.evs...)
			if s.Status != c.want {
				t.Fatalf("status %q, want %q", s.Status, c.want)
			}
		})
	}
}

// TestMilestoneOrderIndependent: any delivery order of the same events
// ends in the same milestone as delivery in time order, and the milestone
// never moves to a lower rank except by the allowed regressions.
func TestMilestoneOrderIndependent(t *testing.T) {
	histories := [][]*Event{
		{mkEvent(0, StatusInfoReceived, ""), mkEvent(1, StatusPickedUp, ""), mkEvent(2, StatusInTransit, ""), mkEvent(3, StatusOutForDelivery, ""), mkEvent(4, StatusDeliveryAttempted, "recipient_unavailable"), mkEvent(5, StatusOutForDelivery, ""), mkEvent(6, StatusDelivered, "")},
		{mkEvent(0, StatusPickedUp, ""), mkEvent(1, StatusInTransit, ""), mkEvent(2, StatusDeliveryAttempted, "refused"), mkEvent(3, StatusReturning, "return_to_sender"), mkEvent(4, StatusInTransit, ""), mkEvent(5, StatusReturned, "return_to_sender")},
		{mkEvent(0, StatusInTransit, ""), mkEvent(1, StatusFailed, "lost"), mkEvent(3, StatusInTransit, ""), mkEvent(4, StatusOutForDelivery, ""), mkEvent(5, StatusDelivered, "")},
		{mkEvent(0, StatusInTransit, ""), mkEvent(1, StatusReturned, "return_to_sender"), mkEvent(2, StatusDelivered, "")},
	}
	rng := rand.New(rand.NewSource(7))
	for hi, h := range histories {
		inOrder, _ := fold(h...)
		for i := 0; i < 200; i++ {
			perm := rng.Perm(len(h))
			evs := make([]*Event, len(h))
			for j, p := range perm {
				c := *h[p]
				evs[j] = &c
			}
			s, _ := fold(evs...)
			if s.Status != inOrder.Status {
				t.Fatalf("history %d order %v: %q, in order %q", hi, perm, s.Status, inOrder.Status)
			}
		}
	}
}

func TestExceptions(t *testing.T) {
	// Opened by a reason, kept once per reason, cleared by a higher milestone.
	s, cs := fold(mkEvent(0, StatusInTransit, ""), mkEvent(1, "", "delayed"), mkEvent(2, "", "delayed"), mkEvent(3, "", "weather"))
	if len(s.OpenExceptions) != 2 || len(cs[1].Opened) != 1 || len(cs[2].Opened) != 0 {
		t.Fatalf("open = %+v changes %+v", s.OpenExceptions, cs)
	}
	c := s.Apply(mkEvent(4, StatusOutForDelivery, ""), t0)
	if len(s.OpenExceptions) != 0 || len(c.Cleared) != 2 || !c.Cleared[0].ClearedAt.Equal(at(4)) {
		t.Fatalf("after OFD open=%+v cleared=%+v", s.OpenExceptions, c.Cleared)
	}
	// A late exception older than that clearing is recorded as cleared.
	c = s.Apply(mkEvent(2, "", "missorted"), t0)
	if len(s.OpenExceptions) != 0 || len(c.Cleared) != 1 || c.Cleared[0].Reason != "missorted" {
		t.Fatalf("late exception: open=%+v change=%+v", s.OpenExceptions, c)
	}

	// clears_exceptions (customs cleared) without a milestone change.
	s, _ = fold(mkEvent(0, StatusInTransit, ""), mkEvent(1, "", "customs_hold"))
	clear := &Event{Source: "s", Carrier: "ups", TrackingNumber: "1Z1", OccurredAt: at(2), TZKnown: true,
		Codes: []CodeRef{{"aftership.subtag", "InTransit_005"}}}
	DefaultMappings().Normalize(clear, nil)
	c = s.Apply(clear, t0)
	if !clear.ClearsExceptions || len(s.OpenExceptions) != 0 || len(c.Cleared) != 1 {
		t.Fatalf("customs cleared: %+v %+v", s.OpenExceptions, c)
	}

	// A physical scan closes a sweep's no_updates but not other reasons.
	s, _ = fold(mkEvent(0, StatusInTransit, ""), mkEvent(1, "", "customs_hold"))
	stale := mkEvent(80, "", "no_updates")
	stale.Synthetic = true
	s.Apply(stale, t0)
	s.Apply(mkEvent(81, StatusInTransit, ""), t0)
	if len(s.OpenExceptions) != 1 || s.OpenExceptions[0].Reason != "customs_hold" {
		t.Fatalf("after scan: %+v", s.OpenExceptions)
	}
}

func TestShipmentFacts(t *testing.T) {
	e1 := mkEvent(0, StatusPickedUp, "")
	e1.Location = &Location{City: "Lyon", Country: "FR"}
	e2 := mkEvent(10, StatusInTransit, "")
	d1 := at(72)
	e2.EstimatedDelivery = &d1
	e3 := mkEvent(20, StatusInTransit, "")
	d2 := at(96)
	e3.EstimatedDelivery = &d2
	late := mkEvent(5, StatusInTransit, "")
	d0 := at(48)
	late.EstimatedDelivery = &d0
	s, cs := fold(e1, e2, e3, late)
	if s.OriginCountry != "FR" || s.PickedUpAt == nil || !s.PickedUpAt.Equal(at(0)) || !s.LastPhysicalScanAt.Equal(at(20)) {
		t.Fatalf("facts %+v", s)
	}
	if !s.EstimatedDelivery.Equal(d2) || len(s.EDDHistory) != 3 || !s.EDDHistory[0].EstimatedDelivery.Equal(d0) {
		t.Fatalf("edd %v history %+v", s.EstimatedDelivery, s.EDDHistory)
	}
	if !cs[2].EDDChanged || cs[3].EDDChanged {
		t.Fatalf("edd changes %+v", cs)
	}
	s.Apply(mkEvent(30, StatusDeliveryAttempted, "failed_attempt"), t0)
	s.Apply(mkEvent(40, StatusDeliveryAttempted, "failed_attempt"), t0)
	if s.Attempts != 2 {
		t.Fatalf("attempts %d", s.Attempts)
	}
	cl := s.Clone()
	cl.OpenExceptions[0].Reason = "x"
	if s.OpenExceptions[0].Reason == "x" {
		t.Fatal("Clone shares exceptions")
	}
}

func TestPickShipment(t *testing.T) {
	const window = 90 * 24 * time.Hour
	old := &Shipment{ID: "a", FirstSeenAt: at(0), LastEventAt: at(100), Generation: 1}
	if s, n := PickShipment(nil, mkEvent(0, StatusInTransit, ""), window); s != nil || !n {
		t.Fatal("no candidates must start a shipment")
	}
	if s, n := PickShipment([]*Shipment{old}, mkEvent(200, StatusInTransit, ""), window); s != old || n {
		t.Fatal("event within the window must join")
	}
	if _, n := PickShipment([]*Shipment{old}, mkEvent(100+24*91, StatusInTransit, ""), window); !n {
		t.Fatal("event after the window must start the next generation")
	}
	newer := &Shipment{ID: "b", FirstSeenAt: at(24 * 200), LastEventAt: at(24 * 201), Generation: 2}
	if s, _ := PickShipment([]*Shipment{old, newer}, mkEvent(150, StatusDelivered, ""), window); s != old {
		t.Fatal("a late event of the old parcel must join the old generation")
	}
	if s, _ := PickShipment([]*Shipment{old, newer}, mkEvent(24*202, StatusDelivered, ""), window); s != newer {
		t.Fatal("event of the new parcel must join the new generation")
	}
	sweep := mkEvent(24*400, "", "no_updates")
	sweep.Synthetic, sweep.Attributes = true, map[string]any{"shipment_id": "a"}
	if s, n := PickShipment([]*Shipment{old, newer}, sweep, window); s != old || n {
		t.Fatal("a sweep event must join the shipment it names, however long that has been silent")
	}
	sweep.Synthetic = false
	if _, n := PickShipment([]*Shipment{old, newer}, sweep, window); !n {
		t.Fatal("only Yardmaster's own events may name their shipment")
	}
}
