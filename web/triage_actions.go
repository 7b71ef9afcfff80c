package web

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/triage"
)

// ActionList is a page of actions.
type ActionList struct {
	Actions    []*triage.Action `json:"actions"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

// DecisionList is the outcome of POST /api/v1/actions/decide.
type DecisionList struct {
	Results []triage.DecisionResult `json:"results"`
}

// DecisionBody is the body of approve and reject.
type DecisionBody struct {
	Note string `json:"note,omitempty"`
}

// ActionEditBody replaces a proposed action's parameters.
type ActionEditBody struct {
	Params map[string]string `json:"params"`
}

func actionStateNames() []string {
	out := make([]string, len(triage.ActionStates))
	for i, s := range triage.ActionStates {
		out[i] = string(s)
	}
	return out
}

func (s *Server) triageActionRoutes(svc *triage.Service) {
	s.API.Op(Op{Method: "GET", Path: "/api/v1/cases/:id/actions", Summary: "A case's actions", Tags: triageTags,
		Perm: auth.PermCasesRead, Responses: map[int]Resp{200: {Doc: "Actions, oldest first", Body: ActionList{}}}},
		func(c *fiber.Ctx) error {
			id := utils.CopyString(c.Params("id"))
			if _, err := svc.Get(c.UserContext(), id); err != nil {
				return err
			}
			list, err := svc.ListActions(c.UserContext(), triage.ActionFilter{CaseID: id, Limit: 500})
			if err != nil {
				return err
			}
			for i, j := 0, len(list)-1; i < j; i, j = i+1, j-1 {
				list[i], list[j] = list[j], list[i]
			}
			if list == nil {
				list = []*triage.Action{}
			}
			return c.JSON(ActionList{Actions: list})
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/cases/:id/actions", Summary: "Propose an Odoo action on a case", Tags: triageTags,
		Perm: auth.PermActionsPropose, Request: triage.ProposeInput{},
		Doc: "Types and parameters (all text): reschedule_picking {scheduled_date (or date: YYYY-MM-DD or RFC 3339), picking?, reason?}, " +
			"post_note {body, target? order|picking}, schedule_activity {summary, note?, days? (deadline in days from execution) or " +
			"date_deadline?, user_id?, target?, activity_type?, notify?}, create_ticket {title, description?, priority? low|medium|high|urgent, " +
			"team_id?, project_id?}. 409 when the same action is already pending on the case.",
		Responses: map[int]Resp{201: {Doc: "The proposal", Body: triage.Action{}}}},
		func(c *fiber.Ctx) error {
			var in triage.ProposeInput
			if err := DecodeJSON(c, &in); err != nil {
				return err
			}
			a, err := svc.ProposeAction(c.UserContext(), utils.CopyString(c.Params("id")), in)
			if err != nil {
				return err
			}
			return c.Status(fiber.StatusCreated).JSON(a)
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/cases/:id/actions/children", Summary: "Propose one Odoo action on every live child of a disruption",
		Tags: triageTags, Perm: auth.PermActionsPropose, Request: triage.ProposeInput{},
		Doc:       "Children where the same action is already pending are skipped. Approve the proposals together with POST /api/v1/actions/decide.",
		Responses: map[int]Resp{201: {Doc: "The proposals", Body: ActionList{}}}},
		func(c *fiber.Ctx) error {
			var in triage.ProposeInput
			if err := DecodeJSON(c, &in); err != nil {
				return err
			}
			list, err := svc.ProposeOnChildren(c.UserContext(), utils.CopyString(c.Params("id")), in)
			if err != nil {
				return err
			}
			return c.Status(fiber.StatusCreated).JSON(ActionList{Actions: list})
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/actions/decide", Summary: "Approve or reject many proposed actions at once", Tags: triageTags,
		Perm: auth.PermActionsApprove, Request: triage.DecisionsInput{},
		Doc:       "One transaction; each action is checked like a single approval (four-eyes, parameters) and reported; the others go ahead.",
		Responses: map[int]Resp{200: {Doc: "Per-action outcome", Body: DecisionList{}}}},
		func(c *fiber.Ctx) error {
			var in triage.DecisionsInput
			if err := DecodeJSON(c, &in); err != nil {
				return err
			}
			res, err := svc.DecideMany(c.UserContext(), in)
			if err != nil {
				return err
			}
			return c.JSON(DecisionList{Results: res})
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/actions", Summary: "List actions (e.g. the approval inbox, failures to retry)", Tags: triageTags,
		Perm: auth.PermCasesReadAll,
		Params: []Param{{Name: "state", Enum: actionStateNames()}, {Name: "type"}, {Name: "case_id"},
			{Name: "cursor", Doc: "next_cursor of the previous page"}, {Name: "limit", Type: "integer", Doc: "1-500 (default 100)"}},
		Responses: map[int]Resp{200: {Doc: "Actions, newest first", Body: ActionList{}}}},
		func(c *fiber.Ctx) error {
			f := triage.ActionFilter{State: triage.ActionState(utils.CopyString(c.Query("state"))), Type: utils.CopyString(c.Query("type")),
				CaseID: utils.CopyString(c.Query("case_id")), Before: utils.CopyString(c.Query("cursor")), Limit: c.QueryInt("limit", 100)}
			if f.State != "" {
				ok := false
				for _, st := range triage.ActionStates {
					ok = ok || st == f.State
				}
				if !ok {
					return apperr.Invalid("invalid filter", apperr.FieldError{Field: "state", Message: "not an action state"})
				}
			}
			if f.Limit < 1 || f.Limit > 500 {
				return apperr.Invalid("invalid filter", apperr.FieldError{Field: "limit", Message: "1-500"})
			}
			list, err := svc.ListActions(c.UserContext(), f)
			if err != nil {
				return err
			}
			out := ActionList{Actions: list}
			if list == nil {
				out.Actions = []*triage.Action{}
			}
			if len(list) == f.Limit {
				out.NextCursor = list[len(list)-1].ID
			}
			return c.JSON(out)
		})
	get := func(c *fiber.Ctx) (*triage.Action, error) {
		a, err := svc.GetAction(c.UserContext(), utils.CopyString(c.Params("id")))
		if err != nil {
			return nil, err
		}
		if _, err := svc.Get(c.UserContext(), a.CaseID); err != nil {
			return nil, apperr.NotFound("action "+a.ID, nil)
		}
		return a, nil
	}
	s.API.Op(Op{Method: "GET", Path: "/api/v1/actions/:id", Summary: "An action", Tags: triageTags, Perm: auth.PermCasesRead,
		Responses: map[int]Resp{200: {Doc: "The action", Body: triage.Action{}}}},
		func(c *fiber.Ctx) error {
			a, err := get(c)
			if err != nil {
				return err
			}
			return c.JSON(a)
		})
	s.API.Op(Op{Method: "PATCH", Path: "/api/v1/actions/:id", Summary: "Edit a proposed action's parameters", Tags: triageTags,
		Perm: auth.PermActionsPropose, Request: ActionEditBody{},
		Doc:       "The editor becomes the proposer: for four-eyes types someone else must approve.",
		Responses: map[int]Resp{200: {Doc: "The action", Body: triage.Action{}}}},
		func(c *fiber.Ctx) error {
			var b ActionEditBody
			if err := DecodeJSON(c, &b); err != nil {
				return err
			}
			if _, err := get(c); err != nil {
				return err
			}
			a, err := svc.EditAction(c.UserContext(), utils.CopyString(c.Params("id")), b.Params)
			if err != nil {
				return err
			}
			return c.JSON(a)
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/actions/:id/preview", Summary: "Preview the exact change in Odoo", Tags: triageTags,
		Perm:      auth.PermActionsPropose,
		Doc:       "Reads the target record in Odoo and returns the fields the action would set (before and after). Changes nothing; recorded in the audit trail as an external call.",
		Responses: map[int]Resp{200: {Doc: "The action with its preview", Body: triage.Action{}}, 503: {Doc: "Odoo is not configured or did not answer"}}},
		func(c *fiber.Ctx) error {
			a, err := svc.PreviewAction(c.UserContext(), utils.CopyString(c.Params("id")))
			if err != nil {
				return err
			}
			return c.JSON(a)
		})
	for _, d := range []struct{ verb, summary string }{
		{"approve", "Approve a proposed action (four-eyes: not by its proposer for configured types)"},
		{"reject", "Reject a proposed action"},
	} {
		verb := d.verb
		s.API.Op(Op{Method: "POST", Path: "/api/v1/actions/:id/" + verb, Summary: d.summary, Tags: triageTags,
			Perm: auth.PermActionsApprove, Request: DecisionBody{},
			Responses: map[int]Resp{200: {Doc: "The action", Body: triage.Action{}}, 403: {Doc: "Four-eyes: the proposer cannot approve"},
				409: {Doc: "The action is not proposed"}}},
			func(c *fiber.Ctx) error {
				var b DecisionBody
				if err := decodeOptional(c, &b); err != nil {
					return err
				}
				id := utils.CopyString(c.Params("id"))
				var a *triage.Action
				var err error
				if verb == "approve" {
					a, err = svc.ApproveAction(c.UserContext(), id, b.Note)
				} else {
					a, err = svc.RejectAction(c.UserContext(), id, b.Note)
				}
				if err != nil {
					return err
				}
				return c.JSON(a)
			})
	}
	s.API.Op(Op{Method: "POST", Path: "/api/v1/actions/:id/retry", Summary: "Retry a failed action (same idempotency key)", Tags: triageTags,
		Perm: auth.PermActionsApprove, Responses: map[int]Resp{200: {Doc: "The action, approved again", Body: triage.Action{}}, 409: {Doc: "The action has not failed"}}},
		func(c *fiber.Ctx) error {
			a, err := svc.RetryAction(c.UserContext(), utils.CopyString(c.Params("id")))
			if err != nil {
				return err
			}
			return c.JSON(a)
		})
}
