package triage

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/ids"
	"github.com/yardmaster/yardmaster/internal/queue"
)

// ActionState is where an action is: proposed → approved | rejected →
// executing → succeeded | failed. A failed action can be retried by a
// person (back to approved, next run).
type ActionState string

// Action states.
const (
	ActionProposed  ActionState = "proposed"
	ActionApproved  ActionState = "approved"
	ActionRejected  ActionState = "rejected"
	ActionExecuting ActionState = "executing"
	ActionSucceeded ActionState = "succeeded"
	ActionFailed    ActionState = "failed"
)

// ActionStates lists the states for filters.
var ActionStates = []ActionState{ActionProposed, ActionApproved, ActionRejected, ActionExecuting, ActionSucceeded, ActionFailed}

// Action origins.
const (
	OriginRule  = "rule"
	OriginHuman = "human"
	OriginAI    = "ai"
)

// TaskActionExecute runs one approved action (payload ActionJob).
const TaskActionExecute = "triage:action_execute"

// Params are an action's parameters (strings, as rule templates render
// them), stored as JSON.
type Params map[string]string

// Value stores params as JSON text.
func (p Params) Value() (driver.Value, error) {
	if p == nil {
		return "{}", nil
	}
	b, err := json.Marshal(map[string]string(p))
	return string(b), err
}

// Scan reads JSON text.
func (p *Params) Scan(src any) error { return scanJSON(src, (*map[string]string)(p)) }

// Action is a proposed change to Odoo and its approval and execution.
type Action struct {
	bun.BaseModel `bun:"table:triage_actions" json:"-"`

	ID        string      `bun:"id,pk" json:"id"`
	CaseID    string      `bun:"case_id" json:"case_id"`
	Type      string      `bun:"type" json:"type"`
	Params    Params      `bun:"params,type:text" json:"params"`
	State     ActionState `bun:"state" json:"state"`
	Origin    string      `bun:"origin" json:"origin"`
	RuleID    string      `bun:"rule_id" json:"rule_id,omitempty"`
	Rationale string      `bun:"rationale" json:"rationale,omitempty"`
	DedupeKey string      `bun:"dedupe_key" json:"-"`
	// ProposedBy is the identity of the proposer ("user:<id>", "token:<id>",
	// "rule:<rule id>", "ai:summary"); four-eyes compares it.
	ProposedBy     string     `bun:"proposed_by" json:"proposed_by"`
	ProposedByName string     `bun:"proposed_by_name" json:"proposed_by_name,omitempty"`
	DecidedBy      string     `bun:"decided_by" json:"decided_by,omitempty"`
	DecidedByName  string     `bun:"decided_by_name" json:"decided_by_name,omitempty"`
	DecidedAt      *time.Time `bun:"decided_at" json:"decided_at,omitempty"`
	DecisionNote   string     `bun:"decision_note" json:"decision_note,omitempty"`
	Preview        RawJSON    `bun:"preview,type:text" json:"preview,omitempty"`
	PreviewedAt    *time.Time `bun:"previewed_at" json:"previewed_at,omitempty"`
	// IdempotencyKey is the same for every attempt and run of the action.
	IdempotencyKey string     `bun:"idempotency_key" json:"idempotency_key"`
	Run            int        `bun:"run" json:"run"`
	Attempts       int        `bun:"attempts" json:"attempts"`
	LastError      string     `bun:"last_error" json:"last_error,omitempty"`
	Result         RawJSON    `bun:"result,type:text" json:"result,omitempty"`
	StartedAt      *time.Time `bun:"started_at" json:"started_at,omitempty"`
	FinishedAt     *time.Time `bun:"finished_at" json:"finished_at,omitempty"`
	// FourEyes says the proposer may not approve this action.
	FourEyes  bool      `bun:"-" json:"four_eyes"`
	Version   int       `bun:"version" json:"version"`
	CreatedAt time.Time `bun:"created_at" json:"created_at"`
	UpdatedAt time.Time `bun:"updated_at" json:"updated_at"`
}

