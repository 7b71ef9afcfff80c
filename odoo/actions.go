package odoo

import (
	"context"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"
)

// ActionType names a write-back Triage can ask for.
type ActionType string

// The four action types.
const (
	ActionReschedulePicking ActionType = "reschedule_picking"
	ActionPostNote          ActionType = "post_note"
	ActionScheduleActivity  ActionType = "schedule_activity"
	ActionCreateTicket      ActionType = "create_ticket"
)

// ActionTypes lists them, for validation and documentation.
var ActionTypes = []ActionType{ActionReschedulePicking, ActionPostNote, ActionScheduleActivity, ActionCreateTicket}

// Action is one approved write-back as Triage hands it over. Targets are
// identified by id or reference; at least one must resolve.
type Action struct {
	// IdempotencyKey is stable for the action ([A-Za-z0-9._:-], ≤128): it
	// is written into Odoo as the marker "[yardmaster:KEY]" and looked up
	// before anything is created, so re-running an action never doubles it.
	IdempotencyKey string
	Type           ActionType
	PickingID      int64
	PickingRef     string // stock.picking name, e.g. WH/OUT/00042
	OrderID        int64
	OrderRef       string // sale.order name (S00042) or the customer's reference
	TrackingNumber string
	PartnerID      int64
	// Params per type (see docs/odoo.md):
	//   reschedule_picking: scheduled_date (RFC 3339 or "YYYY-MM-DD HH:MM:SS" UTC), reason?
	//   post_note:          body, target? ("order"|"picking")
	//   schedule_activity:  summary, note?, date_deadline? (YYYY-MM-DD, default tomorrow),
	//                       user_id? (default: the order's salesperson), target?,
	//                       activity_type? (xmlid, default mail.mail_activity_data_warning), notify? (bool, default true)
	//   create_ticket:      title, description?, priority? (low|medium|high|urgent or "0".."3"),
	//                       team_id? (helpdesk.team), project_id? (overrides the configured project)
	Params map[string]any
}

// Sentinel errors of the executors (besides the client's).
var (
	// ErrInvalidAction: the action cannot be executed as given; retrying
	// will not help.
	ErrInvalidAction = errors.New("odoo: invalid action")
	// ErrTargetNotFound: the picking/order the action names is not in Odoo
	// (or not in the mirror, for Preview).
	ErrTargetNotFound = errors.New("odoo: action target not found")
)

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidAction, fmt.Sprintf(format, a...))
}

// Step is one call an action makes: exactly what will be sent.
type Step struct {
	Model    string         `json:"model"`
	Method   string         `json:"method"`              // write, message_post or create
	RecordID int64          `json:"record_id,omitempty"` // target of write/message_post
	Values   map[string]any `json:"values"`              // vals or message_post kwargs
	Context  map[string]any `json:"context,omitempty"`
	Before   map[string]any `json:"before,omitempty"` // current values of written fields
}

// Plan is the preview of an action: the steps with the exact fields and
// values, the marker, and a one-line description.
type Plan struct {
	Type        ActionType `json:"type"`
	Marker      string     `json:"marker"`
	Summary     string     `json:"summary"`
	TargetModel string     `json:"target_model"`
	TargetID    int64      `json:"target_id"`
	TargetName  string     `json:"target_name"`
	Steps       []Step     `json:"steps"`
	// Unchanged is set when Odoo already has the requested state (e.g. the
	// picking is already scheduled at that time).
	Unchanged bool `json:"unchanged,omitempty"`
}

// Outcome of an execution.
type Outcome string

// Outcomes.
const (
	OutcomeCreated     Outcome = "created"      // a record was created
	OutcomeUpdated     Outcome = "updated"      // a record was written
	OutcomeUnchanged   Outcome = "unchanged"    // nothing to write
	OutcomeAlreadyDone Outcome = "already_done" // the marker was found: done by an earlier run
)

