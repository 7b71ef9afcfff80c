package triage_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
	"github.com/yardmaster/yardmaster/triage"
)

// recorder is an executor that records what it was asked and fails as
// told; the Odoo-backed executor is exercised end to end in internal/app.
type recorder struct {
	mu    sync.Mutex
	calls []triage.ActionRequest
	fail  []error // returned by successive Execute calls, then success
	done  map[string]int64
}

func (r *recorder) Preview(_ context.Context, a triage.ActionRequest) (triage.Preview, error) {
	return triage.Preview{Summary: "would " + a.Type, Target: triage.Target{Model: "stock.picking", ID: 7, Name: a.Case.PickingRef},
		Changes: []triage.FieldChange{{Field: "scheduled_date", Before: "2026-11-20 10:00:00", After: a.Params["scheduled_date"]}}}, nil
}

func (r *recorder) Execute(_ context.Context, a triage.ActionRequest) (triage.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, a)
	if len(r.fail) > 0 {
		err := r.fail[0]
		r.fail = r.fail[1:]
		if err != nil {
			return triage.Result{}, err
		}
	}
	if r.done == nil {
		r.done = map[string]int64{}
	}
	if id, ok := r.done[a.IdempotencyKey]; ok {
		return triage.Result{Target: triage.Target{Model: "stock.picking", ID: id}, Replayed: true}, nil
	}
	r.done[a.IdempotencyKey] = int64(len(r.done) + 1)
	return triage.Result{Target: triage.Target{Model: "stock.picking", ID: r.done[a.IdempotencyKey]}}, nil
}

func actionOf(t *testing.T, d *triage.Detail, typ string) *triage.Action {
	t.Helper()
	for _, a := range d.Actions {
		if a.Type == typ {
			return a
		}
	}
	t.Fatalf("no %s action on case %s", typ, d.Case.ID)
	return nil
}

// A rule proposes actions with rendered parameters; four-eyes keeps the
// proposer of a reschedule from approving it, a viewer cannot approve at
// all (the web layer checks the permission; here the service refuses the
// proposer); approval schedules execution with a stable idempotency key.
func TestActionProposalApprovalExecution(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		rec := &recorder{}
		e.svc.SetExecutor(rec)
		_, mia := e.user("mia", auth.RoleManager, "")
		_, max := e.user("max", auth.RoleManager, "")
		r := e.send("1ZACT1", withReason("damaged"), withAttr("test_reschedule", true), withPicking("WH/OUT/00077"))
		det := e.detail(r.CaseID)
		if det.Case.Category != "damage_reschedule" || len(det.Actions) != 2 {
			t.Fatalf("case %s with %d actions", det.Case.Category, len(det.Actions))
		}
		res := actionOf(t, det, "reschedule_picking")
		if res.State != triage.ActionProposed || res.Origin != triage.OriginRule || res.Params["reason"] != "replacement for 1ZACT1" || !res.FourEyes {
			t.Fatalf("rule proposal = %+v", res)
		}
		// The same rule matching again proposes nothing twice.
		e.clk.Add(time.Minute)
		e.send("1ZACT1", withReason("damaged"), withAttr("test_reschedule", true), withAttr("again", 1))
		if n := len(e.detail(r.CaseID).Actions); n != 2 {
			t.Fatalf("a repeated match proposed again: %d actions", n)
		}

		// Mia edits the rule's proposal: she becomes its proposer.
		edited, err := e.svc.EditAction(mia, res.ID, map[string]string{"date": "2026-12-03", "reason": "replacement"})
		if err != nil {
			t.Fatalf("edit: %v", err)
		}
		if _, err := e.svc.ApproveAction(mia, edited.ID, "ok by me"); apperr.KindOf(err) != apperr.KindForbidden {
			t.Fatalf("the proposer approved a four-eyes action: %v", err)
		}
		if _, err := e.svc.ApproveAction(mia, "01JNOSUCHACTION0000000000", ""); apperr.KindOf(err) != apperr.KindNotFound {
			t.Fatalf("approve unknown: %v", err)
		}
		pv, err := e.svc.PreviewAction(max, edited.ID)
		if err != nil || pv.Preview == nil {
			t.Fatalf("preview: %v", err)
		}
		ok, err := e.svc.ApproveAction(max, edited.ID, "second pair of eyes")
		if err != nil {
			t.Fatalf("approve by another manager: %v", err)
		}
		if ok.State != triage.ActionApproved || ok.DecidedBy == ok.ProposedBy {
			t.Fatalf("approved action = %+v", ok)
		}
		if _, err := e.svc.ApproveAction(max, edited.ID, ""); apperr.KindOf(err) != apperr.KindConflict {
			t.Fatalf("approving twice: %v", err)
		}
		jobs := e.jobs(triage.TaskActionExecute)
		if len(jobs) != 1 {
			t.Fatalf("execution jobs = %v", jobs)
		}
		// A post_note needs no four-eyes: the rule proposed it, a manager approves.
		note := actionOf(t, det, "post_note")
		if _, err := e.svc.RejectAction(mia, note.ID, "not needed"); err != nil {
			t.Fatalf("reject: %v", err)
		}

		// The worker runs it; running the same job again (a duplicate
		// delivery) does nothing more.
		job := e.delivery(jobs[0], 0, 7)
		if err := e.svc.HandleExecute(e.ctx, job); err != nil {
			t.Fatalf("execute: %v", err)
		}
		if err := e.svc.HandleExecute(e.ctx, job); err != nil {
			t.Fatalf("execute again: %v", err)
		}
		if len(rec.calls) != 1 {
			t.Fatalf("executor called %d times", len(rec.calls))
		}
		call := rec.calls[0]
		if call.Params["scheduled_date"] != "2026-12-03T12:00:00Z" || call.Case.PickingRef != "WH/OUT/00077" || call.IdempotencyKey == "" {
			t.Fatalf("executor request = %+v", call)
		}
		done, _ := e.svc.GetAction(e.ctx, edited.ID)
		if done.State != triage.ActionSucceeded || done.Result == nil {
			t.Fatalf("after execution: %+v", done)
		}
		acts := auditActions(t, d, "action", edited.ID)
		for _, want := range []string{"action.proposed", "action.edited", "odoo.preview", "action.approved", "action.executing", "odoo.call", "action.succeeded"} {
			if !slices.Contains(acts, want) {
				t.Errorf("audit of the action lacks %s: %v", want, acts)
			}
		}
		e.verifyAudit()
	})
}

