package triage_test

import (
	"slices"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
	"github.com/yardmaster/yardmaster/rules"
	"github.com/yardmaster/yardmaster/triage"
)

// The clock sweep moves a case through ok → at risk → breached; the
// respond breach escalates severity (and team) per policy; acknowledging
// stops the respond clock.
func TestSLABandsAndEscalation(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		p := triage.DefaultPolicy()
		p.Escalation.OnRespondBreach = triage.EscalationStep{RaiseSeverity: true, Team: "escalations"}
		e := newEnv(t, d, &p)
		_, mia := e.user("mia", auth.RoleManager, "")
		r := e.send("1ZSLA1", withReason("delayed")) // carrier_exception: respond 8h, resolve 3d (rule SLA)
		c := e.get(r.CaseID)
		if c.SLAState != triage.SLAOK || !c.DueAt.Equal(*c.RespondBy) {
			t.Fatalf("new case: sla %s due %v", c.SLAState, c.DueAt)
		}
		e.clk.Add(5*time.Hour + 59*time.Minute)
		if _, err := e.svc.SweepClocks(e.ctx); err != nil {
			t.Fatal(err)
		}
		if st := e.get(c.ID).SLAState; st != triage.SLAOK {
			t.Fatalf("at 5h59 of 8h: %s", st)
		}
		e.clk.Add(2 * time.Minute) // past 6h: less than a quarter left
		if _, err := e.svc.SweepClocks(e.ctx); err != nil {
			t.Fatal(err)
		}
		atRisk := e.get(c.ID)
		if atRisk.SLAState != triage.SLAAtRisk || atRisk.Priority <= c.Priority {
			t.Fatalf("at 6h01: %s priority %d (was %d)", atRisk.SLAState, atRisk.Priority, c.Priority)
		}
		e.clk.Add(2 * time.Hour)
		if _, err := e.svc.SweepClocks(e.ctx); err != nil {
			t.Fatal(err)
		}
		br := e.get(c.ID)
		if br.SLAState != triage.SLABreached || br.RespondBreachedAt == nil || br.Severity != rules.SeverityHigh || br.Team != "escalations" || br.EscalationLevel != 1 {
			t.Fatalf("after the respond deadline: sla %s severity %s team %q level %d", br.SLAState, br.Severity, br.Team, br.EscalationLevel)
		}
		if res, _ := e.svc.SweepClocks(e.ctx); res.SLAChanged != 0 {
			t.Errorf("a second sweep changed %d cases", res.SLAChanged)
		}
		ack, err := e.svc.Apply(mia, c.ID, triage.Op{Name: "acknowledge"})
		if err != nil {
			t.Fatal(err)
		}
		// The respond clock stopped breached; the resolve clock runs on.
		if ack.SLAState != triage.SLABreached || !ack.DueAt.Equal(*ack.ResolveBy) || ack.AssigneeName != "mia" {
			t.Fatalf("after ack: sla %s due %v resolve %v assignee %q", ack.SLAState, ack.DueAt, ack.ResolveBy, ack.AssigneeName)
		}
		acts := auditActions(t, d, "case", c.ID)
		for _, want := range []string{"case.sla_at_risk", "case.sla_breached", "case.escalated", "case.acknowledged"} {
			if !slices.Contains(acts, want) {
				t.Errorf("audit lacks %s: %v", want, acts)
			}
		}
		st, err := e.svc.Stats(e.ctx, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		wantTTA := ack.FirstAcknowledgedAt.Sub(ack.OpenedAt).Seconds() // 8h01m
		if st.Acknowledged != 1 || st.MTTASeconds < wantTTA-1 || st.MTTASeconds > wantTTA+1 || st.BreachesRespond != 1 ||
			st.Live[string(triage.StateAcknowledged)] != 1 || st.Aging["4h_24h"] != 1 || st.Aging["lt_1h"] != 0 {
			t.Errorf("stats = %+v (want MTTA %.0f s)", st, wantTTA)
		}
	})
}