// Result is what Execute did, with request/response summaries for the
// audit trail.
type Result struct {
	Type     ActionType     `json:"type"`
	Outcome  Outcome        `json:"outcome"`
	Model    string         `json:"model"`
	RecordID int64          `json:"record_id"` // created or written record
	Plan     Plan           `json:"plan"`
	Request  map[string]any `json:"request"`
	Response map[string]any `json:"response"`
	Protocol string         `json:"protocol"`
}

// Resolver finds what an action refers to. The live resolver asks Odoo;
// the mirror resolves offline from local tables (Preview on the hot path).
type Resolver interface {
	// ResolveTarget returns the picking and/or order the action names.
	ResolveTarget(ctx context.Context, a Action) (Target, error)
	// ModelID is the ir.model id of a model.
	ModelID(ctx context.Context, model string) (int64, error)
	// XMLID resolves an external id.
	XMLID(ctx context.Context, xmlid string) (int64, error)
	// HelpdeskInstalled reports whether helpdesk.ticket exists.
	HelpdeskInstalled(ctx context.Context) (bool, error)
}

// Target is the resolved picking/order of an action.
type Target struct {
	Picking *TargetPicking
	Order   *TargetOrder
}

// TargetPicking is what the executors need of a stock.picking.
type TargetPicking struct {
	ID            int64
	Name, State   string
	ScheduledDate *time.Time
	PartnerID     int64
	UserID        int64
	OrderID       int64
}

// TargetOrder is what the executors need of a sale.order.
type TargetOrder struct {
	ID            int64
	Name          string
	PartnerID     int64
	SalespersonID int64
	Salesperson   string
}

var keyRx = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// Marker is the text written into Odoo for an idempotency key.
func Marker(key string) string { return "[yardmaster:" + key + "]" }

// ExecutorOptions configure an Executor.
type ExecutorOptions struct {
	Client *Client
	// Preview resolves targets for Preview without calling Odoo (the
	// mirror). Nil: Preview resolves live.
	Preview Resolver
	// TicketProjectID is the project.project create_ticket falls back to
	// when Helpdesk is not installed.
	TicketProjectID int64
	Now             func() time.Time
	Logger          *slog.Logger
}

// Executor runs the four action types against Odoo.
type Executor struct {
	o    ExecutorOptions
	live *liveResolver
	keys keyedMutex
}

