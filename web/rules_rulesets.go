package web

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/rules"
)

// PublishRequest is the body of POST /api/v1/rulesets.
type PublishRequest struct {
	Note string `json:"note,omitempty"`
}

// DecisionRequest is the body of approve and reject.
type DecisionRequest struct {
	Note string `json:"note,omitempty"`
}

// RollbackRequest is the body of POST /api/v1/rulesets/{version}/rollback.
type RollbackRequest struct {
	Note string `json:"note,omitempty"`
	// ResetDrafts also replaces the drafts with the restored content.
	ResetDrafts bool `json:"reset_drafts,omitempty"`
}

// VersionList is the body of GET /api/v1/rulesets.
type VersionList struct {
	Versions []*rules.Version `json:"versions"`
}

// PublishProblem is the 422 answer when drafts cannot be published: a
// problem document with the full compile and test report.
type PublishProblem struct {
	Problem
	Report *rules.Report `json:"report"`
}

func (s *Server) rulesetRoutes(svc *rules.Service) {
	s.API.Op(Op{Method: "GET", Path: "/api/v1/rulesets", Summary: "Ruleset versions, newest first", Tags: rulesTags,
		Perm: auth.PermRulesRead, Params: []Param{{Name: "limit", In: "query", Type: "integer", Doc: "default 100"}},
		Responses: map[int]Resp{200: {Doc: "Versions (without content)", Body: VersionList{}}}},
		func(c *fiber.Ctx) error {
			vs, err := svc.Versions(c.UserContext(), c.QueryInt("limit", 100))
			if err != nil {
				return err
			}
			if vs == nil {
				vs = []*rules.Version{}
			}
			return c.JSON(VersionList{Versions: vs})
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/rulesets", Summary: "Publish the drafts as a new immutable version", Tags: rulesTags,
		Perm: auth.PermRulesPublish, Request: PublishRequest{},
		Doc: "Every rule must compile and every test case pass (422 with the report otherwise). With YARDMASTER_RULES_FOUR_EYES " +
			"the version is pending (202) until someone other than the author approves it; otherwise it is active at once (201) " +
			"and every process switches to it within seconds.",
		Responses: map[int]Resp{201: {Doc: "Published and active", Body: rules.PublishResult{}}, 202: {Doc: "Waiting for approval", Body: rules.PublishResult{}},
			409: {Doc: "The drafts equal the active version, or changed while being tested"}, 422: {Doc: "Errors or failing tests", Body: PublishProblem{}, ContentType: ProblemContentType}}},
		func(c *fiber.Ctx) error {
			var req PublishRequest
			if err := decodeOptional(c, &req); err != nil {
				return err
			}
			res, err := svc.Publish(c.UserContext(), req.Note)
			var pe *rules.PublishError
			if errors.As(err, &pe) {
				return publishProblem(c, pe)
			}
			if err != nil {
				return err
			}
			status := fiber.StatusCreated
			if res.Version.Status == rules.StatusPending {
				status = fiber.StatusAccepted
			}
			return c.Status(status).JSON(res)
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/rulesets/:version", Summary: "A ruleset version with its content", Tags: rulesTags,
		Perm: auth.PermRulesRead, Doc: "version is a number or \"active\".",
		Responses: map[int]Resp{200: {Doc: "Version", Body: rules.Version{}}, 404: {Doc: "No such version"}}},
		func(c *fiber.Ctx) error {
			v, err := svc.GetVersion(c.UserContext(), c.Params("version"))
			if err != nil {
				return err
			}
			return c.JSON(v)
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/rulesets/:version/approve", Summary: "Approve a pending version (four-eyes)", Tags: rulesTags,
		Perm: auth.PermRulesPublish, Request: DecisionRequest{},
		Doc: "The approver must not be the author (403). The tests run again; the version must still be based on the active " +
			"version (409 when another was published since).",
		Responses: map[int]Resp{200: {Doc: "Published and active", Body: rules.Version{}}, 403: {Doc: "The author cannot approve"}, 409: {Doc: "Not pending, or stale"}}},
		func(c *fiber.Ctx) error {
			n, err := pathInt(c, "version")
			if err != nil {
				return err
			}
			var req DecisionRequest
			if err := decodeOptional(c, &req); err != nil {
				return err
			}
			v, err := svc.Approve(c.UserContext(), n, req.Note)
			var pe *rules.PublishError
			if errors.As(err, &pe) {
				return publishProblem(c, pe)
			}
			if err != nil {
				return err
			}
			return c.JSON(v)
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/rulesets/:version/reject", Summary: "Reject (or, as its author, withdraw) a pending version", Tags: rulesTags,
		Perm: auth.PermRulesPublish, Request: DecisionRequest{},
		Responses: map[int]Resp{200: {Doc: "Rejected or withdrawn", Body: rules.Version{}}, 409: {Doc: "Not pending"}}},
		func(c *fiber.Ctx) error {
			n, err := pathInt(c, "version")
			if err != nil {
				return err
			}
			var req DecisionRequest
			if err := decodeOptional(c, &req); err != nil {
				return err
			}
			v, err := svc.Reject(c.UserContext(), n, req.Note)
			if err != nil {
				return err
			}
			return c.JSON(v)
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/rulesets/:version/rollback", Summary: "Republish an earlier version as a new version", Tags: rulesTags,
		Perm: auth.PermRulesPublish, Request: RollbackRequest{},
		Doc: "Nothing is deleted: the restored content becomes a new version, active at once (it was approved before, so " +
			"four-eyes does not apply). The drafts stay as they are unless reset_drafts is set.",
		Responses: map[int]Resp{201: {Doc: "The new active version", Body: rules.Version{}}, 409: {Doc: "Never published, or already active"}}},
		func(c *fiber.Ctx) error {
			n, err := pathInt(c, "version")
			if err != nil {
				return err
			}
			var req RollbackRequest
			if err := decodeOptional(c, &req); err != nil {
				return err
			}
			v, err := svc.Rollback(c.UserContext(), n, req.Note, req.ResetDrafts)
			if err != nil {
				return err
			}
			return c.Status(fiber.StatusCreated).JSON(v)
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/rulesets/:a/diff/:b", Summary: "What changed from ruleset a to ruleset b", Tags: rulesTags,
		Perm: auth.PermRulesRead, Doc: "a and b are version numbers, \"active\" or \"draft\". Rules added, removed and changed (field by field, with a line diff of conditions) and list changes.",
		Responses: map[int]Resp{200: {Doc: "Diff", Body: rules.Diff{}}}},
		func(c *fiber.Ctx) error {
			d, err := svc.Diff(c.UserContext(), c.Params("a"), c.Params("b"))
			if err != nil {
				return err
			}
			return c.JSON(d)
		})
}

// publishProblem answers a blocked publish with the report attached.
func publishProblem(c *fiber.Ctx, pe *rules.PublishError) error {
	p := problemFor(c, pe)
	c.Status(p.Status)
	c.Set(fiber.HeaderContentType, ProblemContentType)
	return c.JSON(PublishProblem{Problem: p, Report: pe.Report}, ProblemContentType)
}
