package triage_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
	"github.com/yardmaster/yardmaster/rules"
	"github.com/yardmaster/yardmaster/triage"
)

// An exception opens a case, a worse one escalates it, delivery resolves
// it, and a new exception after that reopens it — with the timeline and
// the audit trail recording every step.
func TestCaseOpensEscalatesResolvesReopens(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		r1 := e.send("1ZCASE1", withReason("delayed"), withOrder("S00042"), withPicking("WH/OUT/00042"))
		if r1.CaseID == "" {
			t.Fatal("a carrier delay opened no case")
		}
		c := e.get(r1.CaseID)
		if c.State != triage.StateOpen || c.Category != "carrier_exception" || c.Severity != rules.SeverityMedium {
			t.Fatalf("opened case = %s %s %s", c.State, c.Category, c.Severity)
		}
		if c.RespondBy == nil || !c.RespondBy.Equal(c.OpenedAt.Add(8*time.Hour)) {
			t.Errorf("respond_by = %v, want the rule's 8h after %v", c.RespondBy, c.OpenedAt)
		}
		if c.OrderRef != "S00042" || c.PickingRef != "WH/OUT/00042" || c.Priority <= 0 {
			t.Errorf("case fields: order %q picking %q priority %d", c.OrderRef, c.PickingRef, c.Priority)
		}

		e.clk.Add(10 * time.Minute)
		r2 := e.send("1ZCASE1", withReason("damaged"))
		if r2.CaseID != c.ID {
			t.Fatalf("second exception went to case %q, want %q", r2.CaseID, c.ID)
		}
		c2 := e.get(c.ID)
		if c2.Severity != rules.SeverityCritical || c2.InitialSeverity != rules.SeverityMedium || c2.EventCount != 2 {
			t.Fatalf("after damage: severity %s (initial %s), events %d", c2.Severity, c2.InitialSeverity, c2.EventCount)
		}
		if c2.Priority <= c.Priority {
			t.Errorf("priority did not rise with severity: %d → %d", c.Priority, c2.Priority)
		}

		// A plain scan matches no rule: the case is unchanged.
		e.clk.Add(time.Hour)
		if r := e.send("1ZCASE1", withStatus("out_for_delivery")); r.CaseID != "" {
			t.Errorf("a plain scan reported case %s", r.CaseID)
		}
		e.clk.Add(time.Hour)
		e.send("1ZCASE1", withStatus("delivered"))
		c3 := e.get(c.ID)
		if c3.State != triage.StateResolved || c3.CloseReason != "delivered" || c3.SLAState != triage.SLAMet {
			t.Fatalf("after delivery: %s (%s), sla %s", c3.State, c3.CloseReason, c3.SLAState)
		}

		e.clk.Add(time.Hour)
		r4 := e.send("1ZCASE1", withReason("damaged"), withStatus(""))
		if r4.CaseID != c.ID {
			t.Fatalf("exception after resolve went to %q, want a reopen of %q", r4.CaseID, c.ID)
		}
		c4 := e.get(c.ID)
		if c4.State != triage.StateOpen || c4.ReopenCount != 1 || c4.ClosedAt != nil {
			t.Fatalf("after reopen: %s, reopens %d", c4.State, c4.ReopenCount)
		}

		det := e.detail(c.ID)
		var kinds []string
		for _, l := range det.Timeline {
			kinds = append(kinds, l.Kind)
		}
		for _, want := range []string{triage.TLState, triage.TLEvent, triage.TLEvaluation, triage.TLEscalation} {
			if !slices.Contains(kinds, want) {
				t.Errorf("timeline has no %s line: %v", want, kinds)
			}
		}
		if len(det.Evaluations) != 3 {
			t.Errorf("detail has %d evaluation records, want 3 (two exceptions and the reopening one)", len(det.Evaluations))
		}
		acts := auditActions(t, d, "case", c.ID)
		for _, want := range []string{"case.opened", "case.escalated", "case.resolved", "case.reopened"} {
			if !slices.Contains(acts, want) {
				t.Errorf("audit of the case lacks %s: %v", want, acts)
			}
		}
		e.verifyAudit()
	})
}

