package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/odoo"
	"github.com/yardmaster/yardmaster/rules"
	"github.com/yardmaster/yardmaster/triage"
	"github.com/yardmaster/yardmaster/web"
)

// wireOdoo builds the Odoo connector when YARDMASTER_ODOO_URL is set: one
// client per process (one rate limit and circuit breaker for every worker),
// the mirror with its periodic sync on worker processes, an informational
// readiness check (Odoo being down must not take the API out of the load
// balancer), and the rules context lookup. Triage installs the executor
// with a.Triage.SetExecutor(a.OdooExecutor()).
func (a *App) wireOdoo(ctx context.Context) error {
	if !odoo.Enabled(a.Config) {
		a.Log.Info("odoo connector off (YARDMASTER_ODOO_URL is not set)")
		return nil
	}
	conn, err := odoo.NewConnector(a.Config, odoo.MirrorOptions{DB: a.DB}, a.Log, a.Now)
	if err != nil {
		return err
	}
	a.Odoo = conn
	a.Web.AddCheck(web.Check{Name: "odoo", Informational: true, Fn: func(ctx context.Context) (any, error) {
		h := conn.Client.Health()
		st, err := conn.Mirror.Status(ctx, a.DB.Read)
		if err != nil {
			return h, err
		}
		detail := map[string]any{"client": h, "mirror": st}
		switch {
		case h.Circuit != "closed":
			return detail, fmt.Errorf("circuit %s: %s", h.Circuit, h.LastError)
		case h.LastError != "":
			return detail, errors.New(h.LastError)
		}
		for _, s := range st {
			if s.LastError != "" {
				return detail, fmt.Errorf("sync of %s: %s", s.Model, s.LastError)
			}
		}
		return detail, nil
	}})
	if a.RunsWorkers() {
		conn.Mirror.Register(a.Queue, a.Config.OdooSyncInterval)
	}
	if a.Rules != nil {
		a.Rules.SetLookup(rulesLookup{m: conn.Mirror})
	}
	return nil
}

// OdooExecutor is the triage executor backed by Odoo, or nil when the
// connector is off (approved actions then wait).
func (a *App) OdooExecutor() triage.Executor {
	if a.Odoo == nil {
		return nil
	}
	return odooExecutor{x: a.Odoo.Executor}
}

// rulesLookup feeds the rules environment's order and customer from the
// mirror (never a live call). No match is "not known" (nil, nil).
type rulesLookup struct{ m *odoo.Mirror }

func (l rulesLookup) Lookup(ctx context.Context, idb bun.IDB, ev *intake.Event, sh *intake.Shipment) (*rules.Order, *rules.Customer, error) {
	var k odoo.LookupKey
	if ev != nil {
		k = odoo.LookupKey{TrackingNumber: ev.TrackingNumber, OrderRef: ev.OrderRef, PickingRef: ev.PickingRef}
	}
	if sh != nil {
		k.TrackingNumber = firstNonEmpty(k.TrackingNumber, sh.TrackingNumber)
		k.OrderRef = firstNonEmpty(k.OrderRef, sh.OrderRef)
		k.PickingRef = firstNonEmpty(k.PickingRef, sh.PickingRef)
	}
	res, err := l.m.Lookup(ctx, idb, k)
	if errors.Is(err, odoo.ErrNotMirrored) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var o *rules.Order
	if res.Order != nil {
		o = &rules.Order{Known: true, ID: res.Order.ID, Ref: res.Order.Name, Amount: res.Order.AmountTotal, Currency: res.Order.Currency,
			State: res.Order.State, CommitmentDate: res.Order.CommitmentDate, Salesperson: res.Order.SalespersonName, Team: res.Order.TeamName}
	}
	var c *rules.Customer
	if res.Customer != nil {
		c = &rules.Customer{Known: true, ID: res.Customer.ID, Name: res.Customer.Name, Tier: strings.ToLower(res.Customer.Tier),
			Country: res.Customer.Country, Salesperson: res.Customer.SalespersonName, Team: res.Customer.TeamName, Tags: res.Customer.Tags}
	}
	return o, c, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// odooExecutor adapts odoo.Executor to triage.Executor.
type odooExecutor struct{ x *odoo.Executor }

func toOdooAction(r triage.ActionRequest) odoo.Action {
	params := make(map[string]any, len(r.Params))
	for k, v := range r.Params {
		params[k] = v
	}
	a := odoo.Action{IdempotencyKey: r.IdempotencyKey, Type: odoo.ActionType(r.Type), Params: params,
		TrackingNumber: r.Case.TrackingNumber, OrderRef: r.Case.OrderRef, PickingRef: r.Case.PickingRef}
	if id, err := strconv.ParseInt(r.Case.CustomerID, 10, 64); err == nil && id > 0 {
		a.PartnerID = id
	}
	return a
}

// triageError marks what retrying cannot fix as permanent. Unavailability,
// serialization failures and credential problems stay retryable so the
// action waits for Odoo (or for the operator to fix the key).
func triageError(err error) error {
	switch {
	case errors.Is(err, odoo.ErrInvalidAction), errors.Is(err, odoo.ErrTargetNotFound), errors.Is(err, odoo.ErrUser), errors.Is(err, odoo.ErrAccess),
		errors.Is(err, odoo.ErrServer) && !errors.Is(err, odoo.ErrSerialization):
		return triage.Permanent(err)
	}
	return err
}

func (e odooExecutor) Preview(ctx context.Context, r triage.ActionRequest) (triage.Preview, error) {
	pl, err := e.x.Preview(ctx, toOdooAction(r))
	if err != nil {
		return triage.Preview{}, triageError(err)
	}
	p := triage.Preview{Summary: pl.Summary, Target: triage.Target{Model: pl.TargetModel, ID: pl.TargetID, Name: pl.TargetName}}
	for i, s := range pl.Steps {
		if s.Method != "write" {
			p.Create = true
		}
		prefix := ""
		if i > 0 || s.Model != pl.TargetModel {
			prefix = s.Model + "." // e.g. mail.activity.summary, mail.message.body
		}
		if s.Method == "message_post" {
			prefix = "chatter note."
		}
		for _, f := range sortedKeys(s.Values) {
			fc := triage.FieldChange{Field: prefix + f, After: s.Values[f]}
			if b, ok := s.Before[f]; ok {
				fc.Before = b
			}
			p.Changes = append(p.Changes, fc)
		}
	}
	if pl.Unchanged {
		p.Warnings = append(p.Warnings, "Odoo already has this value; executing changes nothing")
	}
	return p, nil
}

func (e odooExecutor) Execute(ctx context.Context, r triage.ActionRequest) (triage.Result, error) {
	res, err := e.x.Execute(ctx, toOdooAction(r))
	if err != nil {
		return triage.Result{}, triageError(err)
	}
	sent, _ := json.Marshal(res.Request)
	got, _ := json.Marshal(res.Response)
	detail := fmt.Sprintf("%s %s %d via %s; sent %s; answer %s", res.Outcome, res.Model, res.RecordID, res.Protocol, sent, got)
	return triage.Result{Target: triage.Target{Model: res.Model, ID: res.RecordID, Name: res.Plan.TargetName}, Detail: detail,
		Replayed: res.Outcome == odoo.OutcomeAlreadyDone}, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}
