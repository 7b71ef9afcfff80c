package web

import (
	"encoding/json"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/queue"
	"github.com/yardmaster/yardmaster/rules"
)

// RulesRoutes registers the rules API: validation and the environment
// reference, draft rules and reference lists, tests and "try it",
// import/export, ruleset versions (publish, four-eyes approval, rollback,
// diff), evaluation records, hit counts and backtests. q queues backtests
// (nil runs them in this process).
func (s *Server) RulesRoutes(svc *rules.Service, q *queue.Queue) {
	// Static paths first: fiber matches in registration order and rule ids
	// never take these names (rules reserves them).
	s.rulesValidateRoutes(svc)
	s.rulesDraftRoutes(svc)
	s.rulesetRoutes(svc)
	s.rulesBacktestRoutes(svc, q)
}

var rulesTags = []string{"rules"}

// ValidateRequest is the body of POST /api/v1/rules/validate.
type ValidateRequest struct {
	// When is the condition to check.
	When string `json:"when"`
	// EventTypes, when given, are checked and compared with the
	// condition's guards.
	EventTypes []string `json:"event_types,omitempty"`
}

func (s *Server) rulesValidateRoutes(svc *rules.Service) {
	s.API.Op(Op{Method: "POST", Path: "/api/v1/rules/validate", Summary: "Validate and lint a rule condition", Tags: rulesTags,
		Perm: auth.PermRulesRead, Request: ValidateRequest{},
		Doc: "Compiles the expression against the rule environment and lints it. Errors (unknown field with a suggestion, " +
			"type mismatch, non-boolean result, syntax error, disabled function, node limit) and warnings (float division, " +
			"nil traps, float equality, dates without a zone, event_types that cannot match) carry a 1-based line and column. " +
			"inList() names are checked against the draft reference lists.",
		Responses: map[int]Resp{200: {Doc: "ok is false when there are errors", Body: rules.ValidateResult{}}}},
		func(c *fiber.Ctx) error {
			var req ValidateRequest
			if err := DecodeJSON(c, &req); err != nil {
				return err
			}
			lists, err := svc.Lists(c.UserContext())
			if err != nil {
				return err
			}
			return c.JSON(rules.ValidateCondition(req.When, req.EventTypes, lists))
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/rules/env", Summary: "Every field and function a rule can use", Tags: rulesTags,
		Perm:      auth.PermRulesRead,
		Doc:       "Generated from the engine's Go types: name, type, documentation, example and allowed values of every field; helper functions with signatures; allowed builtins; limits.",
		Responses: map[int]Resp{200: {Doc: "The environment reference", Body: rules.EnvDoc{}}}},
		func(c *fiber.Ctx) error { return c.JSON(rules.DescribeEnv()) })
}

// pathVersion parses a version path parameter ("active" allowed when
// allowActive).
func pathInt(c *fiber.Ctx, name string) (int64, error) {
	n, err := strconv.ParseInt(c.Params(name), 10, 64)
	if err != nil || n <= 0 {
		return 0, apperr.Invalid("invalid "+name, apperr.FieldError{Field: name, Message: "must be a positive number"})
	}
	return n, nil
}

// decodeOptional decodes a JSON body when there is one.
func decodeOptional(c *fiber.Ctx, v any) error {
	if len(c.Body()) == 0 {
		return nil
	}
	return DecodeJSON(c, v)
}

// rawJSON writes bytes that are already JSON.
func rawJSON(c *fiber.Ctx, status int, b []byte) error {
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(b)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
