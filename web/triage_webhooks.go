package web

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/triage"
)

// SubscriptionList is the body of GET /api/v1/webhook-subscriptions.
type SubscriptionList struct {
	Subscriptions []*triage.Subscription `json:"subscriptions"`
}

// DeliveryList is a page of outbound deliveries.
type DeliveryList struct {
	Deliveries []*triage.Delivery `json:"deliveries"`
	NextCursor string             `json:"next_cursor,omitempty"`
}

// ReplayBody names deliveries to send again.
type ReplayBody struct {
	IDs []string `json:"ids"`
}

// ReplayResult says how many deliveries were queued again.
type ReplayResult struct {
	Queued int `json:"queued"`
}

var webhookTags = []string{"outbound webhooks"}

const webhookDoc = "Deliveries follow Standard Webhooks: headers webhook-id (the message id, the same on every retry and replay), " +
	"webhook-timestamp (Unix seconds) and webhook-signature (v1,<base64 HMAC-SHA256 of id.timestamp.body> with the " +
	"subscription secret; two signatures for 24 h after a rotation). Failed deliveries are retried with backoff " +
	"(about 45 minutes in all); then they are dead letters until replayed."

func (s *Server) triageWebhookRoutes(svc *triage.Service) {
	s.API.Op(Op{Method: "GET", Path: "/api/v1/webhook-subscriptions", Summary: "List outbound webhook subscriptions", Tags: webhookTags,
		Perm: auth.PermOpsRead, Doc: webhookDoc, Responses: map[int]Resp{200: {Doc: "Subscriptions", Body: SubscriptionList{}}}},
		func(c *fiber.Ctx) error {
			subs, err := svc.ListSubscriptions(c.UserContext())
			if err != nil {
				return err
			}
			if subs == nil {
				subs = []*triage.Subscription{}
			}
			return c.JSON(SubscriptionList{Subscriptions: subs})
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/webhook-subscriptions", Summary: "Subscribe an endpoint to case and action events", Tags: webhookTags,
		Perm: auth.PermOpsAdmin, Request: triage.SubscriptionInput{},
		Doc:       webhookDoc + " Event types: case.opened, case.updated, case.resolved (resolved or dismissed), action.succeeded, action.failed, or *. The secret is shown only in this response.",
		Responses: map[int]Resp{201: {Doc: "The subscription and its secret", Body: triage.CreatedSubscription{}}}},
		func(c *fiber.Ctx) error {
			var in triage.SubscriptionInput
			if err := DecodeJSON(c, &in); err != nil {
				return err
			}
			out, err := svc.CreateSubscription(c.UserContext(), in)
			if err != nil {
				return err
			}
			return c.Status(fiber.StatusCreated).JSON(out)
		})
	s.API.Op(Op{Method: "PUT", Path: "/api/v1/webhook-subscriptions/:id", Summary: "Change a subscription (URL, events, description, active)", Tags: webhookTags,
		Perm: auth.PermOpsAdmin, Request: triage.SubscriptionInput{},
		Responses: map[int]Resp{200: {Doc: "The subscription", Body: triage.Subscription{}}}},
		func(c *fiber.Ctx) error {
			var in triage.SubscriptionInput
			if err := DecodeJSON(c, &in); err != nil {
				return err
			}
			out, err := svc.UpdateSubscription(c.UserContext(), utils.CopyString(c.Params("id")), in)
			if err != nil {
				return err
			}
			return c.JSON(out)
		})
	s.API.Op(Op{Method: "DELETE", Path: "/api/v1/webhook-subscriptions/:id", Summary: "Delete a subscription (its deliveries stay)", Tags: webhookTags,
		Perm: auth.PermOpsAdmin, Responses: map[int]Resp{204: {Doc: "Deleted"}}},
		func(c *fiber.Ctx) error {
			if err := svc.DeleteSubscription(c.UserContext(), utils.CopyString(c.Params("id"))); err != nil {
				return err
			}
			return c.SendStatus(fiber.StatusNoContent)
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/webhook-subscriptions/:id/rotate-secret", Summary: "Rotate a subscription's secret", Tags: webhookTags,
		Perm: auth.PermOpsAdmin, Doc: "The old secret keeps signing (as a second signature) for 24 hours.",
		Responses: map[int]Resp{200: {Doc: "The subscription and its new secret", Body: triage.CreatedSubscription{}}}},
		func(c *fiber.Ctx) error {
			out, err := svc.RotateSecret(c.UserContext(), utils.CopyString(c.Params("id")))
			if err != nil {
				return err
			}
			return c.JSON(out)
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/webhook-subscriptions/:id/ping", Summary: "Send a ping event to test an endpoint", Tags: webhookTags,
		Perm: auth.PermOpsAdmin, Responses: map[int]Resp{202: {Doc: "The queued delivery", Body: triage.Delivery{}}}},
		func(c *fiber.Ctx) error {
			d, err := svc.PingSubscription(c.UserContext(), utils.CopyString(c.Params("id")))
			if err != nil {
				return err
			}
			return c.Status(fiber.StatusAccepted).JSON(d)
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/webhook-deliveries", Summary: "List outbound deliveries (state=dead is the dead-letter list)", Tags: webhookTags,
		Perm: auth.PermOpsRead,
		Params: []Param{{Name: "state", Enum: []string{triage.DeliveryPending, triage.DeliveryDelivered, triage.DeliveryDead}},
			{Name: "subscription_id"}, {Name: "event_type"}, {Name: "cursor"}, {Name: "limit", Type: "integer", Doc: "1-500 (default 100)"}},
		Responses: map[int]Resp{200: {Doc: "Deliveries, newest first", Body: DeliveryList{}}}},
		func(c *fiber.Ctx) error {
			f := triage.DeliveryFilter{State: utils.CopyString(c.Query("state")), SubscriptionID: utils.CopyString(c.Query("subscription_id")),
				EventType: utils.CopyString(c.Query("event_type")), Before: utils.CopyString(c.Query("cursor")), Limit: c.QueryInt("limit", 100)}
			if f.State != "" && f.State != triage.DeliveryPending && f.State != triage.DeliveryDelivered && f.State != triage.DeliveryDead {
				return apperr.Invalid("invalid filter", apperr.FieldError{Field: "state", Message: "pending, delivered or dead"})
			}
			if f.Limit < 1 || f.Limit > 500 {
				return apperr.Invalid("invalid filter", apperr.FieldError{Field: "limit", Message: "1-500"})
			}
			list, err := svc.ListDeliveries(c.UserContext(), f)
			if err != nil {
				return err
			}
			out := DeliveryList{Deliveries: list}
			if list == nil {
				out.Deliveries = []*triage.Delivery{}
			}
			if len(list) == f.Limit {
				out.NextCursor = list[len(list)-1].ID
			}
			return c.JSON(out)
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/webhook-deliveries/replay", Summary: "Send dead (or delivered) deliveries again", Tags: webhookTags,
		Perm: auth.PermOpsAdmin, Request: ReplayBody{}, Doc: "Up to 1,000 ids; the same message id is sent, so subscribers can deduplicate.",
		Responses: map[int]Resp{202: {Doc: "Queued", Body: ReplayResult{}}}},
		func(c *fiber.Ctx) error {
			var b ReplayBody
			if err := DecodeJSON(c, &b); err != nil {
				return err
			}
			n, err := svc.ReplayDeliveries(c.UserContext(), b.IDs)
			if err != nil {
				return err
			}
			return c.Status(fiber.StatusAccepted).JSON(ReplayResult{Queued: n})
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/webhook-deliveries/:id", Summary: "One delivery with its payload and last error", Tags: webhookTags,
		Perm: auth.PermOpsRead, Responses: map[int]Resp{200: {Doc: "The delivery", Body: triage.Delivery{}}}},
		func(c *fiber.Ctx) error {
			d, err := svc.GetDelivery(c.UserContext(), utils.CopyString(c.Params("id")))
			if err != nil {
				return err
			}
			return c.JSON(d)
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/webhook-deliveries/:id/replay", Summary: "Send one delivery again", Tags: webhookTags,
		Perm: auth.PermOpsAdmin, Responses: map[int]Resp{202: {Doc: "Queued", Body: ReplayResult{}}}},
		func(c *fiber.Ctx) error {
			n, err := svc.ReplayDeliveries(c.UserContext(), []string{utils.CopyString(c.Params("id"))})
			if err != nil {
				return err
			}
			return c.Status(fiber.StatusAccepted).JSON(ReplayResult{Queued: n})
		})
}
