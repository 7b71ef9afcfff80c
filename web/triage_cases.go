package web

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/rules"
	"github.com/yardmaster/yardmaster/triage"
)

var triageTags = []string{"triage"}

// TriageRoutes registers the cases, actions, comments, bulk, account
// mapping and outbound webhook API.
func (s *Server) TriageRoutes(svc *triage.Service) {
	s.triageCaseRoutes(svc)
	s.triageActionRoutes(svc)
	s.triageWebhookRoutes(svc)
}

var caseListParams = []Param{
	{Name: "state", Doc: "comma-separated: open, acknowledged, snoozed, resolved, dismissed (default: open,acknowledged — the queue)"},
	{Name: "severity", Doc: "comma-separated: critical, high, medium, low, info"},
	{Name: "queue", Doc: "rule queue"},
	{Name: "team", Doc: "owning team"},
	{Name: "assignee", Doc: "a user id, me, or none"},
	{Name: "carrier", Doc: "carrier slug"},
	{Name: "customer", Doc: "Odoo customer (res.partner) id"},
	{Name: "sla_state", Doc: "comma-separated: none, ok, at_risk, breached, met"},
	{Name: "category", Doc: "case category"},
	{Name: "kind", Enum: []string{triage.KindShipment, triage.KindGroup, triage.KindDisruption}},
	{Name: "parent_id", Doc: "children of a disruption"},
	{Name: "shipment_id", Doc: "cases of a shipment"},
	{Name: "q", Doc: "search: tracking number (prefix or last digits), order or picking reference, customer name word (prefix)"},
	{Name: "sort", Enum: triage.Sorts, Doc: "default priority (highest first)"},
	{Name: "cursor", Doc: "next_cursor of the previous page"},
	{Name: "limit", Type: "integer", Doc: "page size, 1-500 (default 50)"},
}

func splitList(v string) []string {
	if v == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, utils.CopyString(p))
		}
	}
	return out
}

// ParseCaseFilter reads a case filter from query parameters.
func ParseCaseFilter(c *fiber.Ctx) (triage.ListFilter, error) {
	q := func(k string) string { return utils.CopyString(c.Query(k)) }
	f := triage.ListFilter{Queue: q("queue"), Team: q("team"), Assignee: q("assignee"), Carrier: q("carrier"),
		Customer: q("customer"), Category: q("category"), Kind: q("kind"), ParentID: q("parent_id"), ShipmentID: q("shipment_id"),
		Q: q("q"), Sort: q("sort"), Cursor: q("cursor"), SLAStates: splitList(c.Query("sla_state"))}
	for _, st := range splitList(c.Query("state")) {
		f.States = append(f.States, triage.State(st))
	}
	for _, sv := range splitList(c.Query("severity")) {
		f.Severities = append(f.Severities, rules.Severity(sv))
	}
	if v := c.Query("limit"); v != "" {
		n := c.QueryInt("limit", -1)
		if n <= 0 {
			return f, apperr.Invalid("invalid case filter", apperr.FieldError{Field: "limit", Message: "1-500"})
		}
		f.Limit = n
	}
	if f.Limit > 500 {
		return f, apperr.Invalid("invalid case filter", apperr.FieldError{Field: "limit", Message: "1-500"})
	}
	return f, f.Validate()
}

// CaseOpBody is the body of the case operations (all fields optional
// except what the operation needs).
type CaseOpBody struct {
	AssigneeID      *string    `json:"assignee_id,omitempty"`
	Team            *string    `json:"team,omitempty"`
	Until           *time.Time `json:"until,omitempty"`
	UntilNextEvent  bool       `json:"until_next_event,omitempty"`
	Reason          string     `json:"reason,omitempty"`
	Note            string     `json:"note,omitempty"`
	ApplyToChildren bool       `json:"apply_to_children,omitempty"`
}

// CaseUpdateBody is the body of PATCH /api/v1/cases/{id}.
type CaseUpdateBody struct {
	Severity *rules.Severity `json:"severity,omitempty"`
	Queue    *string         `json:"queue,omitempty"`
	Team     *string         `json:"team,omitempty"`
	Title    *string         `json:"title,omitempty"`
	Note     string          `json:"note,omitempty"`
}

