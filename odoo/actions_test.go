package odoo_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/yardmaster/yardmaster/odoo"
	"github.com/yardmaster/yardmaster/odoo/odootest"
)

var fixedNow = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func newExecutor(t *testing.T, c *odoo.Client) *odoo.Executor {
	t.Helper()
	x, err := odoo.NewExecutor(odoo.ExecutorOptions{Client: c, TicketProjectID: 2, Now: func() time.Time { return fixedNow }})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// demoActions are one action of each type against the demo order.
func demoActions(d odootest.Demo, suffix string) []odoo.Action {
	return []odoo.Action{
		{IdempotencyKey: "act-resched-" + suffix, Type: odoo.ActionReschedulePicking, PickingRef: d.PickingName,
			Params: map[string]any{"scheduled_date": "2026-12-03T09:30:00+01:00", "reason": "Carrier reported a missed pickup"}},
		{IdempotencyKey: "act-note-" + suffix, Type: odoo.ActionPostNote, TrackingNumber: d.TrackingRef,
			Params: map[string]any{"body": "UPS: delivery exception <address>. Case C-1 in Yardmaster."}},
		{IdempotencyKey: "act-activity-" + suffix, Type: odoo.ActionScheduleActivity, OrderRef: d.OrderName,
			Params: map[string]any{"summary": "Call customer about late delivery", "note": "Shipment is 2 days late.\n\nPromised date missed.", "date_deadline": "2026-11-28"}},
		{IdempotencyKey: "act-ticket-" + suffix, Type: odoo.ActionCreateTicket, OrderID: d.OrderID,
			Params: map[string]any{"title": "Lost parcel " + d.TrackingRef, "description": "Carrier confirmed loss.", "priority": "high"}},
	}
}

// count counts records in the emulator carrying the action's marker.
func count(t *testing.T, srv *odootest.Server, a odoo.Action) int {
	t.Helper()
	marker := odoo.Marker(a.IdempotencyKey)
	var model, field string
	switch a.Type {
	case odoo.ActionPostNote, odoo.ActionReschedulePicking:
		model, field = "mail.message", "body"
	case odoo.ActionScheduleActivity:
		model, field = "mail.activity", "note"
	case odoo.ActionCreateTicket:
		model, field = "project.task", "description"
		if rows, _ := srv.Records("ir.model", []any{[]any{"model", "=", "helpdesk.ticket"}}); len(rows) == 1 {
			model = "helpdesk.ticket"
		}
	}
	rows, err := srv.Records(model, []any{[]any{field, "like", marker}}, field)
	if err != nil {
		t.Fatal(err)
	}
	return len(rows)
}

// TestActions is acceptance 3: the same action suite over XML-RPC and
// JSON-2: each type writes exactly what its preview shows, once.
func TestActions(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			srv := odootest.New(t, odootest.Options{Version: p.version})
			c := newClient(t, srv, p.protocol)
			x := newExecutor(t, c)
			ctx := context.Background()
			d := srv.Demo()
			before, _ := srv.Records("stock.picking", []any{[]any{"id", "=", d.PickingID}}, "date_deadline")
			for _, a := range demoActions(d, p.name) {
				t.Run(string(a.Type), func(t *testing.T) {
					plan, err := x.Preview(ctx, a)
					if err != nil {
						t.Fatalf("preview: %v", err)
					}
					res, err := x.Execute(ctx, a)
					if err != nil {
						t.Fatalf("execute: %v", err)
					}
					if d := cmp.Diff(plan, res.Plan); d != "" {
						t.Errorf("executed steps differ from the preview (-preview +executed):\n%s", d)
					}
					want := odoo.OutcomeCreated
					if a.Type == odoo.ActionReschedulePicking {
						want = odoo.OutcomeUpdated
					}
					if res.Outcome != want || res.RecordID == 0 || res.Protocol != p.protocol || res.Request["steps"] == nil {
						t.Errorf("result %+v", res)
					}
					again, err := x.Execute(ctx, a)
					if err != nil {
						t.Fatalf("second run: %v", err)
					}
					want = odoo.OutcomeAlreadyDone
					if a.Type == odoo.ActionReschedulePicking {
						want = odoo.OutcomeUnchanged
					}
					if again.Outcome != want {
						t.Errorf("second run outcome %s, want %s", again.Outcome, want)
					}
					if n := count(t, srv, a); n != 1 {
						t.Errorf("%d records carry the marker, want 1", n)
					}
				})
			}
			// reschedule wrote scheduled_date in UTC and left date_deadline alone.
			rows, _ := srv.Records("stock.picking", []any{[]any{"id", "=", d.PickingID}}, "scheduled_date", "date_deadline")
			if rows[0]["scheduled_date"] != "2026-12-03 08:30:00" || rows[0]["date_deadline"] != before[0]["date_deadline"] {
				t.Errorf("picking after reschedule: %v (before %v)", rows[0], before[0])
			}
			// The note is an internal log note: nobody was emailed for it.
			msgs, _ := srv.Records("mail.message", []any{[]any{"body", "like", "act-note-" + p.name}}, "subtype_id", "model", "res_id", "body")
			if len(msgs) != 1 || msgs[0]["subtype_id"].([]any)[1] != "Note" || msgs[0]["model"] != "sale.order" || !strings.Contains(msgs[0]["body"].(string), "&lt;address&gt;") {
				t.Errorf("note %v", msgs)
			}
			for _, e := range srv.Emails() {
				if e.Kind == "message" {
					t.Errorf("a follower was emailed: %+v", e)
				}
			}
			// The activity is the Exception type, for the salesperson, on the order.
			acts, _ := srv.Records("mail.activity", []any{[]any{"note", "like", "act-activity-" + p.name}}, "activity_type_id", "user_id", "res_model", "res_id", "date_deadline", "summary")
			if len(acts) != 1 {
				t.Fatalf("activities %v", acts)
			}
			a := acts[0]
			if a["activity_type_id"].([]any)[1] != "Exception" || a["user_id"].([]any)[0] != d.SalespersonID || a["res_model"] != "sale.order" || a["res_id"] != d.OrderID || a["date_deadline"] != "2026-11-28" {
				t.Errorf("activity %v", a)
			}
			// No Helpdesk: a task in the configured project, for the customer.
			tasks, _ := srv.Records("project.task", []any{[]any{"description", "like", "act-ticket-" + p.name}}, "project_id", "partner_id", "priority", "name")
			if len(tasks) != 1 || tasks[0]["project_id"].([]any)[0] != int64(2) || tasks[0]["partner_id"].([]any)[0] != d.CustomerID || tasks[0]["priority"] != "1" {
				t.Errorf("task %v", tasks)
			}
		})
	}
}

