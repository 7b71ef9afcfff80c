package triage

import (
	"context"
	"errors"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/queue"
)

// HandleExecute is the queue handler of TaskActionExecute. It is safe to
// run again at any point:
//
//  1. In one transaction it claims the action (approved → executing,
//     attempt counted). A job of an older run, or of an action that has
//     finished, does nothing.
//  2. It calls the executor with the action's idempotency key, which is
//     the same for every attempt and run: if a worker died after Odoo made
//     the change but before step 3 committed, the next attempt finds that
//     change instead of making it again.
//  3. In one transaction it records the outcome: succeeded, or failed for
//     good (permanent error, or attempts exhausted), or the error to retry
//     with the queue's backoff; and an audit entry for the external call.
func (s *Service) HandleExecute(ctx context.Context, job queue.Delivery) error {
	var j ActionJob
	if err := job.Decode(&j); err != nil {
		return err
	}
	ctx = audit.WithActor(ctx, audit.System)
	var a *Action
	var c *Case
	skip := false
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, ch *changes) error {
		var err error
		if a, err = lockAction(ctx, tx, j.ActionID); err != nil {
			return err
		}
		if a.Run != j.Run || (a.State != ActionApproved && a.State != ActionExecuting) {
			skip = true
			return nil
		}
		if c, err = lockCase(ctx, tx, a.CaseID); err != nil {
			return err
		}
		first := a.State == ActionApproved
		a.State = ActionExecuting
		a.Attempts++
		now := ch.now
		if a.StartedAt == nil || first {
			a.StartedAt = &now
		}
		a.UpdatedAt = now
		ch.actions[a.ID] = a
		if first {
			ch.line(c, TLAction, "", a.Type+" executing", map[string]any{"action_id": a.ID, "run": a.Run})
			ch.auditRecord(audit.Record{Action: "action.executing", SubjectType: "action", SubjectID: a.ID,
				Before: map[string]any{"state": ActionApproved}, After: map[string]any{"state": ActionExecuting, "run": a.Run}})
		}
		return nil
	})
	if err != nil {
		if apperr.KindOf(err) == apperr.KindNotFound {
			return queue.Permanent(err)
		}
		return err
	}
	if skip {
		return nil
	}
	exec, _, _ := s.hooks()
	req := s.request(a, c)
	var res Result
	var xerr error
	if exec == nil {
		xerr = Permanent(errors.New("no action executor is configured (set YARDMASTER_ODOO_URL)"))
	} else {
		res, xerr = exec.Execute(ctx, req)
	}
	final := xerr != nil && (isPermanent(xerr) || a.Attempts >= s.opts.ActionMaxAttempts || job.Attempt >= job.MaxRetry)
	err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx, ch *changes) error {
		cur, err := lockAction(ctx, tx, a.ID)
		if err != nil {
			return err
		}
		if cur.Run != j.Run || cur.State != ActionExecuting {
			return nil
		}
		cc, err := lockCase(ctx, tx, cur.CaseID)
		if err != nil {
			return err
		}
		call := audit.Record{Action: "odoo.call", SubjectType: "action", SubjectID: cur.ID, Before: req}
		now := ch.now
		cur.UpdatedAt = now
		switch {
		case xerr == nil:
			call.After, call.Detail = res, "ok"
			if res.Replayed {
				call.Detail = "ok (found the effect of an earlier attempt; nothing written twice)"
			}
			cur.State, cur.Result, cur.FinishedAt, cur.LastError = ActionSucceeded, rawJSON(res), &now, ""
			ch.line(cc, TLAction, "", fmt.Sprintf("%s succeeded: %s", cur.Type, targetText(res.Target)), map[string]any{"action_id": cur.ID, "result": res})
			ch.auditRecord(audit.Record{Action: "action.succeeded", SubjectType: "action", SubjectID: cur.ID,
				Before: map[string]any{"state": ActionExecuting}, After: map[string]any{"state": ActionSucceeded, "result": res}})
			ch.notifyAction(EventActionSucceeded, cur, cc)
		case final:
			call.Detail = "error: " + xerr.Error()
			cur.State, cur.FinishedAt, cur.LastError = ActionFailed, &now, truncate(xerr.Error(), 2000)
			ch.line(cc, TLAction, "", fmt.Sprintf("%s failed: %s", cur.Type, truncateRunes(xerr.Error(), 200)), map[string]any{"action_id": cur.ID, "attempts": cur.Attempts})
			ch.auditRecord(audit.Record{Action: "action.failed", SubjectType: "action", SubjectID: cur.ID,
				Before: map[string]any{"state": ActionExecuting}, After: map[string]any{"state": ActionFailed, "error": cur.LastError, "attempts": cur.Attempts}})
			ch.notifyAction(EventActionFailed, cur, cc)
		default:
			call.Detail = "error (will retry): " + xerr.Error()
			cur.LastError = truncate(xerr.Error(), 2000)
		}
		ch.auditRecord(call)
		ch.actions[cur.ID] = cur
		a = cur
		return nil
	})
	if err != nil {
		return err
	}
	switch {
	case xerr == nil:
		result := "succeeded"
		if res.Replayed {
			result = "replayed"
		}
		mActions.WithLabelValues(a.Type, result).Inc()
		return nil
	case final:
		mActions.WithLabelValues(a.Type, "failed").Inc()
		return queue.Permanent(xerr)
	default:
		mActions.WithLabelValues(a.Type, "retry").Inc()
		return xerr
	}
}

func targetText(t Target) string {
	switch {
	case t.Name != "":
		return fmt.Sprintf("%s %s (#%d)", t.Model, t.Name, t.ID)
	case t.ID != 0:
		return fmt.Sprintf("%s #%d", t.Model, t.ID)
	default:
		return t.Model
	}
}
