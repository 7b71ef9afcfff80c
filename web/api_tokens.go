package web

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/internal/auth"
)

// TokenCreateRequest is the body of POST /api/v1/tokens.
type TokenCreateRequest struct {
	Name      string     `json:"name" jsonschema:"maxLength=100"`
	Role      auth.Role  `json:"role" jsonschema:"enum=admin,enum=analyst,enum=manager,enum=account,enum=viewer"`
	Scopes    []string   `json:"scopes,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// TokenCreated is the answer: the plaintext token is shown once.
type TokenCreated struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      auth.Role  `json:"role"`
	Scopes    []string   `json:"scopes"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	Token     string     `json:"token"`
}

// NewTokenCreated is the one JSON shape of a new token (API and CLI).
func NewTokenCreated(plain string, t auth.Token) TokenCreated {
	sc := t.Scopes()
	if sc == nil {
		sc = []string{}
	}
	return TokenCreated{ID: t.ID, Name: t.Name, Role: t.Role, Scopes: sc, ExpiresAt: t.ExpiresAt, CreatedAt: t.CreatedAt, Token: plain}
}

func (s *Server) tokenRoutes() {
	s.API.Op(Op{Method: "POST", Path: "/api/v1/tokens", Summary: "Create an API token (shown once)", Tags: []string{"admin"},
		Perm: auth.PermTokensAdmin, Request: TokenCreateRequest{}, Responses: map[int]Resp{201: {Doc: "Created", Body: TokenCreated{}}}},
		func(c *fiber.Ctx) error {
			var req TokenCreateRequest
			if err := DecodeJSON(c, &req); err != nil {
				return err
			}
			p := Principal(c)
			plain, tok, err := auth.IssueToken(c.UserContext(), s.db, s.now(), auth.TokenSpec{Name: req.Name, Role: req.Role, Scopes: req.Scopes,
				ExpiresAt: req.ExpiresAt, CreatedBy: p.ID})
			if err != nil {
				return err
			}
			return c.Status(fiber.StatusCreated).JSON(NewTokenCreated(plain, tok))
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/tokens", Summary: "List API tokens (never their secrets)", Tags: []string{"admin"},
		Perm: auth.PermTokensAdmin, Responses: map[int]Resp{200: {Doc: "Tokens", Body: []auth.Token{}}}},
		func(c *fiber.Ctx) error {
			ts, err := auth.ListTokens(c.UserContext(), s.db.Read)
			if err != nil {
				return err
			}
			if ts == nil {
				ts = []auth.Token{}
			}
			return c.JSON(ts)
		})
	s.API.Op(Op{Method: "DELETE", Path: "/api/v1/tokens/:id", Summary: "Revoke an API token", Tags: []string{"admin"},
		Perm: auth.PermTokensAdmin, Responses: map[int]Resp{204: {Doc: "Revoked"}}},
		func(c *fiber.Ctx) error {
			id := c.Params("id")
			err := s.db.InTx(c.UserContext(), func(ctx context.Context, tx bun.Tx) error {
				if err := auth.RevokeToken(ctx, tx, s.now(), id); err != nil {
					return err
				}
				_, err := audit.Append(ctx, tx, s.now(), audit.Record{Action: "token.revoked", SubjectType: "token", SubjectID: id})
				return err
			})
			if err != nil {
				return err
			}
			return c.SendStatus(fiber.StatusNoContent)
		})
}
