package web

import (
	"mime"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/rules"
)

// RuleList is the body of GET /api/v1/rules.
type RuleList struct {
	Rules    []*rules.RuleView `json:"rules"`
	FourEyes bool              `json:"four_eyes"`
}

// ListsBody is the body of GET /api/v1/rules/lists.
type ListsBody struct {
	Lists map[string][]string `json:"lists"`
}

// ListValues is the body of PUT /api/v1/rules/lists/{name}.
type ListValues struct {
	Values []string `json:"values"`
}

// TestRequest is the body of POST /api/v1/rules/test.
type TestRequest struct {
	// Rules limits the run to these rule ids (default: all).
	Rules []string `json:"rules,omitempty"`
}

// TryRequest is the body of POST /api/v1/rules/try.
type TryRequest struct {
	Input rules.Input `json:"input"`
	// Ruleset is "draft" (default) or "active".
	Ruleset string `json:"ruleset,omitempty"`
}

// HitsBody is the body of GET /api/v1/rules/{id}/hits.
type HitsBody struct {
	Days []rules.Hits `json:"days"`
}

// EvaluationDoc documents GET /api/v1/rules/evaluations/{event_id}; the
// record is returned with its stored bytes.
type EvaluationDoc struct {
	Record     rules.Record       `json:"record"`
	Context    *rules.EvalContext `json:"context,omitempty"`
	DurationUS int64              `json:"duration_us"`
}

