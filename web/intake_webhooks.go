package web

import (
	"bytes"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
)

// fiberHeaders reads request headers for intake, copying values out of
// fasthttp's buffers (a delivery may outlive the handler if the client
// disconnects while its batch commits).
type fiberHeaders struct{ c *fiber.Ctx }

func (h fiberHeaders) Get(name string) string { return utils.CopyString(h.c.Get(name)) }

// IntakeRoutes registers the webhook, events, read and sources routes.
func (s *Server) IntakeRoutes(svc *intake.Service) {
	receipts := map[int]Resp{
		202: {Doc: "Stored (or recognised as a duplicate) after commit; one result per event, rejected items listed", Body: intake.Receipt{}},
		401: {Doc: "Missing or invalid signature, token or source (no hint which)"},
		409: {Doc: "Standard Webhooks timestamp outside ±5 min (replay)"},
		413: {Doc: "Body larger than YARDMASTER_MAX_BODY_BYTES"},
		415: {Doc: "Wrong content type"},
		422: {Doc: "No valid event in the body; errors name the field path"},
		429: {Doc: "Per-source rate limit; see Retry-After"},
	}
	s.API.Op(Op{Method: "POST", Path: "/v1/webhooks/:source", Summary: "Receive a signed webhook from a registered source",
		Tags: []string{"intake"}, Auth: AuthSelf,
		Doc: "Verified on the raw body per source kind: aftership (aftership-hmac-sha256: base64 HMAC-SHA256 of the body), " +
			"easypost (X-Hmac-Signature: hmac-sha256-hex=<hex HMAC with the NFKD-normalised secret>), standard (Standard Webhooks: " +
			"webhook-id, webhook-timestamp within ±5 min, webhook-signature list `v1,<base64>`; body is canonical JSON), canonical " +
			"(Authorization: Bearer <source token>). Provider payloads are exploded into one event per checkpoint; a replayed " +
			"delivery id or an already stored checkpoint is answered with duplicate: true and causes nothing.",
		Request:      map[string]any{},
		RequestTypes: []string{"application/json", "application/x-ndjson"},
		Responses:    receipts},
		func(c *fiber.Ctx) error {
			rec, err := svc.Webhook(c.UserContext(), utils.CopyString(c.Params("source")), fiberHeaders{c}, bytes.Clone(c.Body()))
			if err != nil {
				return err
			}
			return c.Status(fiber.StatusAccepted).JSON(rec)
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/events", Summary: "Submit canonical events (object, array or NDJSON)",
		Tags: []string{"intake"}, Auth: AuthSelf,
		Doc: "Authenticate with a canonical source's token (Authorization: Bearer ymsrc_…), or with an API token that has " +
			"events:write (a scope events:write:source=<id or name> names the source; an unscoped token must add ?source=). " +
			"Unknown fields are rejected with 422 naming the field. A batch stores its valid items and lists the rejected ones.",
		Params:       []Param{{Name: "source", In: "query", Doc: "source name, for API tokens not scoped to one source"}},
		Request:      intake.CanonicalInput{},
		RequestTypes: []string{"application/json", "application/x-ndjson"},
		Responses:    receipts},
		func(c *fiber.Ctx) error {
			h := fiberHeaders{c}
			body := bytes.Clone(c.Body())
			tok, _ := strings.CutPrefix(strings.TrimSpace(c.Get(fiber.HeaderAuthorization)), "Bearer ")
			var rec *intake.Receipt
			var err error
			if strings.HasPrefix(strings.TrimSpace(tok), intake.SourceTokenPrefix) {
				rec, err = svc.Events(c.UserContext(), h, body)
			} else {
				p, aerr := s.Authenticate(c)
				if aerr != nil {
					return aerr
				}
				if !p.Can(auth.PermEventsWrite) {
					return apperr.Forbidden("this token may not write events")
				}
				name := c.Query("source")
				vals, unrestricted := p.ScopeValues(auth.PermEventsWrite, "source")
				if !unrestricted {
					if len(vals) == 1 && name == "" {
						name = vals[0]
					} else if !contains(vals, name) {
						return apperr.Forbidden("this token may write events only for source " + strings.Join(vals, ", "))
					}
				}
				if name == "" {
					return apperr.Invalid("which source?", apperr.FieldError{Field: "source", Message: "add ?source=<name> (the token is not scoped to one source)"})
				}
				rec, err = svc.EventsFor(c.UserContext(), utils.CopyString(name), h, body)
			}
			if err != nil {
				return err
			}
			return c.Status(fiber.StatusAccepted).JSON(rec)
		})
	s.intakeReadRoutes(svc)
	s.intakeSourceRoutes(svc)
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