// ActionJob is the payload of TaskActionExecute.
type ActionJob struct {
	ActionID string `json:"action_id"`
	Run      int    `json:"run"`
}

// Parameter rules per action type: required and optional names, and
// checks. Rules render parameters from templates, so everything is a
// string here.
type paramSpec struct {
	required []string
	optional []string
	check    func(p Params) []apperr.FieldError
}

var actionParams = map[string]paramSpec{
	"reschedule_picking": {optional: []string{"scheduled_date", "date", "picking", "reason"}, check: func(p Params) []apperr.FieldError {
		v, field := p["scheduled_date"], "params.scheduled_date"
		if strings.TrimSpace(v) == "" {
			v, field = p["date"], "params.date"
		}
		if strings.TrimSpace(v) == "" {
			return []apperr.FieldError{{Field: "params.scheduled_date", Message: "required (the new date, e.g. 2026-12-01 or 2026-12-01T09:00:00Z)"}}
		}
		if _, err := ParseActionDate(v); err != nil {
			return []apperr.FieldError{{Field: field, Message: err.Error()}}
		}
		return nil
	}},
	"post_note": {required: []string{"body"}, optional: []string{"target"}, check: checkTarget},
	"schedule_activity": {required: []string{"summary"}, optional: []string{"note", "days", "date_deadline", "user_id", "target", "activity_type", "notify"},
		check: func(p Params) []apperr.FieldError {
			var fe []apperr.FieldError
			if d := strings.TrimSpace(p["days"]); d != "" {
				n, err := strconv.Atoi(d)
				if err != nil || n < 0 || n > 365 {
					fe = append(fe, apperr.FieldError{Field: "params.days", Message: "must be a whole number of days from 0 to 365"})
				}
			}
			if d := strings.TrimSpace(p["date_deadline"]); d != "" {
				if _, err := time.Parse(time.DateOnly, d); err != nil {
					fe = append(fe, apperr.FieldError{Field: "params.date_deadline", Message: "must be a date like 2026-12-01"})
				}
			}
			if u := strings.TrimSpace(p["user_id"]); u != "" {
				if n, err := strconv.ParseInt(u, 10, 64); err != nil || n <= 0 {
					fe = append(fe, apperr.FieldError{Field: "params.user_id", Message: "must be an Odoo user id"})
				}
			}
			if n := strings.ToLower(strings.TrimSpace(p["notify"])); n != "" && n != "true" && n != "false" {
				fe = append(fe, apperr.FieldError{Field: "params.notify", Message: "must be true or false"})
			}
			return append(fe, checkTarget(p)...)
		}},
	"create_ticket": {required: []string{"title"}, optional: []string{"description", "priority", "team_id", "project_id"}, check: func(p Params) []apperr.FieldError {
		var fe []apperr.FieldError
		switch strings.ToLower(strings.TrimSpace(p["priority"])) {
		case "", "0", "1", "2", "3", "low", "medium", "normal", "high", "urgent", "critical":
		default:
			fe = append(fe, apperr.FieldError{Field: "params.priority", Message: "must be low, medium, high, urgent or 0-3"})
		}
		for _, k := range []string{"team_id", "project_id"} {
			if v := strings.TrimSpace(p[k]); v != "" {
				if n, err := strconv.ParseInt(v, 10, 64); err != nil || n <= 0 {
					fe = append(fe, apperr.FieldError{Field: "params." + k, Message: "must be an Odoo record id"})
				}
			}
		}
		return fe
	}},
}

func checkTarget(p Params) []apperr.FieldError {
	if t := p["target"]; t != "" && t != "order" && t != "picking" {
		return []apperr.FieldError{{Field: "params.target", Message: "must be order or picking"}}
	}
	return nil
}

