package web

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/console"
	"github.com/yardmaster/yardmaster/odoo"
	"github.com/yardmaster/yardmaster/rules"
	"github.com/yardmaster/yardmaster/triage"
	"github.com/yardmaster/yardmaster/triage/ai"
)

// The triage queue and the case page. Filters live in the query string, so
// a view is a URL: shareable, bookmarkable and savable by name.

func (cn *Console) triageRoutes() {
	if cn.svc.Triage == nil {
		return
	}
	cn.route(fiber.MethodGet, "/queue", auth.PermCasesRead, cn.queuePage)
	cn.route(fiber.MethodPost, "/queue/bulk", auth.PermCasesWrite, cn.queueBulk)
	cn.route(fiber.MethodPost, "/queue/views", auth.PermCasesRead, cn.viewSave)
	cn.route(fiber.MethodPost, "/queue/views/:id/delete", auth.PermCasesRead, cn.viewDelete)
	cn.route(fiber.MethodGet, "/cases/:id", auth.PermCasesRead, cn.casePage)
	cn.route(fiber.MethodPost, "/cases/:id/op", auth.PermCasesWrite, cn.caseOp)
	cn.route(fiber.MethodPost, "/cases/:id/comments", auth.PermCasesWrite, cn.caseComment)
	cn.route(fiber.MethodPost, "/cases/:id/actions", auth.PermActionsPropose, cn.actionPropose)
	cn.route(fiber.MethodPost, "/actions/:id/approve", auth.PermActionsApprove, cn.actionDecide(true))
	cn.route(fiber.MethodPost, "/actions/:id/reject", auth.PermActionsApprove, cn.actionDecide(false))
	cn.route(fiber.MethodPost, "/actions/:id/retry", auth.PermActionsApprove, cn.actionRetry)
	cn.route(fiber.MethodPost, "/actions/:id/preview", auth.PermActionsPropose, cn.actionPreview)
	if cn.svc.Intake != nil {
		cn.route(fiber.MethodGet, "/events/:id/raw", auth.PermEventsRead, cn.eventRaw)
	}
}

// queuePageSize is how many cases a queue page shows.
const queuePageSize = 50

// liveStates is the queue's default: what still needs a person.
var liveStates = []triage.State{triage.StateOpen, triage.StateAcknowledged}

// queueFilter reads the queue's filter from the query string. Without a
// state parameter the queue shows live cases (open and acknowledged).
func queueFilter(q url.Values) triage.ListFilter {
	f := triage.ListFilter{Limit: queuePageSize, Sort: q.Get("sort"), Cursor: q.Get("cursor"),
		Queue: q.Get("queue"), Team: q.Get("team"), Assignee: q.Get("assignee"), Carrier: q.Get("carrier"),
		Customer: q.Get("customer"), Category: q.Get("category"), Kind: q.Get("kind"), Q: strings.TrimSpace(q.Get("q"))}
	if _, ok := q["state"]; !ok {
		f.States = liveStates
	}
	for _, s := range q["state"] {
		if s != "" && s != "any" {
			f.States = append(f.States, triage.State(s))
		}
	}
	for _, s := range q["severity"] {
		if s != "" {
			f.Severities = append(f.Severities, rules.Severity(s))
		}
	}
	for _, s := range q["sla_state"] {
		if s != "" {
			f.SLAStates = append(f.SLAStates, s)
		}
	}
	return f
}

// queueModel is the queue page.
type queueModel struct {
	Cases      []caseRow
	NextCursor string
	Filter     triage.ListFilter
	Errors     map[string]string
	Views      []console.View
	Users      []auth.User
	States     []triage.State
	Severities []rules.Severity
	SLAStates  []string
	Sorts      []string
	Resolve    []string
	Dismiss    []string
	// Query is the current filter as a query string (polling, saving).
	Query string
	// Live says the default state filter is in force.
	Live bool
}

// caseRow is a case with what the row shows precomputed.
type caseRow struct {
	*triage.Case
	PriorityWhy string
	Due         *time.Time
	DueLabel    string
}