// NewExecutor builds an executor.
func NewExecutor(o ExecutorOptions) (*Executor, error) {
	if o.Client == nil {
		return nil, fmt.Errorf("%w: executor needs a client", ErrInvalid)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Executor{o: o, live: &liveResolver{c: o.Client, ids: map[string]int64{}, now: o.Now}}, nil
}

// Preview returns the exact change an action would make, resolved from
// the mirror when configured (no Odoo call).
func (x *Executor) Preview(ctx context.Context, a Action) (Plan, error) {
	r := x.o.Preview
	if r == nil {
		r = x.live
	}
	return x.plan(ctx, r, a)
}

// Validate checks an action without resolving anything (for proposals).
func Validate(a Action) error {
	if !keyRx.MatchString(a.IdempotencyKey) {
		return invalid("idempotency key %q must be 1-128 characters of A-Z a-z 0-9 . _ : -", a.IdempotencyKey)
	}
	p := params(a.Params)
	switch a.Type {
	case ActionReschedulePicking:
		if _, err := p.datetime("scheduled_date", true); err != nil {
			return err
		}
		if a.PickingID == 0 && a.PickingRef == "" && a.TrackingNumber == "" {
			return invalid("reschedule_picking needs a picking (id, reference or tracking number)")
		}
		_, err := p.text("reason", false, 2000)
		return err
	case ActionPostNote:
		if _, err := p.text("body", true, 20000); err != nil {
			return err
		}
		_, err := p.target()
		return err
	case ActionScheduleActivity:
		if _, err := p.text("summary", true, 200); err != nil {
			return err
		}
		if _, err := p.text("note", false, 20000); err != nil {
			return err
		}
		if _, err := p.date("date_deadline"); err != nil {
			return err
		}
		if _, err := p.integer("user_id"); err != nil {
			return err
		}
		if _, err := p.target(); err != nil {
			return err
		}
		_, err := p.boolean("notify", true)
		return err
	case ActionCreateTicket:
		if _, err := p.text("title", true, 200); err != nil {
			return err
		}
		if _, err := p.text("description", false, 20000); err != nil {
			return err
		}
		if _, err := p.priority(); err != nil {
			return err
		}
		if _, err := p.integer("team_id"); err != nil {
			return err
		}
		_, err := p.integer("project_id")
		return err
	}
	return invalid("unknown action type %q (want one of %v)", a.Type, ActionTypes)
}

// plan resolves an action into the steps to run.
func (x *Executor) plan(ctx context.Context, r Resolver, a Action) (Plan, error) {
	if err := Validate(a); err != nil {
		return Plan{}, err
	}
	t, err := r.ResolveTarget(ctx, a)
	if err != nil {
		return Plan{}, err
	}
	p := params(a.Params)
	marker := Marker(a.IdempotencyKey)
	pl := Plan{Type: a.Type, Marker: marker}
	switch a.Type {
	case ActionReschedulePicking:
		pk := t.Picking
		if pk == nil {
			return Plan{}, fmt.Errorf("%w: reschedule_picking: no picking found", ErrTargetNotFound)
		}
		if pk.State == "done" || pk.State == "cancel" {
			return Plan{}, invalid("picking %s is %s: it cannot be rescheduled", pk.Name, pk.State)
		}
		when, _ := p.datetime("scheduled_date", true)
		if when.Before(x.o.Now().Add(-24 * time.Hour)) {
			return Plan{}, invalid("scheduled_date %s is in the past", FormatDatetime(*when))
		}
		pl.TargetModel, pl.TargetID, pl.TargetName = "stock.picking", pk.ID, pk.Name
		before := map[string]any{"scheduled_date": false}
		if pk.ScheduledDate != nil {
			before["scheduled_date"] = FormatDatetime(*pk.ScheduledDate)
		}
		// scheduled_date only: date_deadline is computed from the order.
		pl.Steps = append(pl.Steps, Step{Model: "stock.picking", Method: "write", RecordID: pk.ID,
			Values: map[string]any{"scheduled_date": FormatDatetime(*when)}, Before: before})
		pl.Unchanged = pk.ScheduledDate != nil && pk.ScheduledDate.Equal(when.Truncate(time.Second))
		pl.Summary = fmt.Sprintf("Reschedule %s from %v to %s", pk.Name, before["scheduled_date"], FormatDatetime(*when))
		if reason, _ := p.text("reason", false, 2000); reason != "" {
			body := fmt.Sprintf("Rescheduled by Yardmaster from %v to %s: %s\n\n%s", before["scheduled_date"], FormatDatetime(*when), reason, marker)
			pl.Steps = append(pl.Steps, noteStep("stock.picking", pk.ID, body))
		}
	case ActionPostNote:
		model, id, name, err := pickTarget(p, t)
		if err != nil {
			return Plan{}, err
		}
		body, _ := p.text("body", true, 20000)
		pl.TargetModel, pl.TargetID, pl.TargetName = model, id, name
		pl.Steps = []Step{noteStep(model, id, body+"\n\n"+marker)}
		pl.Summary = fmt.Sprintf("Log an internal note on %s", name)
	case ActionScheduleActivity:
		model, id, name, err := pickTarget(p, t)
		if err != nil {
			return Plan{}, err
		}
		user, _ := p.integer("user_id")
		switch {
		case user != 0:
		case t.Order != nil && t.Order.SalespersonID != 0:
			user = t.Order.SalespersonID
		case t.Picking != nil && t.Picking.UserID != 0:
			user = t.Picking.UserID
		default:
			return Plan{}, invalid("schedule_activity: %s has no salesperson; set user_id", name)
		}
		xmlid := "mail.mail_activity_data_warning"
		if s, _ := a.Params["activity_type"].(string); s != "" {
			xmlid = s
		}
		typeID, err := r.XMLID(ctx, xmlid)
		if err != nil {
			return Plan{}, fmt.Errorf("schedule_activity: activity type %s: %w", xmlid, err)
		}
		modelID, err := r.ModelID(ctx, model)
		if err != nil {
			return Plan{}, fmt.Errorf("schedule_activity: %w", err)
		}
		deadline, _ := p.date("date_deadline")
		if deadline == "" {
			deadline = FormatDate(x.o.Now().Add(24 * time.Hour))
		}
		summary, _ := p.text("summary", true, 200)
		note, _ := p.text("note", false, 20000)
		step := Step{Model: "mail.activity", Method: "create", Values: map[string]any{
			"res_model_id": modelID, "res_id": id, "activity_type_id": typeID, "summary": summary,
			"note": htmlNote(note, marker), "date_deadline": deadline, "user_id": user,
		}}
		if notify, _ := p.boolean("notify", true); !notify {
			step.Context = map[string]any{"mail_activity_quick_update": true}
		}
		pl.TargetModel, pl.TargetID, pl.TargetName = model, id, name
		pl.Steps = []Step{step}
		pl.Summary = fmt.Sprintf("Schedule %q on %s for user %d, due %s", summary, name, user, deadline)
	case ActionCreateTicket:
		title, _ := p.text("title", true, 200)
		desc, _ := p.text("description", false, 20000)
		prio, _ := p.priority()
		partner := a.PartnerID
		if partner == 0 && t.Order != nil {
			partner = t.Order.PartnerID
		}
		if partner == 0 && t.Picking != nil {
			partner = t.Picking.PartnerID
		}
		vals := map[string]any{"name": title, "description": htmlNote(desc, marker)}
		if partner != 0 {
			vals["partner_id"] = partner
		}
		helpdesk, err := r.HelpdeskInstalled(ctx)
		if err != nil {
			return Plan{}, fmt.Errorf("create_ticket: %w", err)
		}
		model := "project.task"
		if helpdesk {
			model = "helpdesk.ticket"
			vals["priority"] = prio
			if team, _ := p.integer("team_id"); team != 0 {
				vals["team_id"] = team
			}
		} else {
			project, _ := p.integer("project_id")
			if project == 0 {
				project = x.o.TicketProjectID
			}
			if project == 0 {
				return Plan{}, invalid("create_ticket: Helpdesk is not installed and no project is configured (YARDMASTER_ODOO_TICKET_PROJECT_ID)")
			}
			vals["project_id"] = project
			vals["priority"] = "0"
			if prio >= "2" {
				vals["priority"] = "1"
			}
		}
		pl.TargetModel = model
		if t.Order != nil {
			pl.TargetName = t.Order.Name
		} else if t.Picking != nil {
			pl.TargetName = t.Picking.Name
		}
		pl.Steps = []Step{{Model: model, Method: "create", Values: vals}}
		pl.Summary = fmt.Sprintf("Create %s %q", model, title)
	}
	return pl, nil
}

func noteStep(model string, id int64, body string) Step {
	return Step{Model: model, Method: "message_post", RecordID: id, Values: map[string]any{
		"body": body, "message_type": "comment", "subtype_xmlid": "mail.mt_note"}}
}

// htmlNote renders plain text as the HTML Odoo stores, marker last.
func htmlNote(text, marker string) string {
	var b strings.Builder
	for _, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		if strings.TrimSpace(para) == "" {
			continue
		}
		b.WriteString("<p>")
		b.WriteString(strings.ReplaceAll(html.EscapeString(strings.TrimSpace(para)), "\n", "<br>"))
		b.WriteString("</p>")
	}
	b.WriteString("<p>")
	b.WriteString(html.EscapeString(marker))
	b.WriteString("</p>")
	return b.String()
}