// Retries: a transient error is retried (same idempotency key), a
// permanent one fails the action at once; a person retries the failed
// action, and an execution that already happened is found, not repeated.
func TestActionRetriesAndFailures(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		rec := &recorder{fail: []error{errors.New("odoo: connection refused"), triage.Permanent(errors.New("picking is done"))}}
		e.svc.SetExecutor(rec)
		_, mia := e.user("mia", auth.RoleManager, "")
		r := e.send("1ZRET1", withReason("delayed"))
		a, err := e.svc.ProposeAction(mia, r.CaseID, triage.ProposeInput{Type: "post_note", Params: map[string]string{"body": "carrier delay"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.ProposeAction(mia, r.CaseID, triage.ProposeInput{Type: "post_note", Params: map[string]string{"body": "carrier delay"}}); apperr.KindOf(err) != apperr.KindConflict {
			t.Fatalf("duplicate proposal: %v", err)
		}
		if _, err := e.svc.ProposeAction(mia, r.CaseID, triage.ProposeInput{Type: "post_note", Params: map[string]string{"text": "x"}}); apperr.KindOf(err) != apperr.KindInvalid {
			t.Fatalf("bad params: %v", err)
		}
		if _, err := e.svc.ApproveAction(mia, a.ID, ""); err != nil { // post_note is not four-eyes
			t.Fatal(err)
		}
		key := e.jobs(triage.TaskActionExecute)[0]
		if err := e.svc.HandleExecute(e.ctx, e.delivery(key, 0, 7)); err == nil {
			t.Fatal("a transient failure was not returned for retry")
		}
		got, _ := e.svc.GetAction(e.ctx, a.ID)
		if got.State != triage.ActionExecuting || got.LastError == "" || got.Attempts != 1 {
			t.Fatalf("after a transient failure: %+v", got)
		}
		if err := e.svc.HandleExecute(e.ctx, e.delivery(key, 1, 7)); err == nil {
			t.Fatal("a permanent failure was not returned")
		}
		got, _ = e.svc.GetAction(e.ctx, a.ID)
		if got.State != triage.ActionFailed || got.FinishedAt == nil {
			t.Fatalf("after a permanent failure: %+v", got)
		}
		retried, err := e.svc.RetryAction(mia, a.ID)
		if err != nil || retried.State != triage.ActionApproved || retried.Run != 2 {
			t.Fatalf("retry: %+v %v", retried, err)
		}
		// The old run's job is stale now.
		if err := e.svc.HandleExecute(e.ctx, e.delivery(key, 2, 7)); err != nil {
			t.Fatalf("stale job: %v", err)
		}
		jobs := e.jobs(triage.TaskActionExecute)
		var next string
		for _, k := range jobs {
			if k != key {
				next = k
			}
		}
		if err := e.svc.HandleExecute(e.ctx, e.delivery(next, 0, 7)); err != nil {
			t.Fatalf("run 2: %v", err)
		}
		got, _ = e.svc.GetAction(e.ctx, a.ID)
		if got.State != triage.ActionSucceeded || len(rec.calls) != 3 {
			t.Fatalf("after the person's retry: %s, %d calls", got.State, len(rec.calls))
		}
		keys := map[string]bool{}
		for _, c := range rec.calls {
			keys[c.IdempotencyKey] = true
		}
		if len(keys) != 1 {
			t.Fatalf("attempts used %d idempotency keys, want 1", len(keys))
		}
		var res triage.Result
		_ = json.Unmarshal(got.Result, &res)
		if res.Target.ID == 0 {
			t.Errorf("result without a target: %s", got.Result)
		}
	})
}

// With no executor configured, an approved action fails at once with a
// clear reason, and is retryable later.
func TestActionWithoutExecutor(t *testing.T) {
	d := testenv.DB(t)
	e := newEnv(t, d, nil)
	_, mia := e.user("mia", auth.RoleManager, "")
	r := e.send("1ZNOX1", withReason("delayed"))
	a, err := e.svc.ProposeAction(mia, r.CaseID, triage.ProposeInput{Type: "create_ticket", Params: map[string]string{"title": "trace", "priority": "high"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ApproveAction(mia, a.ID, ""); err != nil {
		t.Fatal(err)
	}
	err = e.svc.HandleExecute(e.ctx, e.delivery(e.jobs(triage.TaskActionExecute)[0], 0, 7))
	if err == nil {
		t.Fatal("no error without an executor")
	}
	got, _ := e.svc.GetAction(e.ctx, a.ID)
	if got.State != triage.ActionFailed || got.LastError == "" {
		t.Fatalf("without executor: %+v", got)
	}
}