func (cn *Console) caseRows(cs []*triage.Case) []caseRow {
	now := cn.now()
	out := make([]caseRow, len(cs))
	for i, c := range cs {
		r := caseRow{Case: c}
		parts := make([]string, 0, len(c.PriorityComponents.Components))
		for _, p := range c.PriorityComponents.Components {
			parts = append(parts, fmt.Sprintf("%s %+d (%s)", p.Name, p.Points, p.Why))
		}
		r.PriorityWhy = fmt.Sprintf("priority %d = %s", c.Priority, strings.Join(parts, " · "))
		switch {
		case c.RespondBy != nil && c.FirstAcknowledgedAt == nil && c.Live():
			r.Due, r.DueLabel = c.RespondBy, "respond"
		case c.ResolveBy != nil && c.Live():
			r.Due, r.DueLabel = c.ResolveBy, "resolve"
		}
		if r.Due != nil {
			d := r.Due.Sub(now)
			if d < 0 {
				r.DueLabel += " overdue " + humanDuration(-d)
			} else {
				r.DueLabel += " in " + humanDuration(d)
			}
		}
		out[i] = r
	}
	return out
}

func (cn *Console) queuePage(c *fiber.Ctx) error {
	ctx := c.UserContext()
	q, _ := url.ParseQuery(string(c.Request().URI().QueryString()))
	f := queueFilter(q)
	_, hasState := q["state"]
	m := queueModel{Filter: f, States: triage.States, Severities: rules.Severities, SLAStates: triage.SLAStates, Sorts: triage.Sorts,
		Resolve: triage.CloseReasons[triage.StateResolved], Dismiss: triage.CloseReasons[triage.StateDismissed], Live: !hasState}
	qq := url.Values{}
	for k, v := range q {
		if k != "cursor" {
			qq[k] = v
		}
	}
	m.Query = qq.Encode()
	status := fiber.StatusOK
	page, err := cn.svc.Triage.List(ctx, f)
	if err != nil {
		fe, err := fieldErrors(err)
		if err != nil {
			return err
		}
		m.Errors, status = fe, fiber.StatusUnprocessableEntity
	} else {
		m.Cases, m.NextCursor = cn.caseRows(page.Cases), page.NextCursor
	}
	data := cn.page(c, "Queue", "queue", m)
	if isHTMX(c) && c.Get("HX-Target") == "queue-results" {
		return cn.render(c, status, "queue", data, "results")
	}
	s := sessionOf(c)
	if m.Views, err = cn.views.List(ctx, s.User.ID, "queue"); err != nil {
		return err
	}
	if s.Principal.Can(auth.PermCasesWrite) {
		if m.Users, err = auth.ListUsers(ctx, cn.db.Read); err != nil {
			return err
		}
	}
	data.Data = m
	return cn.render(c, status, "queue", data)
}

