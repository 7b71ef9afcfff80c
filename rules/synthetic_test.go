package rules

import (
	"fmt"
	"math/rand"
	"time"

	"github.com/yardmaster/yardmaster/intake"
)

// The synthetic corpus of the engine benchmarks (rules-anchors.md §5.3,
// re-created for our environment): 20 event types (12 statuses, 8
// reasons), seven rule shapes, fixed seeds so every run sees the same
// rules and events.

var synthStatuses = []string{"pending", "info_received", "picked_up", "in_transit", "out_for_delivery", "available_for_pickup",
	"delivery_attempted", "returning", "delivered", "returned", "cancelled", "failed"}

var synthReasons = []string{"delayed", "damaged", "lost", "customs_hold", "address_issue", "recipient_unavailable", "weather", "missorted"}

var synthCarriers = []string{"ups", "fedex", "dhl_express", "usps", "dpd", "gls"}

func synthShape(r *rand.Rand, guard string) string {
	n := r.Intn(100)
	switch r.Intn(7) {
	case 0:
		return fmt.Sprintf(`%sshipment.attempts >= %d`, guard, 1+r.Intn(3))
	case 1:
		return fmt.Sprintf(`%sevent.carrier in [%q, %q] && shipment.dwellHours > %d`, guard, synthCarriers[r.Intn(6)], synthCarriers[r.Intn(6)], n)
	case 2:
		return fmt.Sprintf(`%sshipment.international && shipment.originCountry == %q && shipment.openExceptionCount > 0`, guard, []string{"CN", "US", "DE"}[r.Intn(3)])
	case 3:
		return fmt.Sprintf(`%sevent.occurredAt - shipment.firstSeenAt > duration("%dh")`, guard, 24+n)
	case 4:
		return fmt.Sprintf(`%sany(shipment.openExceptions, .hoursOpen > %d)`, guard, n)
	case 5:
		return fmt.Sprintf(`%sevent.rawCode matches "^E%d[0-9]$"`, guard, r.Intn(10))
	default:
		return fmt.Sprintf(`%sshipment.hoursLate > %d && order.amount > %d`, guard, n/4, 100*r.Intn(20))
	}
}

// syntheticRuleset returns n rules indexed over the 20 event types.
func syntheticRuleset(n int, seed int64) *Ruleset {
	r := rand.New(rand.NewSource(seed))
	rs := &Ruleset{}
	for i := 0; i < n; i++ {
		var key, guard string
		if t := r.Intn(20); t < 12 {
			key = "status:" + synthStatuses[t]
			guard = fmt.Sprintf(`event.status == %q && `, synthStatuses[t])
		} else {
			key = "reason:" + synthReasons[t-12]
			guard = fmt.Sprintf(`event.reason == %q && `, synthReasons[t-12])
		}
		rule := Rule{
			ID: fmt.Sprintf("r%05d", i), Name: fmt.Sprintf("Synthetic %d", i), Owner: "bench", Priority: i + 1,
			EventTypes: []string{key}, When: synthShape(r, guard), Kind: KindClassify, Mode: ModeActive,
			Category: fmt.Sprintf("cat_%02d", r.Intn(30)), Severity: Severities[r.Intn(len(Severities))],
			Tags: []string{fmt.Sprintf("t%d", r.Intn(10))},
		}
		switch x := r.Intn(100); {
		case x < 5:
			rule.Kind, rule.Category, rule.Severity = KindSuppress, "", ""
			rule.Suppresses = []string{fmt.Sprintf("cat_%02d", r.Intn(30))}
		case x < 10:
			rule.Mode = ModeShadow
		case x < 15:
			rule.Actions = []ActionTemplate{{Type: "post_note", Params: map[string]string{"body": "{{ event.trackingNumber }} dwell {{ shipment.dwellHours }}"}}}
		}
		rs.Rules = append(rs.Rules, rule)
	}
	return rs
}

