package web

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
)

// ShipmentList is the body of GET /api/v1/shipments.
type ShipmentList struct {
	Shipments []*intake.Shipment `json:"shipments"`
	// Next is the cursor for the following page (pass as after=), or "".
	Next string `json:"next,omitempty"`
}

// ShipmentDetail is a shipment with its events in the order they happened.
type ShipmentDetail struct {
	Shipment *intake.Shipment `json:"shipment"`
	Events   []*intake.Event  `json:"events"`
}

// EventDetail is an event, the shipment state as of it, what it changed and
// the raw payload it came in.
type EventDetail struct {
	Event    *intake.Event    `json:"event"`
	Shipment *intake.Shipment `json:"shipment"`
	Change   intake.Change    `json:"change"`
	Payload  *intake.Payload  `json:"payload,omitempty"`
}

// UnmappedList is the body of GET /api/v1/unmapped.
type UnmappedList struct {
	Codes []intake.UnmappedCode `json:"codes"`
}

// Vocabulary is the canonical vocabulary.
type Vocabulary struct {
	MappingVersion string              `json:"mapping_version"`
	Statuses       []intake.StatusInfo `json:"statuses"`
	Reasons        []intake.ReasonInfo `json:"reasons"`
	Tables         []string            `json:"tables"`
}

func (s *Server) intakeReadRoutes(svc *intake.Service) {
	read := s.db.Read
	s.API.Op(Op{Method: "GET", Path: "/api/v1/shipments", Summary: "List shipments", Tags: []string{"intake"}, Perm: auth.PermEventsRead,
		Params: []Param{{Name: "carrier", In: "query", Doc: "carrier slug (fedex, ups, …)"},
			{Name: "tracking_number", In: "query", Doc: "tracking number (spaces and case ignored)"},
			{Name: "status", In: "query", Doc: "current milestone"}, {Name: "order_ref", In: "query", Doc: "order reference"},
			{Name: "after", In: "query", Doc: "cursor from the previous page"}, {Name: "limit", In: "query", Type: "integer", Doc: "page size (max 500)"}},
		Responses: map[int]Resp{200: {Doc: "Shipments, newest first", Body: ShipmentList{}}}},
		func(c *fiber.Ctx) error {
			f := intake.ShipmentFilter{Carrier: c.Query("carrier"), TrackingNumber: c.Query("tracking_number"), Status: intake.Status(c.Query("status")),
				OrderRef: c.Query("order_ref"), After: c.Query("after"), Limit: c.QueryInt("limit", 100)}
			if f.Status != "" && !f.Status.Valid() {
				return apperr.Invalid("unknown status", apperr.FieldError{Field: "status", Message: "not a canonical status"})
			}
			list, err := svc.Store.ListShipments(c.UserContext(), read, f)
			if err != nil {
				return err
			}
			out := ShipmentList{Shipments: list}
			if list == nil {
				out.Shipments = []*intake.Shipment{}
			}
			limit := f.Limit
			if limit <= 0 || limit > 500 {
				limit = 100
			}
			if len(list) == limit {
				out.Next = list[len(list)-1].ID
			}
			return c.JSON(out)
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/shipments/:id", Summary: "A shipment: state, open exceptions, events in order", Tags: []string{"intake"},
		Perm: auth.PermEventsRead, Responses: map[int]Resp{200: {Doc: "Shipment", Body: ShipmentDetail{}}, 404: {Doc: "No such shipment"}}},
		func(c *fiber.Ctx) error {
			sh, err := svc.Store.GetShipment(c.UserContext(), read, c.Params("id"))
			if err != nil {
				return err
			}
			evs, err := svc.Store.ShipmentEvents(c.UserContext(), read, sh.ID, 0)
			if err != nil {
				return err
			}
			if evs == nil {
				evs = []*intake.Event{}
			}
			return c.JSON(ShipmentDetail{Shipment: sh, Events: evs})
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/events/:id", Summary: "An event with its shipment state and raw payload reference", Tags: []string{"intake"},
		Perm: auth.PermEventsRead, Responses: map[int]Resp{200: {Doc: "Event", Body: EventDetail{}}, 404: {Doc: "No such event"}}},
		func(c *fiber.Ctx) error {
			se, err := svc.Store.GetEvent(c.UserContext(), read, c.Params("id"))
			if err != nil {
				return err
			}
			out := EventDetail{Event: se.Event, Shipment: se.Shipment, Change: se.Change}
			if se.Event.PayloadID != "" {
				if pl, err := svc.Store.GetPayload(c.UserContext(), read, se.Event.PayloadID); err == nil {
					out.Payload = pl
				}
			}
			return c.JSON(out)
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/payloads/:id", Summary: "The raw body of a delivery, as received", Tags: []string{"intake"},
		Perm: auth.PermEventsRead, Responses: map[int]Resp{200: {Doc: "The body with its original content type"}, 404: {Doc: "Unknown, or past the retention"}}},
		func(c *fiber.Ctx) error {
			pl, err := svc.Store.GetPayload(c.UserContext(), read, c.Params("id"))
			if err != nil {
				return err
			}
			if !pl.Retained {
				return apperr.NotFound("payload body "+pl.ID+" (past YARDMASTER_RAW_PAYLOAD_RETENTION; hash "+pl.BodyHash+")", nil)
			}
			ct := pl.ContentType
			if ct == "" {
				ct = fiber.MIMEApplicationJSON
			}
			c.Set(fiber.HeaderContentType, ct)
			c.Set("X-Body-SHA256", pl.BodyHash)
			c.Set("X-Received-At", pl.ReceivedAt.UTC().Format(time.RFC3339Nano))
			return c.Send(pl.Body)
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/unmapped", Summary: "Raw codes the mappings do not know", Tags: []string{"intake"},
		Perm: auth.PermEventsRead, Params: []Param{{Name: "source", In: "query", Doc: "only this source"}, {Name: "limit", In: "query", Type: "integer"}},
		Doc:       "Unmapped codes are never guessed: the event is flagged unmapped and keeps no milestone. unmapped_events counts events nothing else mapped; the rest fell back to a parent table (e.g. an unknown AfterShip subtag to its tag).",
		Responses: map[int]Resp{200: {Doc: "Codes, most frequent first", Body: UnmappedList{}}}},
		func(c *fiber.Ctx) error {
			codes, err := svc.Store.ListUnmapped(c.UserContext(), read, c.Query("source"), c.QueryInt("limit", 200))
			if err != nil {
				return err
			}
			if codes == nil {
				codes = []intake.UnmappedCode{}
			}
			return c.JSON(UnmappedList{Codes: codes})
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/vocabulary", Summary: "Canonical statuses (with rank) and exception reasons", Tags: []string{"intake"},
		Perm: "", Responses: map[int]Resp{200: {Doc: "Vocabulary", Body: Vocabulary{}}}},
		func(c *fiber.Ctx) error {
			m := intake.DefaultMappings()
			return c.JSON(Vocabulary{MappingVersion: m.Version, Statuses: m.Statuses(), Reasons: m.Reasons(), Tables: m.Tables()})
		})
}