// executorParams turns stored parameters into the executor's vocabulary
// at execution time: date → scheduled_date (RFC 3339), days → date_deadline
// (counted from now), picking → the target picking reference.
func executorParams(typ string, p Params, ref *CaseRef, now time.Time) map[string]string {
	out := make(map[string]string, len(p))
	for k, v := range p {
		if strings.TrimSpace(v) != "" {
			out[k] = strings.TrimSpace(v)
		}
	}
	switch typ {
	case "reschedule_picking":
		v := out["scheduled_date"]
		if v == "" {
			v = out["date"]
		}
		delete(out, "date")
		if t, err := ParseActionDate(v); err == nil {
			out["scheduled_date"] = t.Format(time.RFC3339)
		}
		if pk := out["picking"]; pk != "" {
			ref.PickingRef = pk
		}
		delete(out, "picking")
	case "schedule_activity":
		if d, ok := out["days"]; ok {
			if n, err := strconv.Atoi(d); err == nil && out["date_deadline"] == "" {
				out["date_deadline"] = now.UTC().AddDate(0, 0, n).Format(time.DateOnly)
			}
			delete(out, "days")
		}
	}
	return out
}

// ParseActionDate reads a reschedule date: RFC 3339 or YYYY-MM-DD (noon UTC).
func ParseActionDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.Add(12 * time.Hour).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date: write 2026-12-01 or 2026-12-01T09:00:00Z", s)
}

// ValidateAction checks an action type and its parameters.
func ValidateAction(typ string, p Params) error {
	spec, ok := actionParams[typ]
	if !ok {
		return apperr.Invalid("unknown action type", apperr.FieldError{Field: "type", Message: fmt.Sprintf("%q is not one of reschedule_picking, post_note, schedule_activity, create_ticket", typ)})
	}
	var fe []apperr.FieldError
	allowed := map[string]bool{}
	for _, k := range spec.required {
		allowed[k] = true
		if strings.TrimSpace(p[k]) == "" {
			fe = append(fe, apperr.FieldError{Field: "params." + k, Message: "required"})
		}
	}
	for _, k := range spec.optional {
		allowed[k] = true
	}
	names := make([]string, 0, len(p))
	for k := range p {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !allowed[k] {
			fe = append(fe, apperr.FieldError{Field: "params." + k, Message: "unknown parameter for " + typ})
		}
		if !utf8.ValidString(p[k]) || len(p[k]) > 4000 {
			fe = append(fe, apperr.FieldError{Field: "params." + k, Message: "must be valid text of at most 4000 bytes"})
		}
	}
	if len(fe) == 0 && spec.check != nil {
		fe = append(fe, spec.check(p)...)
	}
	if len(fe) > 0 {
		return apperr.Invalid("invalid action parameters", fe...)
	}
	return nil
}

func dedupeKey(typ string, p Params) string {
	b, _ := json.Marshal(map[string]string(p)) // map keys are sorted
	sum := sha256.Sum256(append([]byte(typ+"\x00"), b...))
	return hex.EncodeToString(sum[:12])
}