// caseOps documents the per-case operations.
var caseOps = []struct {
	name, summary, doc string
}{
	{"acknowledge", "Acknowledge a case (stops the respond-by clock)", "Takes ownership when nobody owns the case. A snoozed case is woken and acknowledged. 409 when already acknowledged or closed."},
	{"assign", "Assign a case to a user and/or a team", "assignee_id is a user id or \"me\"; an empty string unassigns. team moves the case to a team."},
	{"unassign", "Remove the case's assignee", ""},
	{"snooze", "Snooze a case until a time and/or the shipment's next event", "The case leaves the queue and comes back at until (at most 90 days ahead) or with the shipment's next carrier event, whichever is first; until_next_event alone returns after 7 days at the latest. SLA clocks keep running."},
	{"wake", "Return a snoozed case to the queue now", ""},
	{"resolve", "Resolve a case with a reason code", "reason: " + strings.Join(triage.CloseReasons[triage.StateResolved], ", ") + " (default fixed)."},
	{"dismiss", "Dismiss a case with a reason code", "reason (required): " + strings.Join(triage.CloseReasons[triage.StateDismissed], ", ") + ". Later matches are recorded on the case without reopening it unless their severity is higher."},
	{"reopen", "Reopen a resolved or dismissed case", "Restarts both SLA clocks."},
}

