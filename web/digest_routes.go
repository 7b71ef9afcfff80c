package web

import (
	"slices"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/triage/digest"
)

// DigestSubscriptionList is the body of GET /api/v1/digests/subscriptions.
type DigestSubscriptionList struct {
	Subscriptions []digest.Subscription `json:"subscriptions"`
}

var (
	runStatuses = []string{digest.RunPending, digest.RunSending, digest.RunSent, digest.RunPartial, digest.RunFailed, digest.RunEmpty, digest.RunNoTarget}
	runKinds    = []string{digest.RunScheduled, digest.RunManual, digest.RunImmediate}
)

// DigestRoutes registers the digest API: subscriptions (account users
// manage their own, admins all), preview, send now, history and retry.
func (s *Server) DigestRoutes(svc *digest.Service) {
	tags := []string{"digests"}
	perm := auth.PermDigestsSelf // admins hold it too; the service narrows to what each may see
	s.API.Op(Op{Method: "GET", Path: "/api/v1/digests/subscriptions", Summary: "List digest subscriptions", Tags: tags, Perm: perm,
		Doc:       "Your own subscriptions and your team's; all=true lists every subscription (digests:admin).",
		Params:    []Param{{Name: "all", In: "query", Type: "boolean", Doc: "every subscription (admins)"}},
		Responses: map[int]Resp{200: {Doc: "Subscriptions", Body: DigestSubscriptionList{}}}},
		func(c *fiber.Ctx) error {
			all, err := digestBoolQuery(c, "all")
			if err != nil {
				return err
			}
			list, err := svc.ListSubscriptions(c.UserContext(), Principal(c), digest.ListFilter{All: all})
			if err != nil {
				return err
			}
			return c.JSON(DigestSubscriptionList{Subscriptions: list})
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/digests/subscriptions", Summary: "Create a digest subscription", Tags: tags, Perm: perm,
		Doc:     "The subscriber defaults to the caller. A webhook channel without a secret gets a generated one, returned once as webhook_secret.",
		Request: digest.SubscriptionInput{}, Responses: map[int]Resp{201: {Doc: "Created", Body: digest.Saved{}}, 403: {Doc: "Not yours to create"}}},
		func(c *fiber.Ctx) error {
			var in digest.SubscriptionInput
			if err := DecodeJSON(c, &in); err != nil {
				return err
			}
			saved, err := svc.CreateSubscription(c.UserContext(), Principal(c), in)
			if err != nil {
				return err
			}
			return c.Status(fiber.StatusCreated).JSON(saved)
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/digests/subscriptions/:id", Summary: "A digest subscription", Tags: tags, Perm: perm,
		Responses: map[int]Resp{200: {Doc: "Subscription", Body: digest.Subscription{}}, 404: {Doc: "No such subscription (or not yours)"}}},
		func(c *fiber.Ctx) error {
			sub, err := svc.GetSubscription(c.UserContext(), Principal(c), c.Params("id"))
			if err != nil {
				return err
			}
			return c.JSON(sub)
		})
	s.API.Op(Op{Method: "PUT", Path: "/api/v1/digests/subscriptions/:id", Summary: "Replace a digest subscription's settings", Tags: tags, Perm: perm,
		Doc:     "Omit the webhook secret to keep the stored one. The next digest still covers everything since the last one.",
		Request: digest.SubscriptionInput{}, Responses: map[int]Resp{200: {Doc: "Updated", Body: digest.Saved{}}, 409: {Doc: "Changed meanwhile"}}},
		func(c *fiber.Ctx) error {
			var in digest.SubscriptionInput
			if err := DecodeJSON(c, &in); err != nil {
				return err
			}
			saved, err := svc.UpdateSubscription(c.UserContext(), Principal(c), c.Params("id"), in)
			if err != nil {
				return err
			}
			return c.JSON(saved)
		})
	s.API.Op(Op{Method: "DELETE", Path: "/api/v1/digests/subscriptions/:id", Summary: "Delete a digest subscription and its history", Tags: tags,
		Perm: perm, Responses: map[int]Resp{204: {Doc: "Deleted"}}},
		func(c *fiber.Ctx) error {
			if err := svc.DeleteSubscription(c.UserContext(), Principal(c), c.Params("id")); err != nil {
				return err
			}
			return c.SendStatus(fiber.StatusNoContent)
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/digests/subscriptions/:id/preview", Summary: "Preview the next digest", Tags: tags, Perm: perm,
		Doc:       "What the next digest would hold if it were sent now (nothing is sent or recorded). format=html or text answers the rendered e-mail part itself.",
		Params:    []Param{{Name: "format", In: "query", Doc: "json (default), html or text", Enum: []string{"json", "html", "text"}}},
		Responses: map[int]Resp{200: {Doc: "Preview", Body: digest.Preview{}}}},
		func(c *fiber.Ctx) error {
			format := c.Query("format", "json")
			if !slices.Contains([]string{"json", "html", "text"}, format) {
				return apperr.Invalid("invalid format", apperr.FieldError{Field: "format", Message: "must be json, html or text"})
			}
			pv, err := svc.Preview(c.UserContext(), Principal(c), c.Params("id"))
			if err != nil {
				return err
			}
			switch format {
			case "html":
				c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
				// The preview is a whole e-mail document: never let it run
				// scripts or load anything in the console's origin.
				c.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox")
				return c.SendString(pv.Rendered.HTML)
			case "text":
				c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
				return c.SendString(pv.Rendered.Text)
			}
			return c.JSON(pv)
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/digests/subscriptions/:id/send", Summary: "Send the digest now", Tags: tags, Perm: perm,
		Doc:       "Queues a digest of everything since the last one; the next scheduled digest starts where it ends.",
		Responses: map[int]Resp{202: {Doc: "Queued", Body: digest.Run{}}, 409: {Doc: "A digest is being scheduled right now"}}},
		func(c *fiber.Ctx) error {
			run, err := svc.SendNow(c.UserContext(), Principal(c), c.Params("id"))
			if err != nil {
				return err
			}
			return c.Status(fiber.StatusAccepted).JSON(run)
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/digests/runs", Summary: "Digest history", Tags: tags, Perm: perm,
		Doc: "What was sent to whom, when, through which channel, with the delivery outcome; newest first.",
		Params: []Param{{Name: "subscription_id", In: "query", Doc: "one subscription"},
			{Name: "status", In: "query", Doc: "run status", Enum: runStatuses}, {Name: "kind", In: "query", Doc: "run kind", Enum: runKinds},
			{Name: "before", In: "query", Doc: "cursor: the next value of the previous page"},
			{Name: "limit", In: "query", Type: "integer", Doc: "page size, 1-200 (default 50)"}},
		Responses: map[int]Resp{200: {Doc: "Runs", Body: digest.RunPage{}}}},
		func(c *fiber.Ctx) error {
			f := digest.RunFilter{SubscriptionID: c.Query("subscription_id"), Status: c.Query("status"), Kind: c.Query("kind"), Before: c.Query("before")}
			var fe []apperr.FieldError
			if f.Status != "" && !slices.Contains(runStatuses, f.Status) {
				fe = append(fe, apperr.FieldError{Field: "status", Message: "unknown run status"})
			}
			if f.Kind != "" && !slices.Contains(runKinds, f.Kind) {
				fe = append(fe, apperr.FieldError{Field: "kind", Message: "must be scheduled, manual or immediate"})
			}
			if raw := c.Query("limit"); raw != "" {
				n, err := strconv.Atoi(raw)
				if err != nil || n < 1 || n > 200 {
					fe = append(fe, apperr.FieldError{Field: "limit", Message: "must be a whole number from 1 to 200"})
				}
				f.Limit = n
			}
			if len(fe) > 0 {
				return apperr.Invalid("invalid query", fe...)
			}
			page, err := svc.ListRuns(c.UserContext(), Principal(c), f)
			if err != nil {
				return err
			}
			return c.JSON(page)
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/digests/runs/:id", Summary: "One digest: content, deliveries and every attempt", Tags: tags, Perm: perm,
		Responses: map[int]Resp{200: {Doc: "Run", Body: digest.RunDetail{}}, 404: {Doc: "No such run (or not yours)"}}},
		func(c *fiber.Ctx) error {
			run, err := svc.GetRun(c.UserContext(), Principal(c), c.Params("id"))
			if err != nil {
				return err
			}
			return c.JSON(run)
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/digests/runs/:id/retry", Summary: "Retry a digest's failed deliveries", Tags: tags, Perm: perm,
		Responses: map[int]Resp{202: {Doc: "Queued", Body: digest.Run{}}, 409: {Doc: "The run is not failed or partial"}}},
		func(c *fiber.Ctx) error {
			run, err := svc.RetryRun(c.UserContext(), Principal(c), c.Params("id"))
			if err != nil {
				return err
			}
			return c.Status(fiber.StatusAccepted).JSON(run)
		})
}

// digestBoolQuery reads an optional boolean query parameter.
func digestBoolQuery(c *fiber.Ctx, name string) (bool, error) {
	raw := c.Query(name)
	if raw == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		return false, apperr.Invalid("invalid query", apperr.FieldError{Field: name, Message: "must be true or false"})
	}
	return b, nil
}