func pickTarget(p params, t Target) (model string, id int64, name string, err error) {
	which, _ := p.target()
	switch {
	case which == "picking" && t.Picking != nil, which == "" && t.Order == nil && t.Picking != nil:
		return "stock.picking", t.Picking.ID, t.Picking.Name, nil
	case which != "picking" && t.Order != nil:
		return "sale.order", t.Order.ID, t.Order.Name, nil
	}
	return "", 0, "", fmt.Errorf("%w: no %s found for the action", ErrTargetNotFound, orDefault(which, "order or picking"))
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Execute runs an action exactly once: it resolves the target live, looks
// for the marker of an earlier run, then writes. After an ambiguous failure
// (the call may have reached Odoo) it looks for the marker again before
// reporting the error, so a retry by the queue never duplicates the effect.
func (x *Executor) Execute(ctx context.Context, a Action) (Result, error) {
	unlock := x.keys.lock(a.IdempotencyKey)
	defer unlock()
	pl, err := x.plan(ctx, x.live, a)
	if err != nil {
		return Result{}, err
	}
	res := Result{Type: a.Type, Plan: pl, Protocol: x.o.Client.Protocol(), Request: map[string]any{"steps": pl.Steps, "marker": pl.Marker},
		Response: map[string]any{}}
	if a.Type == ActionReschedulePicking {
		return x.execReschedule(ctx, pl, res)
	}
	step := pl.Steps[0]
	res.Model = step.Model
	if id, err := x.findMarker(ctx, step, pl.Marker); err != nil {
		return res, fmt.Errorf("%s: look for an earlier run: %w", a.Type, err)
	} else if id != 0 {
		res.Outcome, res.RecordID = OutcomeAlreadyDone, id
		res.Response["found"] = id
		return res, nil
	}
	id, err := x.run(ctx, step)
	if err != nil {
		if ambiguous(err) {
			if found, ferr := x.findMarker(ctx, step, pl.Marker); ferr == nil && found != 0 {
				x.o.Logger.Warn("odoo action applied despite an error", "type", a.Type, "key", a.IdempotencyKey, "record", found, "err", err)
				res.Outcome, res.RecordID = OutcomeCreated, found
				res.Response["id"], res.Response["note"] = found, "applied; the answer was lost: "+err.Error()
				return res, nil
			}
		}
		res.Response["error"] = err.Error()
		return res, fmt.Errorf("%s on %s: %w", a.Type, orDefault(pl.TargetName, step.Model), err)
	}
	res.Outcome, res.RecordID = OutcomeCreated, id
	res.Response["id"] = id
	return res, nil
}

func (x *Executor) execReschedule(ctx context.Context, pl Plan, res Result) (Result, error) {
	w := pl.Steps[0]
	res.Model, res.RecordID = w.Model, w.RecordID
	if pl.Unchanged {
		res.Outcome = OutcomeUnchanged
	} else {
		// Writing the same date twice is harmless: the client may retry it.
		if err := x.o.Client.Write(ctx, w.Model, []int64{w.RecordID}, w.Values, WriteOptions{Idempotent: true}); err != nil {
			res.Response["error"] = err.Error()
			return res, fmt.Errorf("reschedule_picking %s: %w", pl.TargetName, err)
		}
		res.Outcome = OutcomeUpdated
		res.Response["write"] = true
	}
	if len(pl.Steps) > 1 { // the reason note, once
		note := pl.Steps[1]
		found, err := x.findMarker(ctx, note, pl.Marker)
		if err != nil {
			return res, fmt.Errorf("reschedule_picking %s: look for the note: %w", pl.TargetName, err)
		}
		if found == 0 {
			id, err := x.run(ctx, note)
			if err != nil && ambiguous(err) {
				if again, ferr := x.findMarker(ctx, note, pl.Marker); ferr == nil && again != 0 {
					id, err = again, nil
				}
			}
			if err != nil {
				res.Response["note_error"] = err.Error()
				return res, fmt.Errorf("reschedule_picking %s: note: %w", pl.TargetName, err)
			}
			found = id
		}
		res.Response["note_id"] = found
	}
	return res, nil
}

// ambiguous: the call may have taken effect in Odoo.
func ambiguous(err error) bool {
	var oe *Error
	if errors.As(err, &oe) {
		return oe.Committed()
	}
	var te *TransportError
	if errors.As(err, &te) {
		return te.Sent
	}
	return errors.Is(err, context.DeadlineExceeded)
}

func (x *Executor) run(ctx context.Context, s Step) (int64, error) {
	c := x.o.Client
	switch s.Method {
	case "message_post":
		body, _ := s.Values["body"].(string)
		sub, _ := s.Values["subtype_xmlid"].(string)
		mt, _ := s.Values["message_type"].(string)
		return c.MessagePost(ctx, s.Model, s.RecordID, Message{Body: body, SubtypeXMLID: sub, MessageType: mt, Context: s.Context})
	case "create":
		return c.Create(ctx, s.Model, s.Values, s.Context)
	}
	return 0, fmt.Errorf("%w: step method %s", ErrInvalid, s.Method)
}

// findMarker looks for a record an earlier run created (0 if none): the
// marker in a chatter message, an activity's note (also archived/done ones,
// whose note Odoo copies into the "done" message), or a ticket/task
// description. ilike treats "_" as a wildcard, so hits are confirmed with
// an exact substring test.
func (x *Executor) findMarker(ctx context.Context, s Step, marker string) (int64, error) {
	c := x.o.Client
	all := map[string]any{"active_test": false}
	check := func(model, field string, dom Domain) (int64, error) {
		rs, err := c.SearchRead(ctx, model, dom.And(Where(field, "ilike", marker)), SearchOptions{Fields: []string{field}, Limit: 20, Order: "id", Context: all})
		if err != nil {
			return 0, err
		}
		for _, r := range rs {
			if strings.Contains(html.UnescapeString(r.String(field)), marker) {
				return r.ID(), nil
			}
		}
		return 0, nil
	}
	switch {
	case s.Method == "message_post":
		return check("mail.message", "body", Where("model", "=", s.Model).And(Where("res_id", "=", s.RecordID)))
	case s.Model == "mail.activity":
		resModel, resID := "", s.Values["res_id"]
		if mid, ok := s.Values["res_model_id"].(int64); ok {
			rs, err := c.Read(ctx, "ir.model", []int64{mid}, []string{"model"}, nil)
			if err != nil {
				return 0, err
			}
			if len(rs) == 1 {
				resModel = rs[0].String("model")
			}
		}
		id, err := check("mail.activity", "note", Where("res_model", "=", resModel).And(Where("res_id", "=", resID)))
		if err != nil || id != 0 {
			return id, err
		}
		return check("mail.message", "body", Where("model", "=", resModel).And(Where("res_id", "=", resID)))
	default: // helpdesk.ticket, project.task
		return check(s.Model, "description", nil)
	}
}

// liveResolver resolves through the client, caching ids that never change
// (ir.model ids, external ids) and the Helpdesk check for a while.
type liveResolver struct {
	c          *Client
	mu         sync.Mutex
	ids        map[string]int64
	helpdesk   *bool
	helpdeskAt time.Time
	now        func() time.Time
}

func (l *liveResolver) cached(key string, f func() (int64, error)) (int64, error) {
	l.mu.Lock()
	if v, ok := l.ids[key]; ok {
		l.mu.Unlock()
		return v, nil
	}
	l.mu.Unlock()
	v, err := f()
	if err != nil {
		return 0, err
	}
	l.mu.Lock()
	l.ids[key] = v
	l.mu.Unlock()
	return v, nil
}

func (l *liveResolver) ModelID(ctx context.Context, model string) (int64, error) {
	return l.cached("model:"+model, func() (int64, error) { return l.c.ModelID(ctx, model) })
}

func (l *liveResolver) XMLID(ctx context.Context, xmlid string) (int64, error) {
	return l.cached("xmlid:"+xmlid, func() (int64, error) { return l.c.XMLID(ctx, xmlid) })
}

func (l *liveResolver) HelpdeskInstalled(ctx context.Context) (bool, error) {
	l.mu.Lock()
	if l.helpdesk != nil && l.now().Sub(l.helpdeskAt) < 10*time.Minute {
		v := *l.helpdesk
		l.mu.Unlock()
		return v, nil
	}
	l.mu.Unlock()
	v, err := l.c.ModelInstalled(ctx, "helpdesk.ticket")
	if err != nil {
		return false, err
	}
	l.mu.Lock()
	l.helpdesk, l.helpdeskAt = &v, l.now()
	l.mu.Unlock()
	return v, nil
}

var targetPickingFields = []string{"name", "state", "scheduled_date", "partner_id", "user_id", "sale_id", "carrier_tracking_ref"}

func (l *liveResolver) ResolveTarget(ctx context.Context, a Action) (Target, error) {
	var t Target
	var dom Domain
	switch {
	case a.PickingID != 0:
		dom = Where("id", "=", a.PickingID)
	case a.PickingRef != "":
		dom = Where("name", "=", a.PickingRef)
	case a.TrackingNumber != "" && a.OrderID == 0 && a.OrderRef == "":
		dom = Where("carrier_tracking_ref", "ilike", a.TrackingNumber)
	}
	if dom != nil {
		rs, err := l.c.SearchRead(ctx, "stock.picking", dom, SearchOptions{Fields: targetPickingFields, Limit: 20, Order: "id desc"})
		if err != nil {
			return t, err
		}
		want := NormalizeTrackingRef(a.TrackingNumber)
		for _, r := range rs {
			pk, err := DecodePicking(r)
			if err != nil {
				return t, err
			}
			if a.PickingID == 0 && a.PickingRef == "" && !containsRef(pk.TrackingRef, want) {
				continue
			}
			t.Picking = &TargetPicking{ID: pk.ID, Name: pk.Name, State: pk.State, ScheduledDate: pk.ScheduledDate,
				PartnerID: pk.Partner.ID, UserID: pk.User.ID, OrderID: pk.Sale.ID}
			break
		}
		if t.Picking == nil && (a.PickingID != 0 || a.PickingRef != "") {
			return t, fmt.Errorf("%w: picking %s", ErrTargetNotFound, orDefault(a.PickingRef, fmt.Sprint(a.PickingID)))
		}
	}
	var odom Domain
	switch {
	case a.OrderID != 0:
		odom = Where("id", "=", a.OrderID)
	case a.OrderRef != "":
		odom = Or(Where("name", "=", a.OrderRef), Where("client_order_ref", "=", a.OrderRef))
	case t.Picking != nil && t.Picking.OrderID != 0:
		odom = Where("id", "=", t.Picking.OrderID)
	}
	if odom != nil {
		rs, err := l.c.SearchRead(ctx, "sale.order", odom, SearchOptions{Fields: []string{"name", "partner_id", "user_id"}, Limit: 1, Order: "id desc"})
		if err != nil {
			return t, err
		}
		if len(rs) == 1 {
			o, err := DecodeSaleOrder(rs[0])
			if err != nil {
				return t, err
			}
			t.Order = &TargetOrder{ID: o.ID, Name: o.Name, PartnerID: o.Partner.ID, SalespersonID: o.User.ID, Salesperson: o.User.Name}
		} else if a.OrderID != 0 || a.OrderRef != "" {
			return t, fmt.Errorf("%w: sale order %s", ErrTargetNotFound, orDefault(a.OrderRef, fmt.Sprint(a.OrderID)))
		}
	}
	if t.Picking == nil && t.Order == nil {
		return t, fmt.Errorf("%w: no picking or order matches the action", ErrTargetNotFound)
	}
	return t, nil
}

func containsRef(raw, want string) bool {
	for _, r := range TrackingRefs(raw) {
		if r == want {
			return true
		}
	}
	return false
}
