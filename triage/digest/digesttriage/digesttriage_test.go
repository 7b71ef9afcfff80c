package digesttriage

import (
	"context"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/ids"
	"github.com/yardmaster/yardmaster/internal/secretbox"
	"github.com/yardmaster/yardmaster/internal/testenv"
	"github.com/yardmaster/yardmaster/rules"
	"github.com/yardmaster/yardmaster/triage"
	"github.com/yardmaster/yardmaster/triage/digest"
)

var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

type seed struct {
	t     *testing.T
	d     *db.DB
	cases []*triage.Case
	lines []triage.TimelineEntry
	acts  []*triage.Action
}

func (s *seed) kase(id, customer string, sev rules.Severity, state triage.State, opened time.Time) *triage.Case {
	c := &triage.Case{ID: id, Kind: triage.KindShipment, Fingerprint: "fp-" + id, State: state, Bucket: triage.BucketQueue, Title: "Case " + id,
		Category: "delay", Severity: sev, InitialSeverity: sev, CustomerID: customer, CustomerName: "Customer " + customer,
		OpenedAt: opened, SLAState: triage.SLAOK, Tags: triage.StringSet{}, CreatedAt: opened, UpdatedAt: opened, Version: 1}
	if state.Closed() {
		c.Bucket = triage.BucketClosed
	}
	s.cases = append(s.cases, c)
	return c
}

func (s *seed) line(caseID string, at time.Time, kind, summary string) {
	s.lines = append(s.lines, triage.TimelineEntry{ID: ids.At(at), CaseID: caseID, At: at, Kind: kind, Summary: summary, ActorName: "Ann"})
}

func (s *seed) save() {
	s.t.Helper()
	ctx := context.Background()
	if _, err := s.d.NewInsert().Model(&s.cases).Exec(ctx); err != nil {
		s.t.Fatalf("insert cases: %v", err)
	}
	if len(s.lines) > 0 {
		if _, err := s.d.NewInsert().Model(&s.lines).Exec(ctx); err != nil {
			s.t.Fatalf("insert timeline: %v", err)
		}
	}
	if len(s.acts) > 0 {
		if _, err := s.d.NewInsert().Model(&s.acts).Exec(ctx); err != nil {
			s.t.Fatalf("insert actions: %v", err)
		}
	}
}