// snoozeChoice turns a snooze form value into a triage operation.
func (cn *Console) snoozeOp(v string, op *triage.Op) error {
	if v == "next_event" {
		op.UntilNextEvent = true
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > triage.MaxSnooze {
		return apperr.Invalid("invalid snooze", apperr.FieldError{Field: "snooze", Message: "choose how long to snooze"})
	}
	until := cn.now().Add(d).UTC()
	op.Until = &until
	return nil
}

// opFromForm builds a lifecycle operation from a queue or case form.
func (cn *Console) opFromForm(c *fiber.Ctx) (triage.Op, error) {
	op := triage.Op{Name: utils.CopyString(c.FormValue("op"))}
	switch op.Name {
	case "acknowledge", "unassign", "wake", "reopen":
	case "assign":
		a := strings.TrimSpace(utils.CopyString(c.FormValue("assignee")))
		team := strings.TrimSpace(utils.CopyString(c.FormValue("team")))
		if a == "" && team == "" {
			a = "me"
		}
		if a != "" {
			op.AssigneeID = &a
		}
		if team != "" {
			op.Team = &team
		}
	case "snooze":
		if err := cn.snoozeOp(c.FormValue("snooze", "4h"), &op); err != nil {
			return op, err
		}
	case "resolve", "dismiss":
		op.Reason = utils.CopyString(c.FormValue("reason"))
		op.Note = strings.TrimSpace(utils.CopyString(c.FormValue("note")))
	case "update":
		if v := c.FormValue("severity"); v != "" {
			sev := rules.Severity(utils.CopyString(v))
			op.Severity = &sev
		}
	default:
		return op, apperr.Invalid("unknown operation", apperr.FieldError{Field: "op", Message: "choose an operation"})
	}
	op.ApplyToChildren = c.FormValue("apply_to_children") == "true"
	return op, nil
}

var opPast = map[string]string{"acknowledge": "Acknowledged", "assign": "Assigned", "unassign": "Unassigned", "snooze": "Snoozed",
	"wake": "Woke", "resolve": "Resolved", "dismiss": "Dismissed", "reopen": "Reopened", "update": "Updated"}

// queueBulk applies one operation to the selected cases and reports what
// changed and what was skipped, and why.
func (cn *Console) queueBulk(c *fiber.Ctx) error {
	op, err := cn.opFromForm(c)
	if err != nil {
		return err
	}
	var ids []string
	c.Request().PostArgs().VisitAll(func(k, v []byte) {
		if string(k) == "ids" && len(v) > 0 && len(v) <= 64 {
			ids = append(ids, string(v))
		}
	})
	if len(ids) == 0 {
		return apperr.Invalid("nothing selected", apperr.FieldError{Field: "ids", Message: "select at least one case"})
	}
	if len(ids) > 500 {
		return apperr.Invalid("too many cases", apperr.FieldError{Field: "ids", Message: "at most 500 cases at once"})
	}
	res, err := cn.svc.Triage.Bulk(c.UserContext(), triage.BulkInput{Op: op, IDs: ids})
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("%s %d of %d selected cases.", opPast[op.Name], res.Changed, len(ids))
	kind := "ok"
	if len(res.Skipped) > 0 {
		kind = "warn"
		whys := map[string]int{}
		for _, s := range res.Skipped {
			whys[s.Why]++
		}
		keys := make([]string, 0, len(whys))
		for w := range whys {
			keys = append(keys, w)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, w := range keys {
			parts = append(parts, fmt.Sprintf("%d %s", whys[w], w))
		}
		msg += " Skipped: " + strings.Join(parts, "; ") + "."
	}
	cn.flash(c, kind, msg)
	return redirectTo(c, "/queue"+backQuery(c.FormValue("back")))
}

// backQuery re-validates a query string carried in a form, so a redirect
// can only go back to the queue.
func backQuery(v string) string {
	q, err := url.ParseQuery(v)
	if err != nil || len(q) == 0 {
		return ""
	}
	q.Del("cursor")
	return "?" + q.Encode()
}

func (cn *Console) viewSave(c *fiber.Ctx) error {
	s := sessionOf(c)
	_, err := cn.views.Save(c.UserContext(), s.User.ID, "queue", utils.CopyString(c.FormValue("name")),
		utils.CopyString(c.FormValue("query")), c.FormValue("shared") == "true")
	if err != nil {
		return err
	}
	cn.flash(c, "ok", "View saved.")
	return redirectTo(c, "/queue"+backQuery(c.FormValue("query")))
}

func (cn *Console) viewDelete(c *fiber.Ctx) error {
	if err := cn.views.Delete(c.UserContext(), sessionOf(c).User.ID, utils.CopyString(c.Params("id"))); err != nil {
		return err
	}
	cn.flash(c, "ok", "View deleted.")
	return redirectTo(c, "/queue")
}

// caseModel is the case page.
type caseModel struct {
	*triage.Detail
	Row         caseRow
	Why         []rules.Record
	Events      []*intake.Event
	Odoo        *odoo.Context
	OdooErr     string
	Summary     *ai.Summary
	Users       []auth.User
	Resolve     []string
	Dismiss     []string
	Severities  []rules.Severity
	ActionTypes []actionForm
	// Propose holds the last propose form (errors and values).
	Propose     map[string]string
	ProposeErrs map[string]string
	ETAPercent  string
}

// actionForm describes the propose form of one action type; triage
// validates the values.
type actionForm struct {
	Type   string
	Label  string
	Fields []actionField
}

type actionField struct {
	Name, Label, Hint string
	Required, Long    bool
}

var actionForms = []actionForm{
	{"reschedule_picking", "Reschedule the delivery (stock.picking)", []actionField{
		{Name: "scheduled_date", Label: "New date", Hint: "2026-12-01 or 2026-12-01T09:00:00Z", Required: true},
		{Name: "reason", Label: "Reason (posted with the change)"}}},
	{"post_note", "Post a note in the chatter", []actionField{
		{Name: "body", Label: "Note", Required: true, Long: true},
		{Name: "target", Label: "On", Hint: "order or picking (default order)"}}},
	{"schedule_activity", "Schedule an activity for the salesperson", []actionField{
		{Name: "summary", Label: "Summary", Required: true},
		{Name: "note", Label: "Note", Long: true},
		{Name: "days", Label: "Due in days", Hint: "0-365"},
		{Name: "target", Label: "On", Hint: "order or picking (default order)"}}},
	{"create_ticket", "Open a ticket (helpdesk or project task)", []actionField{
		{Name: "title", Label: "Title", Required: true},
		{Name: "description", Label: "Description", Long: true},
		{Name: "priority", Label: "Priority", Hint: "low, medium, high, urgent"}}},
}

func (cn *Console) loadCase(c *fiber.Ctx, id string) (caseModel, error) {
	ctx := c.UserContext()
	d, err := cn.svc.Triage.GetDetail(ctx, id)
	if err != nil {
		return caseModel{}, err
	}
	m := caseModel{Detail: d, Row: cn.caseRows([]*triage.Case{d.Case})[0], Resolve: triage.CloseReasons[triage.StateResolved],
		Dismiss: triage.CloseReasons[triage.StateDismissed], Severities: rules.Severities, ActionTypes: actionForms}
	for _, raw := range d.Evaluations {
		var r rules.Record
		if json.Unmarshal(raw, &r) == nil {
			m.Why = append(m.Why, r)
		}
	}
	// Newest evaluation first: the one that explains the case now.
	sort.SliceStable(m.Why, func(i, j int) bool { return m.Why[i].EvaluatedAt.After(m.Why[j].EvaluatedAt) })
	p := sessionOf(c).Principal
	if cn.svc.Intake != nil && d.Case.ShipmentID != "" && p.Can(auth.PermEventsRead) {
		if m.Events, err = cn.svc.Intake.Store.ShipmentEvents(ctx, cn.db.Read, d.Case.ShipmentID, 500); err != nil {
			return m, err
		}
	}
	if cn.svc.Mirror != nil && (d.Case.TrackingNumber != "" || d.Case.OrderRef != "" || d.Case.PickingRef != "") {
		oc, err := cn.svc.Mirror.Lookup(ctx, cn.db.Read, odoo.LookupKey{TrackingNumber: d.Case.TrackingNumber,
			OrderRef: d.Case.OrderRef, PickingRef: d.Case.PickingRef})
		switch {
		case err == nil:
			m.Odoo = oc
		default:
			m.OdooErr = "not in the Odoo mirror"
		}
	}
	if cn.svc.Summaries != nil {
		if s, err := cn.svc.Summaries.Summary(ctx, nil, d.Case.ID); err == nil {
			m.Summary = &s
		}
	}
	if d.Case.ETARisk != nil {
		m.ETAPercent = strconv.FormatFloat(*d.Case.ETARisk*100, 'f', 0, 64) + "%"
	}
	if p.Can(auth.PermCasesWrite) {
		if m.Users, err = auth.ListUsers(ctx, cn.db.Read); err != nil {
			return m, err
		}
	}
	return m, nil
}

func (cn *Console) renderCase(c *fiber.Ctx, status int, m caseModel) error {
	title := m.Case.Title
	if title == "" {
		title = "Case " + m.Case.ID
	}
	return cn.render(c, status, "case", cn.page(c, title, "queue", m))
}

func (cn *Console) casePage(c *fiber.Ctx) error {
	m, err := cn.loadCase(c, utils.CopyString(c.Params("id")))
	if err != nil {
		return err
	}
	return cn.renderCase(c, fiber.StatusOK, m)
}

func (cn *Console) caseOp(c *fiber.Ctx) error {
	id := utils.CopyString(c.Params("id"))
	op, err := cn.opFromForm(c)
	if err != nil {
		return err
	}
	if _, err := cn.svc.Triage.Apply(c.UserContext(), id, op); err != nil {
		return err
	}
	cn.flash(c, "ok", opPast[op.Name]+".")
	return redirectTo(c, "/cases/"+id)
}

func (cn *Console) caseComment(c *fiber.Ctx) error {
	id := utils.CopyString(c.Params("id"))
	_, err := cn.svc.Triage.AddComment(c.UserContext(), id, triage.CommentInput{Body: utils.CopyString(c.FormValue("body")),
		ApplyToChildren: c.FormValue("apply_to_children") == "true"})
	if err != nil {
		return err
	}
	cn.flash(c, "ok", "Comment added.")
	return redirectTo(c, "/cases/"+id+"#comments")
}

// actionPropose records a proposal and asks the executor for the exact
// preview of the change (a read-only Odoo call). A preview that fails
// leaves the proposal in place with the reason shown.
func (cn *Console) actionPropose(c *fiber.Ctx) error {
	id := utils.CopyString(c.Params("id"))
	typ := utils.CopyString(c.FormValue("type"))
	params := map[string]string{}
	form := map[string]string{"type": typ}
	for _, af := range actionForms {
		if af.Type != typ {
			continue
		}
		for _, f := range af.Fields {
			v := strings.TrimSpace(utils.CopyString(c.FormValue(typ + "." + f.Name)))
			form[typ+"."+f.Name] = v
			if v != "" {
				params[f.Name] = v
			}
		}
	}
	rationale := strings.TrimSpace(utils.CopyString(c.FormValue("rationale")))
	form["rationale"] = rationale
	a, err := cn.svc.Triage.ProposeAction(c.UserContext(), id, triage.ProposeInput{Type: typ, Params: params, Rationale: rationale})
	if err != nil {
		fe, err := fieldErrors(err)
		if err != nil {
			return err
		}
		m, lerr := cn.loadCase(c, id)
		if lerr != nil {
			return lerr
		}
		m.Propose, m.ProposeErrs = form, map[string]string{}
		for k, v := range fe {
			m.ProposeErrs[strings.Replace(k, "params.", typ+".", 1)] = v
		}
		return cn.renderCase(c, fiber.StatusUnprocessableEntity, m)
	}
	if _, err := cn.svc.Triage.PreviewAction(c.UserContext(), a.ID); err != nil {
		cn.flash(c, "warn", "Action proposed, but its preview failed: "+problemText(err))
	} else {
		cn.flash(c, "ok", "Action proposed with a preview of the change. It needs approval before anything is written to Odoo.")
	}
	return redirectTo(c, "/cases/"+id+"#actions")
}

// problemText is the client-safe message of an error.
func problemText(err error) string {
	if e, ok := apperr.As(err); ok && e.Kind != apperr.KindInternal {
		return e.Detail
	}
	return "internal error (see the logs)"
}

func (cn *Console) actionDecide(approve bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id := utils.CopyString(c.Params("id"))
		note := strings.TrimSpace(utils.CopyString(c.FormValue("note")))
		var a *triage.Action
		var err error
		if approve {
			a, err = cn.svc.Triage.ApproveAction(c.UserContext(), id, note)
		} else {
			a, err = cn.svc.Triage.RejectAction(c.UserContext(), id, note)
		}
		if err != nil {
			return err
		}
		if approve {
			cn.flash(c, "ok", "Approved: the change is being written to Odoo.")
		} else {
			cn.flash(c, "ok", "Rejected.")
		}
		return redirectTo(c, "/cases/"+a.CaseID+"#actions")
	}
}

func (cn *Console) actionRetry(c *fiber.Ctx) error {
	a, err := cn.svc.Triage.RetryAction(c.UserContext(), utils.CopyString(c.Params("id")))
	if err != nil {
		return err
	}
	cn.flash(c, "ok", "Retrying the action.")
	return redirectTo(c, "/cases/"+a.CaseID+"#actions")
}

func (cn *Console) actionPreview(c *fiber.Ctx) error {
	a, err := cn.svc.Triage.PreviewAction(c.UserContext(), utils.CopyString(c.Params("id")))
	if err != nil {
		return err
	}
	cn.flash(c, "ok", "Preview refreshed from Odoo.")
	return redirectTo(c, "/cases/"+a.CaseID+"#actions")
}

// eventRaw shows the raw code, text and payload reference of one event,
// loaded on demand from the case timeline.
func (cn *Console) eventRaw(c *fiber.Ctx) error {
	ev, err := cn.svc.Intake.Store.GetEvent(c.UserContext(), cn.db.Read, utils.CopyString(c.Params("id")))
	if err != nil {
		return err
	}
	data := cn.page(c, "Event "+ev.Event.ID, "queue", ev)
	if isHTMX(c) {
		return cn.render(c, fiber.StatusOK, "event", data, "raw")
	}
	return cn.render(c, fiber.StatusOK, "event", data)
}
