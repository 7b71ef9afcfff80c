package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/rules"
	"github.com/yardmaster/yardmaster/triage"
	"github.com/yardmaster/yardmaster/triage/ai"
	"github.com/yardmaster/yardmaster/triage/ai/anomaly"
)

// wireTriage builds the case queue: the policy (YARDMASTER_TRIAGE_POLICY),
// the service chained after rules in the intake pipeline (plus its
// after-commit stage), its job handlers and sweeps, the Odoo executor when
// the connector is on, the AI summary service over triage's case facts and
// proposals, the anomaly detector's disruption sink, and the API.
func (a *App) wireTriage(ctx context.Context) error {
	policy, err := triage.LoadPolicy(a.Config.TriagePolicy)
	if err != nil {
		return policyError(err)
	}
	opts := triage.Options{DB: a.DB, Policy: policy, Now: a.Now, Log: a.Log, Queue: a.Queue, Box: a.Box}
	if a.Intake != nil {
		opts.Events = a.Intake.Pipeline
	}
	svc, err := triage.New(opts)
	if err != nil {
		return policyError(err)
	}
	a.Triage = svc
	if a.Rules != nil {
		a.Rules.SetNext(svc.AfterRules)
	}
	if a.Intake != nil {
		a.Intake.Pipeline.AddStage(svc.Committer())
	}
	svc.Register(a.Queue)
	if x := a.OdooExecutor(); x != nil {
		svc.SetExecutor(x)
	}
	if a.AI != nil {
		src := triageAI{a: a, svc: svc}
		if a.AI.Service == nil {
			svc.SetSummaries(a.WireAIService(src, src, nil, nil))
		} else {
			svc.SetSummaries(a.AI.Service)
		}
		if a.AI.Sweeper != nil {
			a.AI.Sweeper.SetSink(src)
		}
	}
	if a.RunsAPI() {
		a.Web.TriageRoutes(svc)
	}
	a.AddPruner(Pruner{Name: "triage_candidates", Fn: func(ctx context.Context, now time.Time) (int, error) {
		return svc.PruneCandidates(ctx, now)
	}})
	return nil
}

// policyError reports every problem of the policy file, one line each.
func policyError(err error) error {
	e, ok := apperr.As(err)
	if !ok || len(e.Fields) == 0 {
		return fmt.Errorf("YARDMASTER_TRIAGE_POLICY: %w", err)
	}
	lines := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		lines[i] = "YARDMASTER_TRIAGE_POLICY: " + f.Field + ": " + f.Message
	}
	return errors.New(strings.Join(lines, "\n"))
}

// triageAI serves the AI feature from triage: case facts for summaries,
// proposals from a summary's next step, and disruption cases from
// exception-rate spikes.
type triageAI struct {
	a   *App
	svc *triage.Service
}

// CaseFacts assembles what a summary may say about a case.
func (t triageAI) CaseFacts(ctx context.Context, caseID string) (ai.Facts, error) {
	d, err := t.svc.GetDetail(ctx, caseID)
	if err != nil {
		return ai.Facts{}, err
	}
	c := d.Case
	f := ai.Facts{Case: ai.CaseFacts{ID: c.ID, Kind: ai.KindShipment, Title: c.Title, Severity: string(c.Severity),
		Status: string(c.State), Priority: c.Priority, OpenedAt: c.OpenedAt, SLADueAt: c.DueAt, Carrier: c.Carrier,
		TrackingNumber: c.TrackingNumber}}
	if c.Kind == triage.KindDisruption {
		f.Case.Kind = ai.KindDisruption
		f.Case.AffectedShipments = c.ChildCount
	}
	st := intake.Store{}
	if c.ShipmentID != "" && c.Kind != triage.KindDisruption {
		if sh, err := st.GetShipment(ctx, t.a.DB.Read, c.ShipmentID); err == nil {
			f.Shipment = sh
			evs, err := st.ShipmentEvents(ctx, t.a.DB.Read, sh.ID, ai.MaxTimelineEvents*4)
			if err != nil {
				return ai.Facts{}, err
			}
			for _, e := range evs {
				f.Timeline = append(f.Timeline, *e)
			}
		}
	}
	if n := len(d.Evaluations); n > 0 {
		var rec rules.Record
		if err := json.Unmarshal(d.Evaluations[n-1], &rec); err == nil && rec.Outcome != nil {
			o := rec.Outcome
			f.Evaluation = ai.Evaluation{PrimaryRule: ai.RuleRef{ID: o.RuleID, Category: o.Category, Severity: string(o.Severity)},
				Severity: string(o.Severity), RulesetVersion: strconv.FormatInt(rec.RulesetVersion, 10)}
			cats := map[string]bool{}
			for _, m := range rec.Matches {
				f.Evaluation.MatchedRules = append(f.Evaluation.MatchedRules, ai.RuleRef{ID: m.RuleID, Category: m.Category, Severity: string(m.Severity)})
				if m.Category != "" && !cats[m.Category] && !m.Suppressed {
					cats[m.Category] = true
					f.Evaluation.Categories = append(f.Evaluation.Categories, m.Category)
				}
			}
		}
	}
	if c.OrderRef != "" || c.PickingRef != "" || c.CustomerName != "" {
		f.Odoo = &ai.OdooContext{OrderRef: c.OrderRef, PickingRef: c.PickingRef, AmountTotal: c.OrderValue, Currency: c.Currency,
			Customer: ai.Contact{Role: "customer", Name: c.CustomerName}, Salesperson: ai.Contact{Role: "salesperson", Name: c.Salesperson}}
	}
	for _, cm := range d.Comments {
		f.Notes = append(f.Notes, ai.Note{Author: cm.AuthorName, Body: cm.Body, At: cm.CreatedAt})
	}
	return f, nil
}

// ProposeFromSummary records a summary's next step as a proposed action.
func (t triageAI) ProposeFromSummary(ctx context.Context, tx bun.IDB, caseID string, step ai.ProposedAction, s ai.Summary) error {
	params := map[string]string{}
	for k, v := range step.Params {
		params[k] = v
	}
	if step.Type == "create_ticket" {
		// The AI names the ticket "name"; triage and Odoo call it title.
		if v, ok := params["name"]; ok {
			if params["title"] == "" {
				params["title"] = v
			}
			delete(params, "name")
		}
	}
	rationale := step.Rationale
	if rationale == "" {
		rationale = "recommended by the " + s.GeneratedBy + " summary"
	}
	return t.svc.ProposeFromAI(ctx, tx, caseID, triage.ProposeInput{Type: step.Type, Params: params, Rationale: rationale})
}

// Disruption opens or updates the disruption case of a spike.
func (t triageAI) Disruption(ctx context.Context, tx bun.IDB, s anomaly.Spike) error {
	k := triage.DisruptionKey{Carrier: s.Carrier, Lane: "*", Reason: "*"}
	if s.Lane != nil {
		k.Lane = s.Lane.Origin + ">" + s.Lane.Destination
	}
	if s.Reason != "" {
		k.Reason = s.Reason
	}
	detail := fmt.Sprintf("exception rate %.1f%% against a baseline of %.1f%% (%d of %d events, z %.1f)",
		s.Observed*100, s.Expected*100, s.Exceptions, s.Volume, s.ZScore)
	_, err := t.svc.OpenDisruption(ctx, tx, triage.DisruptionInput{Key: k, Source: "anomaly", Detail: detail,
		WindowStart: s.Window.Start, Evidence: s})
	return err
}