// yamlTypes are the accepted content types of YAML ruleset files.
var yamlTypes = []string{"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}

func isYAML(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	for _, t := range yamlTypes {
		if mt == t {
			return true
		}
	}
	return false
}

// rulesetBody reads a ruleset from a YAML or JSON body.
func rulesetBody(c *fiber.Ctx) (*rules.Ruleset, error) {
	body := append([]byte(nil), c.Body()...)
	if isYAML(c.Get(fiber.HeaderContentType)) {
		rs, err := rules.ParseYAML(body)
		if err != nil {
			return nil, apperr.Invalid(err.Error(), apperr.FieldError{Field: "(body)", Message: err.Error()})
		}
		return rs, nil
	}
	var rs rules.Ruleset
	if err := DecodeJSON(c, &rs); err != nil {
		return nil, err
	}
	return &rs, nil
}

func (s *Server) rulesDraftRoutes(svc *rules.Service) {
	s.API.Op(Op{Method: "GET", Path: "/api/v1/rules/lists", Summary: "Draft reference lists (used by inList)", Tags: rulesTags,
		Perm: auth.PermRulesRead, Responses: map[int]Resp{200: {Doc: "Lists by name", Body: ListsBody{}}}},
		func(c *fiber.Ctx) error {
			l, err := svc.Lists(c.UserContext())
			if err != nil {
				return err
			}
			return c.JSON(ListsBody{Lists: l})
		})
	s.API.Op(Op{Method: "PUT", Path: "/api/v1/rules/lists/:name", Summary: "Create or replace a draft reference list", Tags: rulesTags,
		Perm: auth.PermRulesWrite, Request: ListValues{}, Doc: "Lists are versioned with the ruleset: the change goes live on the next publish.",
		Responses: map[int]Resp{204: {Doc: "Saved"}}},
		func(c *fiber.Ctx) error {
			var in ListValues
			if err := DecodeJSON(c, &in); err != nil {
				return err
			}
			if in.Values == nil {
				in.Values = []string{}
			}
			if err := svc.PutList(c.UserContext(), utils.CopyString(c.Params("name")), in.Values); err != nil {
				return err
			}
			return c.SendStatus(fiber.StatusNoContent)
		})
	s.API.Op(Op{Method: "DELETE", Path: "/api/v1/rules/lists/:name", Summary: "Delete a draft reference list no draft rule uses", Tags: rulesTags,
		Perm: auth.PermRulesWrite, Responses: map[int]Resp{204: {Doc: "Deleted"}, 409: {Doc: "A draft rule uses the list"}}},
		func(c *fiber.Ctx) error {
			if err := svc.PutList(c.UserContext(), utils.CopyString(c.Params("name")), nil); err != nil {
				return err
			}
			return c.SendStatus(fiber.StatusNoContent)
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/rules/export", Summary: "Export a ruleset as YAML (for git)", Tags: rulesTags,
		Perm: auth.PermRulesRead, Params: []Param{{Name: "ruleset", In: "query", Doc: "draft (default), active or a version number"}},
		Responses: map[int]Resp{200: {Doc: "The YAML file", Body: "", ContentType: "application/yaml"}}},
		func(c *fiber.Ctx) error {
			rs, err := svc.Export(c.UserContext(), c.Query("ruleset", "draft"))
			if err != nil {
				return err
			}
			b, err := rules.MarshalYAML(rs)
			if err != nil {
				return err
			}
			c.Set(fiber.HeaderContentType, "application/yaml; charset=utf-8")
			c.Set(fiber.HeaderContentDisposition, `attachment; filename="rules.yaml"`)
			return c.Send(b)
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/rules/import", Summary: "Import a ruleset file into the drafts", Tags: rulesTags,
		Perm: auth.PermRulesWrite, Request: rules.Ruleset{}, RequestTypes: []string{"application/yaml", "application/json"},
		Params:    []Param{{Name: "replace", In: "query", Type: "boolean", Doc: "delete drafts and lists that are not in the file"}},
		Doc:       "Rules are matched by id. The file must compile (422 otherwise, nothing changed); failing tests are reported and block the next publish.",
		Responses: map[int]Resp{200: {Doc: "What changed", Body: rules.ImportResult{}}}},
		func(c *fiber.Ctx) error {
			rs, err := rulesetBody(c)
			if err != nil {
				return err
			}
			res, err := svc.Import(c.UserContext(), rs, c.QueryBool("replace", false))
			if err != nil {
				return err
			}
			return c.JSON(res)
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/rules/test", Summary: "Compile the drafts and run their test cases", Tags: rulesTags,
		Perm: auth.PermRulesWrite, Request: TestRequest{}, Responses: map[int]Resp{200: {Doc: "Errors, warnings and one result per test case", Body: rules.Report{}}}},
		func(c *fiber.Ctx) error {
			var req TestRequest
			if err := decodeOptional(c, &req); err != nil {
				return err
			}
			rep, err := svc.TestDrafts(c.UserContext(), req.Rules...)
			if err != nil {
				return err
			}
			return c.JSON(rep)
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/rules/try", Summary: "Evaluate an event against the drafts or the active ruleset", Tags: rulesTags,
		Perm: auth.PermRulesRead, Request: TryRequest{},
		Doc:       "Nothing is stored. The input uses the canonical event and shipment fields; now defaults to event.received_at.",
		Responses: map[int]Resp{200: {Doc: "The evaluation record", Body: rules.Record{}}}},
		func(c *fiber.Ctx) error {
			var req TryRequest
			if err := DecodeJSON(c, &req); err != nil {
				return err
			}
			switch req.Ruleset {
			case "", "draft", "active":
			default:
				return apperr.Invalid("invalid ruleset", apperr.FieldError{Field: "ruleset", Message: "must be draft or active"})
			}
			rec, err := svc.Try(c.UserContext(), &req.Input, req.Ruleset != "active")
			if err != nil {
				return err
			}
			return c.JSON(rec)
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/rules/evaluations/:event_id", Summary: "Why an event was classified as it was", Tags: rulesTags,
		Perm: auth.PermRulesRead, Doc: "The stored evaluation record (its exact bytes), the Odoo context it used and the engine time.",
		Responses: map[int]Resp{200: {Doc: "Evaluation", Body: EvaluationDoc{}}, 404: {Doc: "The event was not evaluated"}}},
		func(c *fiber.Ctx) error {
			ev, err := svc.Evaluation(c.UserContext(), c.Params("event_id"))
			if err != nil {
				return err
			}
			return rawJSON(c, fiber.StatusOK, mustJSON(ev))
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/rules", Summary: "Draft rules with hit counts (30 days) and last hit", Tags: rulesTags,
		Perm: auth.PermRulesRead, Responses: map[int]Resp{200: {Doc: "Rules in priority order", Body: RuleList{}}}},
		func(c *fiber.Ctx) error {
			list, err := svc.ListRules(c.UserContext())
			if err != nil {
				return err
			}
			return c.JSON(RuleList{Rules: list, FourEyes: svc.FourEyes()})
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/rules", Summary: "Create a draft rule", Tags: rulesTags,
		Perm: auth.PermRulesWrite, Request: rules.Rule{},
		Doc: "Validated on save (422 with line/column per field); lint warnings come back with the rule. Priorities are unique " +
			"(lower runs first). Test cases may fail at save; publishing requires them to pass.",
		Responses: map[int]Resp{201: {Doc: "Created", Body: rules.SaveResult{}}, 409: {Doc: "The id exists"}}},
		func(c *fiber.Ctx) error {
			var r rules.Rule
			if err := DecodeJSON(c, &r); err != nil {
				return err
			}
			res, err := svc.CreateRule(c.UserContext(), r)
			if err != nil {
				return err
			}
			return c.Status(fiber.StatusCreated).JSON(res)
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/rules/:id", Summary: "A draft rule", Tags: rulesTags,
		Perm: auth.PermRulesRead, Responses: map[int]Resp{200: {Doc: "Rule", Body: rules.RuleView{}}, 404: {Doc: "No such rule"}}},
		func(c *fiber.Ctx) error {
			v, err := svc.GetRule(c.UserContext(), c.Params("id"))
			if err != nil {
				return err
			}
			return c.JSON(v)
		})
	s.API.Op(Op{Method: "PUT", Path: "/api/v1/rules/:id", Summary: "Replace a draft rule", Tags: rulesTags,
		Perm: auth.PermRulesWrite, Request: rules.Rule{},
		Doc:       "The body must carry the version it was edited from; 409 when someone saved in between.",
		Responses: map[int]Resp{200: {Doc: "Saved", Body: rules.SaveResult{}}, 409: {Doc: "Changed by someone else"}}},
		func(c *fiber.Ctx) error {
			var r rules.Rule
			if err := DecodeJSON(c, &r); err != nil {
				return err
			}
			res, err := svc.UpdateRule(c.UserContext(), utils.CopyString(c.Params("id")), r.Version, r)
			if err != nil {
				return err
			}
			return c.JSON(res)
		})
	s.API.Op(Op{Method: "DELETE", Path: "/api/v1/rules/:id", Summary: "Delete a draft rule", Tags: rulesTags,
		Perm: auth.PermRulesWrite, Params: []Param{{Name: "version", In: "query", Type: "integer", Doc: "the version you saw (optimistic locking)"}},
		Doc:       "The active ruleset keeps the rule until the next publish.",
		Responses: map[int]Resp{204: {Doc: "Deleted"}, 409: {Doc: "Changed by someone else"}}},
		func(c *fiber.Ctx) error {
			if err := svc.DeleteRule(c.UserContext(), utils.CopyString(c.Params("id")), c.QueryInt("version", 0)); err != nil {
				return err
			}
			return c.SendStatus(fiber.StatusNoContent)
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/rules/:id/history", Summary: "Every saved version of a rule", Tags: rulesTags,
		Perm: auth.PermRulesRead, Responses: map[int]Resp{200: {Doc: "Newest first", Body: []rules.RuleVersion{}}}},
		func(c *fiber.Ctx) error {
			h, err := svc.RuleHistory(c.UserContext(), c.Params("id"))
			if err != nil {
				return err
			}
			return c.JSON(h)
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/rules/:id/hits", Summary: "A rule's hit counts per day", Tags: rulesTags,
		Perm: auth.PermRulesRead, Params: []Param{{Name: "days", In: "query", Type: "integer", Doc: "days back (default 30, at most 400)"}},
		Responses: map[int]Resp{200: {Doc: "Counts per UTC day", Body: HitsBody{}}}},
		func(c *fiber.Ctx) error {
			h, err := svc.Hits(c.UserContext(), c.Params("id"), c.QueryInt("days", 30))
			if err != nil {
				return err
			}
			if h == nil {
				h = []rules.Hits{}
			}
			return c.JSON(HitsBody{Days: h})
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/rules/:id/test", Summary: "Run one draft rule's test cases", Tags: rulesTags,
		Perm: auth.PermRulesWrite, Responses: map[int]Resp{200: {Doc: "Results", Body: rules.Report{}}}},
		func(c *fiber.Ctx) error {
			rep, err := svc.TestDrafts(c.UserContext(), utils.CopyString(c.Params("id")))
			if err != nil {
				return err
			}
			return c.JSON(rep)
		})
}