// newAction builds a proposed action.
func (s *Service) newAction(c *Case, typ string, p Params, origin, ruleID, rationale, by, byName string, now time.Time) *Action {
	if p == nil {
		p = Params{}
	}
	id := ids.At(now)
	a := &Action{ID: id, CaseID: c.ID, Type: typ, Params: p, State: ActionProposed, Origin: origin, RuleID: ruleID,
		Rationale: rationale, DedupeKey: dedupeKey(typ, p), ProposedBy: by, ProposedByName: byName,
		IdempotencyKey: "yardmaster-action-" + id, CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := ValidateAction(typ, p); err != nil {
		a.LastError = err.Error()
	}
	return a
}

func (s *Service) decorate(a *Action) *Action {
	a.FourEyes = s.policy.fourEyes(a.Type)
	return a
}

// pendingActionKeys returns the dedupe keys of pending actions per case.
func pendingActionKeys(ctx context.Context, idb bun.IDB, caseIDs []string) (map[string]map[string]bool, error) {
	out := map[string]map[string]bool{}
	for _, part := range chunkStrings(caseIDs, 500) {
		var rows []struct {
			CaseID    string `bun:"case_id"`
			DedupeKey string `bun:"dedupe_key"`
		}
		if err := idb.NewSelect().Model((*Action)(nil)).Column("case_id", "dedupe_key").Where("case_id IN (?)", bun.In(part)).
			Where("state IN (?)", bun.In([]ActionState{ActionProposed, ActionApproved, ActionExecuting})).Scan(ctx, &rows); err != nil {
			return nil, fmt.Errorf("load pending actions: %w", err)
		}
		for _, r := range rows {
			if out[r.CaseID] == nil {
				out[r.CaseID] = map[string]bool{}
			}
			out[r.CaseID][r.DedupeKey] = true
		}
	}
	return out, nil
}

func updateAction(ctx context.Context, tx bun.IDB, a *Action) error {
	a.Version++
	_, err := tx.NewUpdate().Model(a).WherePK().ExcludeColumn("id", "case_id", "created_at").Exec(ctx)
	if err != nil {
		return fmt.Errorf("update action %s: %w", a.ID, err)
	}
	return nil
}

func lockAction(ctx context.Context, tx bun.IDB, id string) (*Action, error) {
	a := new(Action)
	q := tx.NewSelect().Model(a).Where("id = ?", id)
	if isPG(tx) {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, apperr.NotFound("action "+id, err)
		}
		return nil, fmt.Errorf("load action %s: %w", id, err)
	}
	return a, nil
}

// lockActionAndCase loads an action and then its case for update (the
// action first, as everywhere actions and cases are locked together).
func lockActionAndCase(ctx context.Context, tx bun.IDB, id string) (*Action, *Case, error) {
	a, err := lockAction(ctx, tx, id)
	if err != nil {
		return nil, nil, err
	}
	c, err := lockCase(ctx, tx, a.CaseID)
	if err != nil {
		return nil, nil, err
	}
	return a, c, nil
}

// GetAction returns one action.
func (s *Service) GetAction(ctx context.Context, id string) (*Action, error) {
	a := new(Action)
	if err := s.db.Read.NewSelect().Model(a).Where("id = ?", id).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, apperr.NotFound("action "+id, err)
		}
		return nil, fmt.Errorf("get action %s: %w", id, err)
	}
	return s.decorate(a), nil
}

// ActionFilter selects actions for listing.
type ActionFilter struct {
	State  ActionState
	Type   string
	CaseID string
	Before string // cursor: action id
	Limit  int
}

// ListActions lists actions, newest first (e.g. the approval inbox:
// state=proposed; failures to retry: state=failed).
func (s *Service) ListActions(ctx context.Context, f ActionFilter) ([]*Action, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	var out []*Action
	q := s.db.Read.NewSelect().Model(&out).OrderExpr("id DESC").Limit(int64(f.Limit))
	if f.State != "" {
		q = q.Where("state = ?", f.State)
	}
	if f.Type != "" {
		q = q.Where("type = ?", f.Type)
	}
	if f.CaseID != "" {
		q = q.Where("case_id = ?", f.CaseID)
	}
	if f.Before != "" {
		q = q.Where("id < ?", f.Before)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("list actions: %w", err)
	}
	for _, a := range out {
		s.decorate(a)
	}
	return out, nil
}

func (s *Service) caseActions(ctx context.Context, idb bun.IDB, caseID string) ([]*Action, error) {
	var out []*Action
	if err := idb.NewSelect().Model(&out).Where("case_id = ?", caseID).OrderExpr("id").Limit(500).Scan(ctx); err != nil {
		return nil, fmt.Errorf("actions of case %s: %w", caseID, err)
	}
	for _, a := range out {
		s.decorate(a)
	}
	return out, nil
}

// ProposeInput is a person's (or the AI's) proposal.
type ProposeInput struct {
	Type      string            `json:"type"`
	Params    map[string]string `json:"params"`
	Rationale string            `json:"rationale,omitempty"`
}