func TestCreateTicketHelpdesk(t *testing.T) {
	srv := odootest.New(t, odootest.Options{Version: 18, Helpdesk: true})
	x := newExecutor(t, newClient(t, srv, odoo.ProtocolXMLRPC))
	a := demoActions(srv.Demo(), "hd")[3]
	res, err := x.Execute(context.Background(), a)
	if err != nil || res.Model != "helpdesk.ticket" {
		t.Fatalf("%+v %v", res, err)
	}
	rows, _ := srv.Records("helpdesk.ticket", []any{[]any{"id", "=", res.RecordID}}, "priority", "partner_id")
	if len(rows) != 1 || rows[0]["priority"] != "2" {
		t.Errorf("ticket %v", rows)
	}
	// Uninstalled later: the next ticket falls back to a task.
	srv.SetHelpdesk(false)
	x2 := newExecutor(t, newClient(t, srv, odoo.ProtocolXMLRPC))
	res, err = x2.Execute(context.Background(), demoActions(srv.Demo(), "hd2")[3])
	if err != nil || res.Model != "project.task" {
		t.Fatalf("fallback %+v %v", res, err)
	}
}

func TestActionValidation(t *testing.T) {
	srv := odootest.New(t)
	x := newExecutor(t, newClient(t, srv, odoo.ProtocolXMLRPC))
	d := srv.Demo()
	done, _ := srv.Records("stock.picking", []any{[]any{"state", "=", "done"}}, "name")
	for _, tc := range []struct {
		name string
		a    odoo.Action
		want error
		msg  string
	}{
		{"key", odoo.Action{IdempotencyKey: "has space", Type: odoo.ActionPostNote, OrderID: d.OrderID, Params: map[string]any{"body": "x"}}, odoo.ErrInvalidAction, "idempotency key"},
		{"type", odoo.Action{IdempotencyKey: "k1", Type: "refund", OrderID: d.OrderID}, odoo.ErrInvalidAction, "unknown action type"},
		{"body", odoo.Action{IdempotencyKey: "k2", Type: odoo.ActionPostNote, OrderID: d.OrderID}, odoo.ErrInvalidAction, "body is required"},
		{"body type", odoo.Action{IdempotencyKey: "k3", Type: odoo.ActionPostNote, OrderID: d.OrderID, Params: map[string]any{"body": 12}}, odoo.ErrInvalidAction, "must be text"},
		{"date", odoo.Action{IdempotencyKey: "k4", Type: odoo.ActionReschedulePicking, PickingID: d.PickingID, Params: map[string]any{"scheduled_date": "tomorrow"}}, odoo.ErrInvalidAction, "RFC 3339"},
		{"past", odoo.Action{IdempotencyKey: "k5", Type: odoo.ActionReschedulePicking, PickingID: d.PickingID, Params: map[string]any{"scheduled_date": "2020-01-01T00:00:00Z"}}, odoo.ErrInvalidAction, "in the past"},
		{"done picking", odoo.Action{IdempotencyKey: "k6", Type: odoo.ActionReschedulePicking, PickingRef: done[0]["name"].(string), Params: map[string]any{"scheduled_date": "2026-12-01T00:00:00Z"}}, odoo.ErrInvalidAction, "cannot be rescheduled"},
		{"missing picking", odoo.Action{IdempotencyKey: "k7", Type: odoo.ActionReschedulePicking, PickingRef: "WH/OUT/99999", Params: map[string]any{"scheduled_date": "2026-12-01T00:00:00Z"}}, odoo.ErrTargetNotFound, "WH/OUT/99999"},
		{"missing order", odoo.Action{IdempotencyKey: "k8", Type: odoo.ActionPostNote, OrderRef: "S99999", Params: map[string]any{"body": "x"}}, odoo.ErrTargetNotFound, "S99999"},
		{"priority", odoo.Action{IdempotencyKey: "k9", Type: odoo.ActionCreateTicket, OrderID: d.OrderID, Params: map[string]any{"title": "t", "priority": "asap"}}, odoo.ErrInvalidAction, "priority"},
		{"user id text", odoo.Action{IdempotencyKey: "k12", Type: odoo.ActionScheduleActivity, OrderID: d.OrderID, Params: map[string]any{"summary": "s", "user_id": "seven"}}, odoo.ErrInvalidAction, "whole number"},
		{"notify text", odoo.Action{IdempotencyKey: "k13", Type: odoo.ActionScheduleActivity, OrderID: d.OrderID, Params: map[string]any{"summary": "s", "notify": "maybe"}}, odoo.ErrInvalidAction, "true or false"},
		{"user id", odoo.Action{IdempotencyKey: "k10", Type: odoo.ActionScheduleActivity, OrderID: d.OrderID, Params: map[string]any{"summary": "s", "user_id": 1.5}}, odoo.ErrInvalidAction, "whole number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := x.Execute(context.Background(), tc.a)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) || odoo.IsRetryable(err) {
				t.Fatalf("got %v, want %v mentioning %q", err, tc.want, tc.msg)
			}
		})
	}
	// Parameters as text, the way Triage stores them.
	res, err := x.Execute(context.Background(), odoo.Action{IdempotencyKey: "k14", Type: odoo.ActionScheduleActivity, OrderID: d.OrderID,
		Params: map[string]any{"summary": "Text params", "user_id": "2", "notify": "false"}})
	if err != nil || res.Plan.Steps[0].Values["user_id"] != int64(2) || res.Plan.Steps[0].Context["mail_activity_quick_update"] != true {
		t.Errorf("text parameters: %+v %v", res.Plan, err)
	}
	x2, _ := odoo.NewExecutor(odoo.ExecutorOptions{Client: newClient(t, srv, odoo.ProtocolXMLRPC)})
	_, err = x2.Execute(context.Background(), odoo.Action{IdempotencyKey: "k11", Type: odoo.ActionCreateTicket, OrderID: d.OrderID, Params: map[string]any{"title": "t"}})
	if !errors.Is(err, odoo.ErrInvalidAction) || !strings.Contains(err.Error(), "YARDMASTER_ODOO_TICKET_PROJECT_ID") {
		t.Errorf("no project configured: %v", err)
	}
}