// min_count: a case opens only on the second match within the window, and
// the first match is on its timeline.
func TestMinCountWithinWindow(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		if r := e.send("1ZMIN1", withReason("missed_connection")); r.CaseID != "" {
			t.Fatalf("first match opened case %s; min_count is 2", r.CaseID)
		}
		e.clk.Add(3 * time.Hour) // outside the 2h window
		if r := e.send("1ZMIN1", withReason("missed_connection"), withAttr("n", 2)); r.CaseID != "" {
			t.Fatalf("a match outside the window opened case %s", r.CaseID)
		}
		e.clk.Add(30 * time.Minute)
		r := e.send("1ZMIN1", withReason("missed_connection"), withAttr("n", 3))
		if r.CaseID == "" {
			t.Fatal("second match within the window opened no case")
		}
		c := e.get(r.CaseID)
		if c.EventCount != 2 || c.Kind != triage.KindGroup {
			t.Errorf("case events %d kind %s, want 2 group", c.EventCount, c.Kind)
		}
	})
}

// Snooze until the next event: a sweep's synthetic event does not wake the
// case, the carrier's next event does.
func TestSnoozeUntilNextEvent(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		_, mgr := e.user("mia", auth.RoleManager, "")
		r := e.send("1ZSNZ1", withReason("delayed"))
		c, err := e.svc.Apply(mgr, r.CaseID, triage.Op{Name: "snooze", UntilNextEvent: true})
		if err != nil {
			t.Fatalf("snooze: %v", err)
		}
		if c.State != triage.StateSnoozed || c.SnoozedUntil == nil || !c.SnoozedUntil.Equal(e.clk.Now().Add(triage.EventSnoozeLimit)) {
			t.Fatalf("after snooze: %s until %v (a silent shipment must not keep it forever)", c.State, c.SnoozedUntil)
		}
		page, err := e.svc.List(e.ctx, triage.ListFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Cases) != 0 {
			t.Fatalf("the queue shows %d cases while the only one is snoozed", len(page.Cases))
		}
		e.clk.Add(time.Hour)
		e.send("1ZSNZ1", withStatus(""), withAttr("sweep", "test"), func(ev *intake.Event) { ev.Synthetic = true })
		if st := e.get(c.ID).State; st != triage.StateSnoozed {
			t.Fatalf("a synthetic event woke the case (%s)", st)
		}
		e.send("1ZSNZ1", withStatus("out_for_delivery"))
		got := e.get(c.ID)
		if got.State != triage.StateOpen || got.SnoozeUntilEvent {
			t.Fatalf("after the next event: %s (until event %v)", got.State, got.SnoozeUntilEvent)
		}
		page, _ = e.svc.List(e.ctx, triage.ListFilter{})
		if len(page.Cases) != 1 {
			t.Fatalf("the woken case is not in the queue")
		}
		if acts := auditActions(t, d, "case", c.ID); !slices.Contains(acts, "case.woken") {
			t.Errorf("no case.woken audit entry: %v", acts)
		}
	})
}

// Snooze until a time: the clock sweep returns the case exactly when the
// (injected) clock reaches the time, not before.
func TestSnoozeUntilTime(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		_, mgr := e.user("mia", auth.RoleManager, "")
		r := e.send("1ZSNZ2", withReason("delayed"))
		until := e.clk.Now().Add(2 * time.Hour)
		if _, err := e.svc.Apply(mgr, r.CaseID, triage.Op{Name: "snooze", Until: &until}); err != nil {
			t.Fatalf("snooze: %v", err)
		}
		// New matches do not end a timed snooze (unless severity rises).
		e.clk.Add(30 * time.Minute)
		e.send("1ZSNZ2", withReason("delayed"), withAttr("again", true))
		e.clk.Add(89 * time.Minute)
		res, err := e.svc.SweepClocks(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Woken != 0 || e.get(r.CaseID).State != triage.StateSnoozed {
			t.Fatalf("woken a minute early: %+v", res)
		}
		e.clk.Add(time.Minute)
		res, err = e.svc.SweepClocks(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Woken != 1 || e.get(r.CaseID).State != triage.StateOpen {
			t.Fatalf("not woken on time: %+v, state %s", res, e.get(r.CaseID).State)
		}
		if res, _ = e.svc.SweepClocks(e.ctx); res.Woken != 0 {
			t.Errorf("second sweep woke %d again", res.Woken)
		}
	})
}