// syntheticInputs returns n events with shipments.
func syntheticInputs(n int, seed int64) []*Input {
	r := rand.New(rand.NewSource(seed))
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	out := make([]*Input, n)
	for i := range out {
		occurred := base.Add(time.Duration(r.Intn(30*24*60)) * time.Minute)
		first := occurred.Add(-time.Duration(r.Intn(10*24)) * time.Hour)
		scan := occurred.Add(-time.Duration(r.Intn(200)) * time.Hour)
		ev := &intake.Event{
			ID: fmt.Sprintf("ev%07d", i), ShipmentID: fmt.Sprintf("sh%06d", i/3), Source: []string{"aftership", "easypost", "yardmaster"}[r.Intn(3)],
			Carrier: synthCarriers[r.Intn(6)], TrackingNumber: fmt.Sprintf("TN%08d", i/3),
			RawCode: fmt.Sprintf("E%02d", r.Intn(100)), Status: intake.Status(synthStatuses[r.Intn(12)]),
			OccurredAt: occurred, ReceivedAt: occurred.Add(time.Duration(r.Intn(120)) * time.Minute), TZKnown: true, Physical: r.Intn(2) == 0,
		}
		sh := &intake.Shipment{
			ID: ev.ShipmentID, Carrier: ev.Carrier, TrackingNumber: ev.TrackingNumber, Status: ev.Status, StatusAt: occurred,
			FirstSeenAt: first, LastEventAt: occurred, LastPhysicalScanAt: &scan, Attempts: r.Intn(4),
			OriginCountry: []string{"CN", "US", "DE"}[r.Intn(3)], DestinationCountry: []string{"US", "DE", "FR"}[r.Intn(3)], EventCount: 1 + r.Intn(20),
		}
		if r.Intn(10) < 4 {
			reason := synthReasons[r.Intn(8)]
			ev.Exception = &intake.Exception{Reason: intake.Reason(reason), Severity: intake.SeverityWarning}
			sh.OpenExceptions = []intake.OpenException{{Reason: intake.Reason(reason), OpenedAt: occurred.Add(-time.Duration(r.Intn(150)) * time.Hour)}}
		}
		if r.Intn(2) == 0 {
			p := first.Add(time.Duration(48+r.Intn(120)) * time.Hour)
			sh.PromisedDelivery = &p
		}
		in := &Input{Event: ev, Shipment: sh}
		if r.Intn(2) == 0 {
			in.Order = &Order{Known: true, Ref: fmt.Sprintf("S%05d", i/3), Amount: float64(r.Intn(3000)), Currency: "EUR"}
		}
		out[i] = in
	}
	return out
}

// withTests gives every rule one matching and one non-matching test case
// taken from the inputs (rules that never match over them get a disabled
// mode, as an analyst would retire them).
func withTests(rs *Ruleset, inputs []*Input) *Ruleset {
	c, rep := Compile(rs, CompileOptions{})
	if c == nil {
		panic(rep.Err())
	}
	e := NewEvaluator(EvalOptions{Deadline: -1})
	out := rs.Clone()
	for i := range out.Rules {
		r := &out.Rules[i]
		cr := c.byID[r.ID]
		var pos, neg *Input
		for _, in := range inputs {
			if pos != nil && neg != nil {
				break
			}
			_ = e.env.Fill(in)
			matched := false
			if cr.selects(&e.env.Event) {
				v, err := e.run(cr.when)
				matched = err == nil && v == true
			}
			if matched && pos == nil {
				pos = in
			} else if !matched && neg == nil {
				neg = in
			}
		}
		if pos == nil {
			r.Mode = ModeDisabled
			continue
		}
		r.Tests = []TestCase{
			{Name: "matches", Input: *pos, Expect: Expectation{Match: boolp(true)}},
			{Name: "does not match", Input: *neg, Expect: Expectation{Match: boolp(false)}},
		}
	}
	return out
}