// TestDowntimeExactlyOnce is acceptance 2 (second part): while Odoo is down
// the circuit opens and approved actions wait (retryable errors); after
// recovery every action executes exactly once, also when Odoo committed a
// create but the answer was lost.
func TestDowntimeExactlyOnce(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			srv := odootest.New(t, odootest.Options{Version: p.version})
			c := newClient(t, srv, p.protocol, func(o *odoo.Options) {
				o.BreakerFailures, o.BreakerOpenFor, o.MaxAttempts = 3, 50*time.Millisecond, 2
			})
			x := newExecutor(t, c)
			ctx := context.Background()
			if err := c.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			var actions []odoo.Action
			for i := range 3 {
				actions = append(actions, demoActions(srv.Demo(), fmt.Sprintf("%s-%d", p.name, i))...)
			}
			srv.SetDown(true)
			for _, a := range actions {
				if _, err := x.Execute(ctx, a); !odoo.IsRetryable(err) {
					t.Fatalf("%s while down: %v (must be retryable so the action waits)", a.IdempotencyKey, err)
				}
			}
			if c.BreakerState() != "open" {
				t.Fatalf("circuit %s while Odoo is down", c.BreakerState())
			}
			srv.SetDown(false)
			// Lost answers after commit, for a note and a ticket.
			srv.Inject(odootest.Injection{Method: "message_post", Kind: odootest.CommitThenReset, Times: 1})
			srv.Inject(odootest.Injection{Method: "create", Kind: odootest.CommitThenFault, Times: 1})
			waitClosed(t, c)
			// The queue retries failed actions until they succeed; run
			// every action a few times, as redeliveries would.
			pending := map[string]bool{}
			for _, a := range actions {
				pending[a.IdempotencyKey] = true
			}
			for round := 0; round < 5 && len(pending) > 0; round++ {
				for _, a := range actions {
					_, err := x.Execute(ctx, a)
					switch {
					case err == nil:
						delete(pending, a.IdempotencyKey)
					case !odoo.IsRetryable(err):
						t.Fatalf("%s: %v", a.IdempotencyKey, err)
					}
				}
				waitClosed(t, c)
			}
			if len(pending) > 0 {
				t.Fatalf("not executed after recovery: %v", pending)
			}
			for _, a := range actions {
				if a.Type == odoo.ActionReschedulePicking {
					a.Type = odoo.ActionPostNote // its reason note carries the marker
				}
				if n := count(t, srv, a); n != 1 {
					t.Errorf("%s: %d records, want exactly 1", a.IdempotencyKey, n)
				}
			}
		})
	}
}

// waitClosed waits (without asserting any duration) for the breaker to
// leave the open state.
func waitClosed(t *testing.T, c *odoo.Client) {
	t.Helper()
	for i := 0; c.BreakerState() == "open"; i++ {
		if i > 500 {
			t.Fatal("circuit never half-opened")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