// ProposeAction records a proposal by the caller on a case.
func (s *Service) ProposeAction(ctx context.Context, caseID string, in ProposeInput) (*Action, error) {
	if err := ValidateAction(in.Type, in.Params); err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(in.Rationale) > 2000 {
		return nil, apperr.Invalid("rationale too long", apperr.FieldError{Field: "rationale", Message: "at most 2000 characters"})
	}
	var out *Action
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, ch *changes) error {
		c, err := lockCase(ctx, tx, caseID)
		if err != nil {
			return err
		}
		if err := s.checkCaseAccess(ctx, tx, c); err != nil {
			return err
		}
		a, err := s.propose(ctx, tx, ch, c, in, OriginHuman, "", identity(ctx), ch.actor.Name)
		out = a
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.decorate(out), nil
}

// propose stores a validated proposal unless an equal one is pending.
func (s *Service) propose(ctx context.Context, tx bun.IDB, ch *changes, c *Case, in ProposeInput, origin, ruleID, by, byName string) (*Action, error) {
	if err := ValidateAction(in.Type, in.Params); err != nil {
		return nil, err
	}
	return s.proposeUnchecked(ctx, tx, ch, c, in, origin, ruleID, by, byName)
}

// proposeUnchecked stores a proposal (invalid parameters are kept with the
// error) unless an equal one is pending.
func (s *Service) proposeUnchecked(ctx context.Context, tx bun.IDB, ch *changes, c *Case, in ProposeInput, origin, ruleID, by, byName string) (*Action, error) {
	keys, err := pendingActionKeys(ctx, tx, []string{c.ID})
	if err != nil {
		return nil, err
	}
	a := s.newAction(c, in.Type, in.Params, origin, ruleID, in.Rationale, by, byName, ch.now)
	if keys[c.ID][a.DedupeKey] {
		return nil, apperr.Conflict("the same action is already proposed, approved or executing on this case")
	}
	ch.newActions = append(ch.newActions, a)
	ch.line(c, TLAction, "", fmt.Sprintf("%s proposed (%s)", a.Type, origin), map[string]any{"action_id": a.ID, "params": a.Params})
	ch.auditRecord(audit.Record{Action: "action.proposed", SubjectType: "action", SubjectID: a.ID, After: a,
		Detail: "case " + c.ID + " by " + origin})
	return a, nil
}

// ProposeFromAI records an AI summary's next step as a proposal inside the
// summary's transaction (triage/ai's Proposer).
//
// A step of an unknown type is skipped; a step whose parameters do not
// validate is kept with the error for a person to edit (like a rule's),
// so a model's slip never fails the summary job.
func (s *Service) ProposeFromAI(ctx context.Context, tx bun.IDB, caseID string, in ProposeInput) error {
	if !validActionType(in.Type) {
		s.log.WarnContext(ctx, "AI proposed an unknown action type; skipped", "case_id", caseID, "type", in.Type)
		return nil
	}
	ch := s.newChanges(ctx, s.now())
	ctx = withTracker(ctx, ch)
	c, err := lockCase(ctx, tx, caseID)
	if err != nil {
		return err
	}
	if !c.Live() {
		return nil
	}
	if _, err := s.proposeUnchecked(ctx, tx, ch, c, in, OriginAI, "", "ai:summary", "AI summary"); err != nil {
		if apperr.KindOf(err) == apperr.KindConflict {
			return nil
		}
		return err
	}
	// The caller commits; its outbox dispatcher poll picks up the jobs.
	return ch.flush(ctx, tx)
}

