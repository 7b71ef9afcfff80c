package web

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/queue"
	"github.com/yardmaster/yardmaster/rules"
)

// BacktestBody is the body of POST /api/v1/backtests.
type BacktestBody struct {
	// From and To bound the replayed events by processing time (RFC 3339;
	// To exclusive; empty = open).
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Baseline is "active" (default) or a version number.
	Baseline string `json:"baseline,omitempty"`
	// Candidate is "draft" (default), "active" or a version number.
	Candidate string `json:"candidate,omitempty"`
	// Ruleset is a candidate given inline instead (e.g. a file from git).
	Ruleset *rules.Ruleset `json:"ruleset,omitempty"`
	// RulesetYAML is a candidate YAML file given as text.
	RulesetYAML string `json:"ruleset_yaml,omitempty"`
	MaxExamples int    `json:"max_examples,omitempty"`
}

// BacktestList is the body of GET /api/v1/backtests.
type BacktestList struct {
	Backtests []*rules.BacktestRun `json:"backtests"`
}

func parseTimeField(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, apperr.Invalid("invalid time", apperr.FieldError{Field: field, Message: "must be an RFC 3339 time such as 2026-03-01T00:00:00Z"})
	}
	return t, nil
}

func (s *Server) rulesBacktestRoutes(svc *rules.Service, q *queue.Queue) {
	s.API.Op(Op{Method: "POST", Path: "/api/v1/backtests", Summary: "Replay stored events through the published and a candidate ruleset", Tags: rulesTags,
		Perm: auth.PermRulesWrite, Request: BacktestBody{},
		Doc: "Runs in the background (streamed, bounded memory, cancellable). The report lists events whose classification " +
			"changes (with examples), transitions between categories, per-rule counts on both sides, rules that never win and " +
			"overlapping rules. Poll GET /api/v1/backtests/{id} for progress.",
		Responses: map[int]Resp{202: {Doc: "Queued", Body: rules.BacktestRun{}}, 422: {Doc: "Invalid range, or the candidate does not compile"}}},
		func(c *fiber.Ctx) error {
			var b BacktestBody
			if err := DecodeJSON(c, &b); err != nil {
				return err
			}
			req := rules.BacktestRequest{Baseline: b.Baseline, Candidate: b.Candidate, Ruleset: b.Ruleset, MaxExamples: b.MaxExamples}
			var err error
			if req.From, err = parseTimeField("from", b.From); err != nil {
				return err
			}
			if req.To, err = parseTimeField("to", b.To); err != nil {
				return err
			}
			if b.RulesetYAML != "" {
				if b.Ruleset != nil {
					return apperr.Invalid("two candidates", apperr.FieldError{Field: "ruleset_yaml", Message: "give ruleset or ruleset_yaml, not both"})
				}
				rs, err := rules.ParseYAML([]byte(b.RulesetYAML))
				if err != nil {
					return apperr.Invalid("invalid ruleset file", apperr.FieldError{Field: "ruleset_yaml", Message: err.Error()})
				}
				req.Ruleset = rs
			}
			run, err := svc.StartBacktest(c.UserContext(), q, req)
			if err != nil {
				return err
			}
			return c.Status(fiber.StatusAccepted).JSON(run)
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/backtests", Summary: "Recent backtests", Tags: rulesTags,
		Perm: auth.PermRulesRead, Params: []Param{{Name: "limit", In: "query", Type: "integer", Doc: "default 50, at most 200"}},
		Responses: map[int]Resp{200: {Doc: "Backtests without reports", Body: BacktestList{}}}},
		func(c *fiber.Ctx) error {
			list, err := svc.ListBacktests(c.UserContext(), c.QueryInt("limit", 50))
			if err != nil {
				return err
			}
			return c.JSON(BacktestList{Backtests: list})
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/backtests/:id", Summary: "A backtest with its progress and report", Tags: rulesTags,
		Perm: auth.PermRulesRead, Responses: map[int]Resp{200: {Doc: "Backtest", Body: rules.BacktestRun{}}, 404: {Doc: "No such backtest"}}},
		func(c *fiber.Ctx) error {
			b, err := svc.GetBacktest(c.UserContext(), c.Params("id"))
			if err != nil {
				return err
			}
			return c.JSON(b)
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/backtests/:id/cancel", Summary: "Stop a queued or running backtest", Tags: rulesTags,
		Perm: auth.PermRulesWrite, Responses: map[int]Resp{200: {Doc: "Cancellation requested", Body: rules.BacktestRun{}}, 409: {Doc: "Already finished"}}},
		func(c *fiber.Ctx) error {
			b, err := svc.CancelBacktest(c.UserContext(), c.Params("id"))
			if err != nil {
				return err
			}
			return c.JSON(b)
		})
}