// Business-hours clocks count only working time.
func TestCalendar(t *testing.T) {
	spec := triage.CalendarSpec{Timezone: "Europe/Berlin", Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "08:00", End: "18:00",
		Holidays: []string{"2026-12-25"}}
	cal, err := spec.Build()
	if err != nil {
		t.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, berlin) }
	for _, tc := range []struct {
		name  string
		from  time.Time
		add   time.Duration
		want  time.Time
		inBiz time.Duration
	}{
		{"within a day", at(2026, 11, 2, 9, 0), 4 * time.Hour, at(2026, 11, 2, 13, 0), 4 * time.Hour},
		{"across the evening", at(2026, 11, 2, 16, 0), 4 * time.Hour, at(2026, 11, 3, 10, 0), 4 * time.Hour},
		{"before opening", at(2026, 11, 2, 6, 0), time.Hour, at(2026, 11, 2, 9, 0), time.Hour},
		{"friday evening to monday", at(2026, 11, 6, 17, 0), 3 * time.Hour, at(2026, 11, 9, 10, 0), 3 * time.Hour},
		{"over a holiday", at(2026, 12, 24, 17, 0), 2 * time.Hour, at(2026, 12, 28, 9, 0), 2 * time.Hour},
		{"across the DST change", at(2026, 10, 23, 17, 0), 2 * time.Hour, at(2026, 10, 26, 9, 0), 2 * time.Hour},
		{"on a weekend", at(2026, 11, 7, 12, 0), time.Hour, at(2026, 11, 9, 9, 0), time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := cal.Add(tc.from, tc.add)
			if !got.Equal(tc.want) {
				t.Errorf("Add(%v, %v) = %v, want %v", tc.from, tc.add, got.In(berlin), tc.want)
			}
			if b := cal.Between(tc.from, got); b != tc.inBiz {
				t.Errorf("Between = %v, want %v", b, tc.inBiz)
			}
		})
	}
	for _, bad := range []triage.CalendarSpec{
		{Timezone: "Mars/Olympus", Days: []string{"mon"}, Start: "08:00", End: "18:00"},
		{Days: nil, Start: "08:00", End: "18:00"},
		{Days: []string{"funday"}, Start: "08:00", End: "18:00"},
		{Days: []string{"mon"}, Start: "18:00", End: "08:00"},
		{Days: []string{"mon"}, Start: "8am", End: "18:00"},
		{Days: []string{"mon"}, Start: "08:00", End: "18:00", Holidays: []string{"25.12.2026"}},
	} {
		if _, err := bad.Build(); err == nil {
			t.Errorf("calendar %+v accepted", bad)
		}
	}
}

// With a calendar, medium cases get business-hours clocks, critical ones
// run around the clock.
func TestBusinessHoursClocks(t *testing.T) {
	d := testenv.DB(t)
	p := triage.DefaultPolicy()
	p.Calendar = &triage.CalendarSpec{Timezone: "UTC", Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "08:00", End: "18:00"}
	e := newEnv(t, d, &p)
	e.clk.t = time.Date(2026, 11, 6, 17, 0, 0, 0, time.UTC) // Friday 17:00
	med := e.get(e.send("1ZBIZ1", withReason("delayed")).CaseID)
	if want := time.Date(2026, 11, 9, 15, 0, 0, 0, time.UTC); !med.BusinessHours || !med.RespondBy.Equal(want) {
		t.Errorf("medium respond_by = %v (business %v), want %v", med.RespondBy, med.BusinessHours, want)
	}
	crit := e.get(e.send("1ZBIZ2", withReason("lost")).CaseID)
	if want := e.clk.Now().Add(8 * time.Hour); crit.BusinessHours || !crit.RespondBy.Equal(want) {
		t.Errorf("critical respond_by = %v (business %v), want %v", crit.RespondBy, crit.BusinessHours, want)
	}
}

func TestPolicyValidation(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, field string
	}{
		{"unknown key", "slas: {}", ""},
		{"bad severity", "sla: {urgent: {respond_by: 1h}}", "sla.urgent"},
		{"resolve before respond", "sla: {high: {respond_by: 4h, resolve_by: 1h}}", "sla.high.resolve_by"},
		{"fraction", "at_risk_fraction: 1.5", "at_risk_fraction"},
		{"four eyes type", "four_eyes: [delete_order]", "four_eyes"},
		{"disruption", "disruption: {enabled: true, min_cases: 1, window: 1h, severity: high}", "disruption.min_cases"},
		{"sweep status", "sweeps: {stale: {flying: [1h]}}", "sweeps.stale.flying"},
		{"calendar", "calendar: {timezone: UTC, days: [mon], start: '18:00', end: '08:00'}", "calendar"},
		{"negative weight", "priority: {sla_breached: -1}", "priority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := triage.ParsePolicy([]byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.field != "" && !hasField(err, tc.field) {
				t.Errorf("error %v does not name %s", err, tc.field)
			}
		})
	}
	p, err := triage.ParsePolicy([]byte("four_eyes: [reschedule_picking, create_ticket]\nsla: {high: {respond_by: 2h}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.FourEyes) != 2 || p.SLA[rules.SeverityHigh].RespondBy.D() != 2*time.Hour || p.SLA[rules.SeverityHigh].ResolveBy != 0 {
		t.Errorf("parsed %+v", p.SLA[rules.SeverityHigh])
	}
	if p.SLA[rules.SeverityCritical].RespondBy.D() != time.Hour {
		t.Errorf("defaults lost: %+v", p.SLA[rules.SeverityCritical])
	}
}