// The standalone Stage reads the evaluations the rules stage stored in the
// same transaction (for pipelines that do not chain triage after rules).
func TestStageReadsStoredEvaluations(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		clk := &clock{t: start}
		pipe := intake.NewPipeline(d, intake.PipelineOptions{Now: clk.Now, MaxWait: time.Millisecond})
		t.Cleanup(pipe.Close)
		rs := rules.New(d, rules.Options{Now: clk.Now, AllowUntested: true})
		if err := rs.Init(context.Background()); err != nil {
			t.Fatal(err)
		}
		svc, err := triage.New(triage.Options{DB: d, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		pipe.AddStage(rs.Stage(nil))
		pipe.AddStage(svc.Stage())
		e := &env{t: t, db: d, clk: clk, pipe: pipe, rules: rs, svc: svc, ctx: context.Background()}
		r := e.send("1ZSTORED", withReason("delayed"))
		if r.CaseID == "" {
			t.Fatal("no case from stored evaluations")
		}
		e.clk.Add(time.Minute)
		if r2 := e.send("1ZSTORED", withReason("damaged")); r2.CaseID != r.CaseID || e.get(r.CaseID).Severity != rules.SeverityCritical {
			t.Fatalf("escalation through stored evaluations: %s", e.get(r.CaseID).Severity)
		}
	})
}

// An AI proposal with a parameter the executor does not know is kept for a
// person to fix; an unknown type is skipped; neither fails the caller.
func TestProposeFromAILenient(t *testing.T) {
	d := testenv.DB(t)
	e := newEnv(t, d, nil)
	r := e.send("1ZAI1", withReason("delayed"))
	err := d.InTx(e.ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := e.svc.ProposeFromAI(ctx, tx, r.CaseID, triage.ProposeInput{Type: "post_note", Params: map[string]string{"body": "hi", "tone": "friendly"}}); err != nil {
			return err
		}
		return e.svc.ProposeFromAI(ctx, tx, r.CaseID, triage.ProposeInput{Type: "call_the_president"})
	})
	if err != nil {
		t.Fatal(err)
	}
	det := e.detail(r.CaseID)
	if len(det.Actions) != 1 || det.Actions[0].Origin != triage.OriginAI || det.Actions[0].LastError == "" {
		t.Fatalf("AI proposals = %+v", det.Actions)
	}
}

// Reopening has a window; cases the policy keeps open survive delivery; a
// worse match wakes a timed snooze.
func TestReopenWindowKeepOpenAndEscalationWake(t *testing.T) {
	d := testenv.DB(t)
	p := triage.DefaultPolicy()
	p.KeepOpenCategories = []string{"recipient_exception"}
	e := newEnv(t, d, &p)
	_, mia := e.user("mia", auth.RoleManager, "")

	r := e.send("1ZWIN1", withReason("delayed"))
	if _, err := e.svc.Apply(mia, r.CaseID, triage.Op{Name: "resolve"}); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(15 * 24 * time.Hour) // past the 14-day reopen window
	r2 := e.send("1ZWIN1", withReason("delayed"), withAttr("later", true))
	if r2.CaseID == "" || r2.CaseID == r.CaseID {
		t.Fatalf("a match after the reopen window went to %q (old case %q)", r2.CaseID, r.CaseID)
	}

	keep := e.send("1ZKEEP1", withReason("recipient_unavailable"), withStatus("delivery_attempted"))
	e.clk.Add(time.Hour)
	e.send("1ZKEEP1", withStatus("delivered"))
	if st := e.get(keep.CaseID).State; st != triage.StateOpen {
		t.Errorf("a keep-open category was closed by delivery: %s", st)
	}

	sn := e.send("1ZWAKE1", withReason("delayed"))
	until := e.clk.Now().Add(48 * time.Hour)
	if _, err := e.svc.Apply(mia, sn.CaseID, triage.Op{Name: "snooze", Until: &until}); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(time.Hour)
	e.send("1ZWAKE1", withReason("lost"))
	if c := e.get(sn.CaseID); c.State != triage.StateOpen || c.Severity != rules.SeverityCritical {
		t.Errorf("a critical match left the case %s at %s", c.State, c.Severity)
	}
	if acts := auditActions(t, d, "case", sn.CaseID); !slices.Contains(acts, "case.woken") || !slices.Contains(acts, "case.escalated") {
		t.Errorf("audit %v", acts)
	}
}
