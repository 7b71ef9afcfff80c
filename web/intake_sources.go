package web

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
)

// SourceList is the body of GET /api/v1/sources.
type SourceList struct {
	Sources []*intake.Source `json:"sources"`
}

// RotateRequest is the body of POST /api/v1/sources/{id}/rotate.
type RotateRequest struct {
	// Overlap keeps the current secret valid this long (Go duration, e.g.
	// "24h"; "0s" revokes it at once). Default 24h.
	Overlap string `json:"overlap,omitempty"`
	// Secret to use instead of a generated one (e.g. the provider's).
	Secret string `json:"secret,omitempty"`
}

func (s *Server) intakeSourceRoutes(svc *intake.Service) {
	reg := svc.Registry
	s.API.Op(Op{Method: "GET", Path: "/api/v1/sources", Summary: "List sources (never their secrets)", Tags: []string{"sources"},
		Perm: auth.PermSourcesRead, Responses: map[int]Resp{200: {Doc: "Sources", Body: SourceList{}}}},
		func(c *fiber.Ctx) error {
			list, err := reg.List(c.UserContext())
			if err != nil {
				return err
			}
			if list == nil {
				list = []*intake.Source{}
			}
			return c.JSON(SourceList{Sources: list})
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/sources", Summary: "Register a source; its secret or token is shown once", Tags: []string{"sources"},
		Perm: auth.PermSourcesAdmin, Request: intake.AddSource{},
		Responses: map[int]Resp{201: {Doc: "Created", Body: intake.SourceCreated{}}, 409: {Doc: "Name taken"}}},
		func(c *fiber.Ctx) error {
			var in intake.AddSource
			if err := DecodeJSON(c, &in); err != nil {
				return err
			}
			sc, err := reg.Add(c.UserContext(), in)
			if err != nil {
				return err
			}
			return c.Status(fiber.StatusCreated).JSON(sc)
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/sources/:id", Summary: "A source by id or name", Tags: []string{"sources"},
		Perm: auth.PermSourcesRead, Responses: map[int]Resp{200: {Doc: "Source", Body: intake.Source{}}, 404: {Doc: "No such source"}}},
		func(c *fiber.Ctx) error {
			src, err := reg.Get(c.UserContext(), c.Params("id"))
			if err != nil {
				return err
			}
			return c.JSON(src)
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/sources/:id/rotate", Summary: "Rotate a source's secret or token, keeping the old one for an overlap",
		Tags: []string{"sources"}, Perm: auth.PermSourcesAdmin, Request: RotateRequest{},
		Responses: map[int]Resp{200: {Doc: "The source with its new secret or token (shown once)", Body: intake.SourceCreated{}}}},
		func(c *fiber.Ctx) error {
			var req RotateRequest
			if len(c.Body()) > 0 {
				if err := DecodeJSON(c, &req); err != nil {
					return err
				}
			}
			overlap := 24 * time.Hour
			if req.Overlap != "" {
				d, err := time.ParseDuration(req.Overlap)
				if err != nil || d < 0 {
					return apperr.Invalid("invalid overlap", apperr.FieldError{Field: "overlap", Message: "must be a duration such as 24h or 0s"})
				}
				overlap = d
			}
			sc, err := reg.Rotate(c.UserContext(), c.Params("id"), overlap, req.Secret)
			if err != nil {
				return err
			}
			return c.JSON(sc)
		})
	for _, st := range []struct{ path, status, summary string }{
		{"/api/v1/sources/:id/disable", intake.SourceDisabled, "Disable a source: its deliveries are refused"},
		{"/api/v1/sources/:id/enable", intake.SourceActive, "Re-enable a disabled source"},
	} {
		status := st.status
		s.API.Op(Op{Method: "POST", Path: st.path, Summary: st.summary, Tags: []string{"sources"}, Perm: auth.PermSourcesAdmin,
			Responses: map[int]Resp{200: {Doc: "The source", Body: intake.Source{}}}},
			func(c *fiber.Ctx) error {
				src, err := reg.SetStatus(c.UserContext(), c.Params("id"), status)
				if err != nil {
					return err
				}
				return c.JSON(src)
			})
	}
}