// EditAction replaces the parameters of a proposed action. The editor
// becomes its proposer, so four-eyes still needs a second person.
func (s *Service) EditAction(ctx context.Context, id string, params map[string]string) (*Action, error) {
	var out *Action
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, ch *changes) error {
		a, c, err := lockActionAndCase(ctx, tx, id)
		if err != nil {
			return err
		}
		if a.State != ActionProposed {
			return apperr.Conflict("only proposed actions can be edited; this one is " + string(a.State))
		}
		if err := ValidateAction(a.Type, params); err != nil {
			return err
		}
		before := *a
		a.Params = params
		a.DedupeKey = dedupeKey(a.Type, a.Params)
		a.ProposedBy, a.ProposedByName = identity(ctx), ch.actor.Name
		a.LastError, a.Preview, a.PreviewedAt = "", nil, nil
		a.UpdatedAt = ch.now
		ch.actions[a.ID] = a
		ch.line(c, TLAction, "", a.Type+" parameters edited", map[string]any{"action_id": a.ID, "params": a.Params})
		ch.auditRecord(audit.Record{Action: "action.edited", SubjectType: "action", SubjectID: a.ID, Before: before.Params, After: a.Params})
		out = a
		return nil
	})
	if err != nil {
		if strings.Contains(err.Error(), "triage_actions_pending") || apperr.KindOf(err) == apperr.KindInternal && isUnique(err) {
			return nil, apperr.Conflict("the same action is already pending on this case")
		}
		return nil, err
	}
	return s.decorate(out), nil
}

// ApproveAction approves a proposed action and schedules its execution.
// Four-eyes types may not be approved by their proposer.
func (s *Service) ApproveAction(ctx context.Context, id, note string) (*Action, error) {
	return s.decide(ctx, id, note, true)
}

// RejectAction rejects a proposed action.
func (s *Service) RejectAction(ctx context.Context, id, note string) (*Action, error) {
	return s.decide(ctx, id, note, false)
}

func (s *Service) decide(ctx context.Context, id, note string, approve bool) (*Action, error) {
	if utf8.RuneCountInString(note) > 2000 {
		return nil, apperr.Invalid("note too long", apperr.FieldError{Field: "note", Message: "at most 2000 characters"})
	}
	var out *Action
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, ch *changes) error {
		a, err := s.decideOne(ctx, tx, ch, id, note, approve)
		out = a
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.decorate(out), nil
}

// decideOne approves or rejects one proposed action inside a changeset;
// it checks everything before it changes anything.
func (s *Service) decideOne(ctx context.Context, tx bun.IDB, ch *changes, id, note string, approve bool) (*Action, error) {
	a, c, err := lockActionAndCase(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if a.State != ActionProposed {
		return nil, apperr.Conflict("action " + id + " is " + string(a.State) + ", not proposed")
	}
	who := identity(ctx)
	if approve {
		if err := ValidateAction(a.Type, a.Params); err != nil {
			return nil, apperr.Invalid("the action's parameters are invalid; edit them before approving", apperrFields(err)...)
		}
		if s.policy.fourEyes(a.Type) && a.ProposedBy == who {
			return nil, apperr.Forbidden("four-eyes: " + a.Type + " actions must be approved by someone other than their proposer")
		}
	}
	before := *a
	now := ch.now
	a.DecidedBy, a.DecidedByName, a.DecidedAt, a.DecisionNote = who, ch.actor.Name, &now, note
	a.UpdatedAt = now
	verb := "rejected"
	if approve {
		verb = "approved"
		a.State = ActionApproved
		a.Run = 1
		ch.job(s.executeJob(a))
	} else {
		a.State = ActionRejected
	}
	ch.actions[a.ID] = a
	ch.line(c, TLAction, "", fmt.Sprintf("%s %s", a.Type, verb), map[string]any{"action_id": a.ID, "note": note})
	ch.auditRecord(audit.Record{Action: "action." + verb, SubjectType: "action", SubjectID: a.ID,
		Before: map[string]any{"state": before.State}, After: map[string]any{"state": a.State, "note": note, "params": a.Params}})
	return a, nil
}

// DecisionsInput approves or rejects many proposed actions at once (e.g.
// the proposals a disruption made on its children).
type DecisionsInput struct {
	Approve bool     `json:"approve"`
	IDs     []string `json:"ids"`
	Note    string   `json:"note,omitempty"`
}

// DecisionResult is the outcome for one action.
type DecisionResult struct {
	ID    string      `json:"id"`
	State ActionState `json:"state,omitempty"`
	Error string      `json:"error,omitempty"`
}

// DecideMany approves or rejects each action in one transaction. An action
// that cannot be decided (not proposed, four-eyes, invalid parameters) is
// reported and the others go ahead.
func (s *Service) DecideMany(ctx context.Context, in DecisionsInput) ([]DecisionResult, error) {
	if len(in.IDs) == 0 || len(in.IDs) > 1000 {
		return nil, apperr.Invalid("decide 1 to 1000 actions", apperr.FieldError{Field: "ids", Message: "between 1 and 1000 ids"})
	}
	if utf8.RuneCountInString(in.Note) > 2000 {
		return nil, apperr.Invalid("note too long", apperr.FieldError{Field: "note", Message: "at most 2000 characters"})
	}
	var out []DecisionResult
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, ch *changes) error {
		out = out[:0]
		for _, id := range dedupe(in.IDs) {
			a, err := s.decideOne(ctx, tx, ch, id, in.Note, in.Approve)
			if err != nil {
				if _, ok := apperr.As(err); !ok {
					return err
				}
				out = append(out, DecisionResult{ID: id, Error: err.Error()})
				continue
			}
			out = append(out, DecisionResult{ID: id, State: a.State})
		}
		return nil
	})
	return out, err
}