func TestCustomerCases(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		s := &seed{t: t, d: d}
		h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
		c1 := s.kase("C1", "42", rules.SeverityCritical, triage.StateOpen, h(-30))
		c1.SLAState, c1.ETARisk = triage.SLABreached, ptr(0.8)
		s.line("C1", h(2), triage.TLEscalation, "severity high → critical by rule r1")
		s.line("C1", h(3), triage.TLSLA, "respond SLA breached")
		s.line("C1", h(4), triage.TLComment, "private remark about the customer")
		s.line("C1", h(-20), triage.TLState, "acknowledged") // before the period
		s.line("C1", h(5), triage.TLEvent, "in transit")     // not a change digests report
		c2 := s.kase("C2", "42", rules.SeverityMedium, triage.StateResolved, h(1))
		c2.ClosedAt = ptr(h(6))
		s.line("C2", h(1), triage.TLState, "opened by rule r2 (v1): delay, medium")
		s.line("C2", h(6), triage.TLState, "resolved (delivered)")
		s.kase("C3", "42", rules.SeverityLow, triage.StateOpen, h(1))                 // below min severity
		s.kase("C4", "99", rules.SeverityCritical, triage.StateOpen, h(1))            // another customer
		s.kase("C5", "42", rules.SeverityHigh, triage.StateOpen, h(30))               // opened after the period
		old := s.kase("C6", "42", rules.SeverityHigh, triage.StateDismissed, h(-100)) // closed before it
		old.ClosedAt = ptr(h(-50))
		done := h(7)
		s.acts = append(s.acts,
			&triage.Action{ID: "A1", CaseID: "C1", Type: "post_note", State: triage.ActionProposed, Rationale: "tell them", CreatedAt: h(2), UpdatedAt: h(2), Params: triage.Params{}},
			&triage.Action{ID: "A2", CaseID: "C2", Type: "reschedule_picking", State: triage.ActionSucceeded, FinishedAt: &done, CreatedAt: h(1), UpdatedAt: done, Params: triage.Params{}},
			&triage.Action{ID: "A3", CaseID: "C2", Type: "post_note", State: triage.ActionRejected, CreatedAt: h(1), UpdatedAt: h(1), Params: triage.Params{}})
		s.save()

		src := New(d.Read, func() time.Time { return h(24) })
		got, err := src.CustomerCases(context.Background(), digest.CaseQuery{Customers: []string{"42"}, Since: t0, Until: h(24), MinSeverity: digest.SeverityMedium})
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]digest.Case{}
		for _, c := range got {
			byID[c.ID] = c
		}
		if len(got) != 2 || byID["C1"].ID == "" || byID["C2"].ID == "" {
			t.Fatalf("cases = %+v", got)
		}
		k1 := byID["C1"]
		if k1.SLA != "breached" || k1.ETARisk == nil || k1.Severity != digest.SeverityCritical || k1.Ref != "#C1" {
			t.Errorf("C1 = %+v", k1)
		}
		kinds := func(c digest.Case) []string {
			var out []string
			for _, ch := range c.Changes {
				out = append(out, ch.Kind)
			}
			return out
		}
		if got := kinds(k1); len(got) != 3 || got[0] != digest.ChangeEscalated || got[1] != digest.ChangeSLABreached || got[2] != digest.ChangeComment {
			t.Errorf("C1 changes = %v", got)
		}
		if k1.Changes[2].Detail != "by Ann" {
			t.Errorf("comment body leaked: %q", k1.Changes[2].Detail)
		}
		k2 := byID["C2"]
		if got := kinds(k2); len(got) != 2 || got[0] != digest.ChangeOpened || got[1] != digest.ChangeResolved || k2.ResolvedAt == nil {
			t.Errorf("C2 changes = %v, resolved %v", got, k2.ResolvedAt)
		}
		if len(k1.Actions) != 1 || k1.Actions[0].State != digest.ActionProposed || len(k2.Actions) != 1 || k2.Actions[0].ID != "A2" {
			t.Errorf("actions: C1 %+v C2 %+v", k1.Actions, k2.Actions)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func TestEscalationFeed(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := &seed{t: t, d: d}
		m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
		s.kase("E1", "42", rules.SeverityCritical, triage.StateOpen, m(0))
		s.kase("E2", "43", rules.SeverityHigh, triage.StateSnoozed, m(0)).Bucket = triage.BucketSnoozed
		s.kase("E3", "", rules.SeverityCritical, triage.StateOpen, m(0)) // no customer: nobody's digest
		s.line("E1", m(0), triage.TLState, "opened by rule r1 (v1): lost, critical")
		s.line("E1", m(1), triage.TLState, "acknowledged")
		s.line("E2", m(2), triage.TLSLA, "respond SLA breached")
		s.line("E2", m(3), triage.TLSLA, "SLA ok → at_risk")
		s.line("E3", m(4), triage.TLEscalation, "severity high → critical by rule r9")
		s.line("E1", m(5), triage.TLEscalation, "escalated after the respond breach: team a → b")
		s.line("E1", m(10), triage.TLState, "severity high → critical") // too young at m(10)
		s.save()

		now := m(10)
		src := New(d.Read, func() time.Time { return now })
		got, err := src.EscalationsAfter(ctx, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		var seen []string
		for _, e := range got {
			seen = append(seen, e.CaseID+":"+e.Kind)
		}
		want := []string{"E1:severity", "E2:sla_breached", "E1:severity"}
		if len(seen) != len(want) {
			t.Fatalf("escalations = %v, want %v", seen, want)
		}
		for i := range want {
			if seen[i] != want[i] {
				t.Fatalf("escalations = %v, want %v", seen, want)
			}
		}
		if got[0].CustomerID != "42" || got[0].Severity != digest.SeverityCritical || got[0].Title != "Case E1" {
			t.Errorf("first = %+v", got[0])
		}
		// Paging from the cursor; the young line appears once it settles.
		rest, err := src.EscalationsAfter(ctx, got[1].Cursor, 100)
		if err != nil || len(rest) != 1 {
			t.Fatalf("after cursor: %+v, %v", rest, err)
		}
		now = m(11)
		rest, err = src.EscalationsAfter(ctx, got[2].Cursor, 100)
		if err != nil || len(rest) != 1 || rest[0].At != m(10) {
			t.Fatalf("settled line: %+v, %v", rest, err)
		}
		// The first poll starts at a point in time, not at the dawn of history.
		late, err := src.EscalationsAfter(ctx, src.CursorAt(m(3)), 100)
		if err != nil || len(late) != 2 || late[0].At.Before(m(3)) {
			t.Fatalf("from CursorAt(m3): %+v, %v", late, err)
		}
		still, err := src.StillEscalated(ctx, []string{"E1", "E2", "nope"})
		if err != nil || !still["E1"] || still["E2"] || still["nope"] {
			t.Fatalf("still escalated = %v, %v", still, err)
		}
	})
}

