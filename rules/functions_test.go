package rules

import (
	"errors"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/intake"
)

func TestBusinessHours(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	tests := []struct {
		name     string
		from, to time.Time
		loc      *time.Location
		want     float64
	}{
		{"same day inside", ts("2026-03-02T10:00:00Z"), ts("2026-03-02T12:30:00Z"), time.UTC, 2.5},
		{"same day across closing", ts("2026-03-02T16:00:00Z"), ts("2026-03-02T20:00:00Z"), time.UTC, 1},
		{"overnight", ts("2026-03-02T16:00:00Z"), ts("2026-03-03T10:00:00Z"), time.UTC, 2},
		{"friday to monday", ts("2026-03-06T16:00:00Z"), ts("2026-03-09T10:00:00Z"), time.UTC, 2},
		{"weekend only", ts("2026-03-07T08:00:00Z"), ts("2026-03-08T20:00:00Z"), time.UTC, 0},
		{"one full week", ts("2026-03-02T00:00:00Z"), ts("2026-03-09T00:00:00Z"), time.UTC, 40},
		{"ten weeks and a bit", ts("2026-03-02T00:00:00Z"), ts("2026-05-11T11:00:00Z"), time.UTC, 402},
		{"reversed", ts("2026-03-02T12:30:00Z"), ts("2026-03-02T10:00:00Z"), time.UTC, -2.5},
		{"zone", ts("2026-03-02T07:00:00Z"), ts("2026-03-02T17:00:00Z"), berlin, 8}, // 08:00-18:00 Berlin
		{"DST spring forward", ts("2026-03-27T00:00:00Z"), ts("2026-03-31T00:00:00Z"), berlin, 16},
		{"decades", ts("2000-01-03T00:00:00Z"), ts("2026-03-02T00:00:00Z"), time.UTC, 40 * 1365},
	}
	for _, tt := range tests {
		if got := businessHours(tt.from, tt.to, tt.loc); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestBusinessDays(t *testing.T) {
	tests := []struct {
		from, to string
		want     int
	}{
		{"2026-03-06T16:00:00Z", "2026-03-09T10:00:00Z", 1}, // Fri → Mon
		{"2026-03-02T10:00:00Z", "2026-03-02T18:00:00Z", 0}, // same day
		{"2026-03-02T10:00:00Z", "2026-03-09T09:00:00Z", 5}, // Mon → Mon
		{"2026-03-07T10:00:00Z", "2026-03-08T10:00:00Z", 0}, // Sat → Sun
		{"2026-03-02T10:00:00Z", "2026-04-13T10:00:00Z", 30},
		{"2026-03-09T10:00:00Z", "2026-03-06T10:00:00Z", -1},
	}
	for _, tt := range tests {
		if got := businessDays(ts(tt.from), ts(tt.to), time.UTC); got != tt.want {
			t.Errorf("%s → %s: got %d, want %d", tt.from, tt.to, got, tt.want)
		}
	}
}

// Functions evaluated through rules, with the implicit now.
func TestFunctionsInRules(t *testing.T) {
	in := baseInput()
	in.Event.RawText = "Parcel DAMAGED in transit"
	in.Shipment.PromisedDelivery = tsp("2026-03-05T11:00:00Z")
	conds := map[string]bool{
		`hoursSince(event.occurredAt) == 1`:                                                 true,
		`hoursUntil(shipment.promisedDelivery) == 24`:                                       true,
		`daysSince(shipment.firstSeenAt) > 3`:                                               true,
		`hoursBetween(event.occurredAt, event.receivedAt) == 1`:                             true,
		`daysBetween(shipment.firstSeenAt, now) < 4`:                                        true,
		`businessHoursSince(shipment.statusAt) == 18`:                                       true, // Mon 09-17 + Tue 09-17 + Wed 09-11 = 8+8+2
		`businessHoursBetween(shipment.statusAt, now, "America/New_York") > 0`:              true,
		`businessDaysSince(shipment.firstSeenAt) == 3`:                                      true, // Sun → Wed
		`businessDaysBetween(shipment.firstSeenAt, now, "Asia/Tokyo") == 3`:                 true,
		`localHour(now, "Europe/Berlin") == 12`:                                             true,
		`weekday(now) == "Wednesday" && !isWeekend(now) && isWeekend(shipment.firstSeenAt)`: true,
		`containsAny(event.rawText, "broken", "damaged")`:                                   true,
		`containsAny(event.rawText, "lost")`:                                                false,
		`inList("carriers", event.carrier) && !inList("carriers", "fedex")`:                 true,
		`now() == now && now == event.receivedAt`:                                           true,
		`date("2026-03-04T11:00:00Z") == now`:                                               true,
	}
	for cond, want := range conds {
		rs := &Ruleset{Lists: map[string][]string{"carriers": {"ups"}}, Rules: []Rule{{ID: "r", Name: "R", Priority: 1, EventTypes: []string{"*"}, When: cond, Category: "c", Severity: SeverityLow}}}
		c, rep := Compile(rs, CompileOptions{})
		if c == nil {
			t.Errorf("%s: %v", cond, rep.Err())
			continue
		}
		rec, err := NewEvaluator(EvalOptions{}).Evaluate(c, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.Errors) > 0 {
			t.Errorf("%s: %+v", cond, rec.Errors)
		}
		if got := rec.Outcome != nil; got != want {
			t.Errorf("%s = %v, want %v", cond, got, want)
		}
	}
}

// A nil time passed to a helper fails the rule (recorded), not the event.
func TestFunctionNilTime(t *testing.T) {
	_, err := argTime("hoursSince", (*time.Time)(nil))
	if !errors.Is(err, ErrNilTime) {
		t.Fatalf("err = %v", err)
	}
	rs := &Ruleset{Rules: []Rule{{ID: "r", Name: "R", Priority: 1, EventTypes: []string{"*"}, When: `hoursSince(shipment.deliveredAt) > 1`, Category: "c", Severity: SeverityLow}}}
	rec, err := NewEvaluator(EvalOptions{}).Evaluate(mustCompile(t, rs), baseInput())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != nil || len(rec.Errors) != 1 {
		t.Errorf("outcome %+v errors %+v", rec.Outcome, rec.Errors)
	}
}

// Derived shipment fields.
func TestEnvDerived(t *testing.T) {
	in := baseInput()
	sh := in.Shipment
	sh.OriginCountry, sh.DestinationCountry = "CN", "DE"
	sh.EDDHistory = []intake.EDDChange{
		{EstimatedDelivery: ts("2026-03-03T00:00:00Z")},
		{EstimatedDelivery: ts("2026-03-04T00:00:00Z")},
		{EstimatedDelivery: ts("2026-03-06T12:00:00Z")},
	}
	sh.OpenExceptions = []intake.OpenException{
		{Reason: "weather", OpenedAt: ts("2026-03-04T05:00:00Z")},
		{Reason: "customs_hold", Category: "customs", OpenedAt: ts("2026-03-02T11:00:00Z")},
	}
	env, err := NewEnv(in)
	if err != nil {
		t.Fatal(err)
	}
	s := env.Shipment
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"now", env.Now, ts("2026-03-04T11:00:00Z")},
		{"international", s.International, true},
		{"dwell", s.DwellHours, 1.0},
		{"in status", s.HoursInStatus, 51.0},
		{"age", s.AgeHours, 75.0},
		{"first edd", *s.FirstEstimatedDelivery, ts("2026-03-03T00:00:00Z")},
		{"promise falls back to first edd", *s.PromiseAt, ts("2026-03-03T00:00:00Z")},
		{"hours late", s.HoursLate, 35.0},
		{"late", s.Late, true},
		{"edd changes", s.EDDChanges, 2},
		{"slip", s.EDDSlipHours, 60.0},
		{"total slip", s.EDDTotalSlipHours, 84.0},
		{"open reasons", s.OpenReasons, []string{"customs_hold", "weather"}},
		{"open categories", s.OpenCategories, []string{"customs", "external"}},
		{"oldest first", s.OpenExceptions[0].Reason, "customs_hold"},
		{"hours open", s.OpenExceptions[0].HoursOpen, 48.0},
		{"rank", s.StatusRank, 30},
		{"lag", env.Event.LagHours, 1.0},
	}
	for _, c := range checks {
		if !equalAny(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// Delivered: lateness measured at delivery, terminal.
	d := ts("2026-03-03T06:00:00Z")
	sh.DeliveredAt, sh.Status = &d, intake.StatusDelivered
	env, _ = NewEnv(in)
	if env.Shipment.HoursLate != 6 || !env.Shipment.Terminal {
		t.Errorf("delivered: late %v terminal %v", env.Shipment.HoursLate, env.Shipment.Terminal)
	}
	// No shipment: known false, zero values.
	in.Shipment = nil
	env, _ = NewEnv(in)
	if env.Shipment.Known || env.Shipment.OpenReasons != nil {
		t.Errorf("no shipment: %+v", env.Shipment)
	}
}

func equalAny(a, b any) bool {
	switch x := a.(type) {
	case []string:
		y := b.([]string)
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	case time.Time:
		return x.Equal(b.(time.Time))
	}
	return a == b
}

func TestBusinessHoursExtremes(t *testing.T) {
	from := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	h := businessHours(from, to, time.UTC)
	if h < 2e7 || h > 2.1e7 {
		t.Errorf("year 1 to 9999: %v business hours", h)
	}
	if d := businessDays(from, to, time.UTC); d < 2.5e6 || d > 2.7e6 {
		t.Errorf("year 1 to 9999: %v business days", d)
	}
}