// ProposeOnChildren proposes one action on every live child of a
// disruption (skipping children where it is already pending) and returns
// the proposals; approve them together with DecideMany.
func (s *Service) ProposeOnChildren(ctx context.Context, parentID string, in ProposeInput) ([]*Action, error) {
	if err := ValidateAction(in.Type, in.Params); err != nil {
		return nil, err
	}
	var out []*Action
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, ch *changes) error {
		out = out[:0]
		p, err := lockCase(ctx, tx, parentID)
		if err != nil {
			return err
		}
		if p.Kind != KindDisruption {
			return apperr.Invalid("not a disruption", apperr.FieldError{Field: "id", Message: "actions apply to children only on disruption cases"})
		}
		var childIDs []string
		if err := tx.NewSelect().Model((*Case)(nil)).Column("id").Where("parent_id = ?", p.ID).Where("bucket <> ?", BucketClosed).
			OrderExpr("id").Limit(MaxBulk).Scan(ctx, &childIDs); err != nil {
			return fmt.Errorf("load child cases: %w", err)
		}
		m, err := lockCases(ctx, tx, childIDs)
		if err != nil {
			return err
		}
		keys, err := pendingActionKeys(ctx, tx, childIDs)
		if err != nil {
			return err
		}
		rationale := in.Rationale
		if rationale == "" {
			rationale = "for disruption " + p.ID
		}
		for _, id := range childIDs {
			c := m[id]
			if c == nil {
				continue
			}
			a := s.newAction(c, in.Type, in.Params, OriginHuman, "", rationale, identity(ctx), ch.actor.Name, ch.now)
			if keys[c.ID][a.DedupeKey] {
				continue
			}
			ch.newActions = append(ch.newActions, a)
			ch.line(c, TLAction, "", fmt.Sprintf("%s proposed for disruption %s", a.Type, p.ID), map[string]any{"action_id": a.ID, "params": a.Params})
			ch.auditRecord(audit.Record{Action: "action.proposed", SubjectType: "action", SubjectID: a.ID, After: a,
				Detail: "case " + c.ID + " from disruption " + p.ID})
			out = append(out, s.decorate(a))
		}
		ch.line(p, TLAction, "", fmt.Sprintf("%s proposed on %d child cases", in.Type, len(out)), map[string]any{"params": in.Params})
		return nil
	})
	if out == nil {
		out = []*Action{}
	}
	return out, err
}

func apperrFields(err error) []apperr.FieldError {
	if e, ok := apperr.As(err); ok {
		return e.Fields
	}
	return nil
}