func (s *Server) triageCaseRoutes(svc *triage.Service) {
	s.API.Op(Op{Method: "GET", Path: "/api/v1/cases", Summary: "List cases (the queue by default), sorted by priority", Tags: triageTags,
		Perm: auth.PermCasesRead, Params: caseListParams,
		Doc: "Cursor-paginated. Account users see only their customers' cases. The default (no state) is the working queue: " +
			"open and acknowledged cases, highest priority first.",
		Responses: map[int]Resp{200: {Doc: "A page of cases", Body: triage.Page{}}}},
		func(c *fiber.Ctx) error {
			f, err := ParseCaseFilter(c)
			if err != nil {
				return err
			}
			page, err := svc.List(c.UserContext(), f)
			if err != nil {
				return err
			}
			return c.JSON(page)
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/cases/stats", Summary: "Queue health: live cases by state, severity, SLA state and age; MTTA and MTTR",
		Tags: triageTags, Perm: auth.PermCasesRead,
		Params:    []Param{{Name: "window", Doc: "MTTA/MTTR over cases opened within this window, e.g. 7d (default), 24h"}},
		Responses: map[int]Resp{200: {Doc: "Figures", Body: triage.Stats{}}}},
		func(c *fiber.Ctx) error {
			w := 7 * 24 * time.Hour
			if v := c.Query("window"); v != "" {
				d, err := rules.ParseDuration(v)
				if err != nil || d <= 0 || d.D() > 400*24*time.Hour {
					return apperr.Invalid("invalid window", apperr.FieldError{Field: "window", Message: "a duration such as 24h or 30d (at most 400d)"})
				}
				w = d.D()
			}
			st, err := svc.Stats(c.UserContext(), w)
			if err != nil {
				return err
			}
			return c.JSON(st)
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/cases/bulk", Summary: "Apply one operation to many cases (ids or a filter)", Tags: triageTags,
		Perm: auth.PermCasesWrite, Request: triage.BulkInput{},
		Doc: "One transaction; one audit entry, timeline line and outbound event per changed case, written set-wise. " +
			"op is one of " + strings.Join(triage.OpNames, ", ") + ". Select cases with ids (at most 10,000) or filter " +
			"(the same fields as the list's query parameters; at most 10,000 matches). Cases the operation does not apply to " +
			"(e.g. already acknowledged) are reported in skipped.",
		Responses: map[int]Resp{200: {Doc: "Per-case result", Body: triage.BulkResult{}}}},
		func(c *fiber.Ctx) error {
			var in triage.BulkInput
			if err := DecodeJSON(c, &in); err != nil {
				return err
			}
			res, err := svc.Bulk(c.UserContext(), in)
			if err != nil {
				return err
			}
			return c.JSON(res)
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/cases/:id", Summary: "A case with its timeline, rule evaluations, actions, comments and audit entries",
		Tags: triageTags, Perm: auth.PermCasesRead,
		Responses: map[int]Resp{200: {Doc: "Case detail", Body: triage.Detail{}}, 404: {Doc: "No such case (or not one of your customers')"}}},
		func(c *fiber.Ctx) error {
			d, err := svc.GetDetail(c.UserContext(), c.Params("id"))
			if err != nil {
				return err
			}
			return c.JSON(d)
		})
	s.API.Op(Op{Method: "PATCH", Path: "/api/v1/cases/:id", Summary: "Change a case's severity, queue, team or title", Tags: triageTags,
		Perm: auth.PermCasesWrite, Request: CaseUpdateBody{},
		Responses: map[int]Resp{200: {Doc: "The case", Body: triage.Case{}}}},
		func(c *fiber.Ctx) error {
			var b CaseUpdateBody
			if err := DecodeJSON(c, &b); err != nil {
				return err
			}
			out, err := svc.Apply(c.UserContext(), utils.CopyString(c.Params("id")),
				triage.Op{Name: "update", Severity: b.Severity, Queue: b.Queue, Team: b.Team, Title: b.Title, Note: b.Note})
			if err != nil {
				return err
			}
			return c.JSON(out)
		})
	for _, op := range caseOps {
		name := op.name
		s.API.Op(Op{Method: "POST", Path: "/api/v1/cases/:id/" + name, Summary: op.summary, Doc: op.doc, Tags: triageTags,
			Perm: auth.PermCasesWrite, Request: CaseOpBody{},
			Responses: map[int]Resp{200: {Doc: "The case after the operation", Body: triage.Case{}}, 409: {Doc: "The operation does not apply to the case's state"}}},
			func(c *fiber.Ctx) error {
				var b CaseOpBody
				if err := decodeOptional(c, &b); err != nil {
					return err
				}
				op := triage.Op{Name: name, AssigneeID: b.AssigneeID, Team: b.Team, Until: b.Until, UntilNextEvent: b.UntilNextEvent,
					Reason: b.Reason, Note: b.Note, ApplyToChildren: b.ApplyToChildren}
				out, err := svc.Apply(c.UserContext(), utils.CopyString(c.Params("id")), op)
				if err != nil {
					return err
				}
				return c.JSON(out)
			})
	}
	s.API.Op(Op{Method: "GET", Path: "/api/v1/cases/:id/comments", Summary: "A case's comments, oldest first", Tags: triageTags,
		Perm: auth.PermCasesRead, Responses: map[int]Resp{200: {Doc: "Comments", Body: []triage.Comment{}}}},
		func(c *fiber.Ctx) error {
			id := utils.CopyString(c.Params("id"))
			if _, err := svc.Get(c.UserContext(), id); err != nil {
				return err
			}
			out, err := svc.Comments(c.UserContext(), id)
			if err != nil {
				return err
			}
			if out == nil {
				out = []*triage.Comment{}
			}
			return c.JSON(out)
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/cases/:id/comments", Summary: "Comment on a case (@username mentions)", Tags: triageTags,
		Perm: auth.PermCasesWrite, Request: triage.CommentInput{},
		Doc:       "apply_to_children copies a comment on a disruption to its live child cases.",
		Responses: map[int]Resp{201: {Doc: "The comment", Body: triage.Comment{}}}},
		func(c *fiber.Ctx) error {
			var in triage.CommentInput
			if err := DecodeJSON(c, &in); err != nil {
				return err
			}
			cm, err := svc.AddComment(c.UserContext(), utils.CopyString(c.Params("id")), in)
			if err != nil {
				return err
			}
			return c.Status(fiber.StatusCreated).JSON(cm)
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/users/:id/customers", Summary: "The Odoo customers an account user reads cases of", Tags: triageTags,
		Perm: auth.PermUsersAdmin, Responses: map[int]Resp{200: {Doc: "Customer ids", Body: CustomerList{}}}},
		func(c *fiber.Ctx) error {
			ids, err := svc.AccountCustomers(c.UserContext(), utils.CopyString(c.Params("id")))
			if err != nil {
				return err
			}
			return c.JSON(CustomerList{CustomerIDs: ids})
		})
	s.API.Op(Op{Method: "PUT", Path: "/api/v1/users/:id/customers", Summary: "Set the Odoo customers an account user reads cases of", Tags: triageTags,
		Perm: auth.PermUsersAdmin, Request: CustomerList{},
		Doc:       "Account users read the cases of these customers (res.partner ids) and of their own sales team (users.team = the case's sales team from the Odoo mirror).",
		Responses: map[int]Resp{200: {Doc: "The stored list", Body: CustomerList{}}}},
		func(c *fiber.Ctx) error {
			var in CustomerList
			if err := DecodeJSON(c, &in); err != nil {
				return err
			}
			ids, err := svc.SetAccountCustomers(c.UserContext(), utils.CopyString(c.Params("id")), in.CustomerIDs)
			if err != nil {
				return err
			}
			return c.JSON(CustomerList{CustomerIDs: ids})
		})
}

// CustomerList is an account user's customers.
type CustomerList struct {
	CustomerIDs []string `json:"customer_ids"`
}