// TestNoticeFromTriageTimeline joins the feed to the digest service: a
// case of the subscription's customer escalated in triage's timeline
// becomes one immediate notice after group_wait and the settle window.
func TestNoticeFromTriageTimeline(t *testing.T) {
	ctx := context.Background()
	d := testenv.DB(t)
	s := &seed{t: t, d: d}
	s.kase("N1", "42", rules.SeverityCritical, triage.StateOpen, t0)
	s.kase("N2", "42", rules.SeverityMedium, triage.StateOpen, t0) // below the notice threshold
	s.line("N1", t0, triage.TLEscalation, "severity high → critical by rule r1")
	s.line("N2", t0, triage.TLState, "opened by rule r2 (v1): delay, medium")
	s.save()
	now := t0.Add(-time.Minute)
	clock := func() time.Time { return now }
	src := New(d.Read, clock)
	k, _ := secretbox.ParseKey(secretbox.NewKey())
	box, _ := secretbox.New(k)
	svc := digest.New(digest.Options{DB: d, Box: box, Now: clock, Cases: src, Feed: src})
	u, err := auth.CreateUser(ctx, d, now, auth.UserSpec{Username: "ada", Email: "ada@example.com", Role: auth.RoleAccount, Password: "a long enough password"})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := svc.CreateSubscription(ctx, u.Principal(), digest.SubscriptionInput{Name: "n", TimeZone: "UTC", Schedule: "@daily",
		Customers: digest.CustomerSelection{Include: []digest.Customer{{ID: "42"}}}, Channels: digest.Channels{Email: &digest.EmailChannel{}},
		Immediate: &digest.Immediate{Enabled: true, MinSeverity: digest.SeverityHigh}})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []time.Duration{10 * time.Second, 20 * time.Second, 50 * time.Second} {
		now = t0.Add(step)
		if _, err := svc.ProcessEscalations(ctx); err != nil {
			t.Fatal(err)
		}
	}
	page, err := svc.ListRuns(ctx, u.Principal(), digest.RunFilter{SubscriptionID: sub.ID, Kind: digest.RunImmediate})
	if err != nil || len(page.Runs) != 1 {
		t.Fatalf("notices = %+v, %v", page.Runs, err)
	}
	detail, err := svc.GetRun(ctx, u.Principal(), page.Runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if dg := detail.Digest; dg.Totals.Cases != 1 || dg.Customers[0].Cases[0].ID != "N1" || dg.Customers[0].Cases[0].Ref != "#N1" {
		t.Fatalf("notice lists %+v", dg.Customers)
	}
}