// RetryAction sends a failed action back to the worker (next run, same
// idempotency key).
func (s *Service) RetryAction(ctx context.Context, id string) (*Action, error) {
	var out *Action
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, ch *changes) error {
		a, c, err := lockActionAndCase(ctx, tx, id)
		if err != nil {
			return err
		}
		if a.State != ActionFailed {
			return apperr.Conflict("only failed actions can be retried; this one is " + string(a.State))
		}
		a.State = ActionApproved
		a.Run++
		a.Attempts = 0
		a.UpdatedAt = ch.now
		ch.actions[a.ID] = a
		ch.job(s.executeJob(a))
		ch.line(c, TLAction, "", a.Type+" retried", map[string]any{"action_id": a.ID, "run": a.Run})
		ch.auditRecord(audit.Record{Action: "action.retried", SubjectType: "action", SubjectID: a.ID,
			Before: map[string]any{"state": ActionFailed, "last_error": a.LastError}, After: map[string]any{"state": a.State, "run": a.Run}})
		out = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.decorate(out), nil
}

func (s *Service) executeJob(a *Action) queue.Job {
	return queue.Job{Key: fmt.Sprintf("%s:%s:%d", TaskActionExecute, a.ID, a.Run), Type: TaskActionExecute,
		Payload: ActionJob{ActionID: a.ID, Run: a.Run}, Queue: queue.QueueCritical, MaxRetry: s.opts.ActionMaxAttempts - 1,
		Timeout: 2 * time.Minute}
}

func (s *Service) request(a *Action, c *Case) ActionRequest {
	ref := CaseRef{ID: c.ID, Title: c.Title, Carrier: c.Carrier, TrackingNumber: c.TrackingNumber, OrderRef: c.OrderRef,
		PickingRef: c.PickingRef, CustomerID: c.CustomerID, Salesperson: c.Salesperson}
	params := executorParams(a.Type, a.Params, &ref, s.now())
	return ActionRequest{ActionID: a.ID, Type: a.Type, Params: params, IdempotencyKey: a.IdempotencyKey, Case: ref}
}

// PreviewAction asks the executor for the exact change, stores it on the
// action and records the external call in the audit trail.
func (s *Service) PreviewAction(ctx context.Context, id string) (*Action, error) {
	a, err := s.GetAction(ctx, id)
	if err != nil {
		return nil, err
	}
	c, err := getCase(ctx, s.db.Read, a.CaseID)
	if err != nil {
		return nil, err
	}
	if err := s.checkCaseAccess(ctx, s.db.Read, c); err != nil {
		return nil, err
	}
	if err := ValidateAction(a.Type, a.Params); err != nil {
		return nil, err
	}
	exec, _, _ := s.hooks()
	if exec == nil {
		return nil, apperr.Unavailable("no action executor is configured (set YARDMASTER_ODOO_URL)", nil)
	}
	req := s.request(a, c)
	pv, perr := exec.Preview(ctx, req)
	err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx, ch *changes) error {
		cur, err := lockAction(ctx, tx, id)
		if err != nil {
			return err
		}
		rec := audit.Record{Action: "odoo.preview", SubjectType: "action", SubjectID: id, Before: req}
		if perr != nil {
			rec.Detail = "error: " + perr.Error()
		} else {
			rec.After = pv
			now := ch.now
			cur.Preview, cur.PreviewedAt, cur.UpdatedAt = rawJSON(pv), &now, now
			ch.actions[cur.ID] = cur
		}
		ch.auditRecord(rec)
		a = cur
		return nil
	})
	if err != nil {
		return nil, err
	}
	if perr != nil {
		if isPermanent(perr) {
			return nil, apperr.Invalid("preview failed: " + perr.Error())
		}
		return nil, apperr.Unavailable("preview failed: Odoo did not answer", perr)
	}
	return s.decorate(a), nil
}

func isUnique(err error) bool {
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "SQLSTATE 23505") || strings.Contains(s, "duplicate key value")
}
