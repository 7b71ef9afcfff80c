package web

import (
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
)

// AuditPage is one page of audit entries, newest first.
type AuditPage struct {
	Entries    []audit.Entry `json:"entries"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

var auditParams = []Param{
	{Name: "from", Doc: "RFC 3339 start (inclusive)"},
	{Name: "to", Doc: "RFC 3339 end (exclusive)"},
	{Name: "subject_type", Doc: "e.g. case, action, rule, source, user, token"},
	{Name: "subject_id"},
	{Name: "actor_id"},
	{Name: "action", Doc: "e.g. case.acknowledged"},
}

// ParseAuditFilter reads the audit filter from query parameters.
func ParseAuditFilter(c *fiber.Ctx) (audit.Filter, error) {
	var f audit.Filter
	var fe []apperr.FieldError
	for _, k := range []string{"from", "to"} {
		v := c.Query(k)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			fe = append(fe, apperr.FieldError{Field: k, Message: "must be an RFC 3339 time such as 2026-11-27T00:00:00Z"})
			continue
		}
		if k == "from" {
			f.From = t
		} else {
			f.To = t
		}
	}
	if v := c.Query("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			fe = append(fe, apperr.FieldError{Field: "cursor", Message: "must be a cursor from a previous page"})
		}
		f.BeforeSeq = n
	}
	if len(fe) > 0 {
		return f, apperr.Invalid("invalid query", fe...)
	}
	f.SubjectType = c.Query("subject_type")
	f.SubjectID = c.Query("subject_id")
	f.ActorID = c.Query("actor_id")
	f.Action = c.Query("action")
	return f, nil
}

func (s *Server) auditRoutes() {
	s.API.Op(Op{Method: "GET", Path: "/api/v1/audit", Summary: "Search the audit trail (newest first)", Tags: []string{"audit"},
		Perm: auth.PermAuditRead, Params: append(auditParams, Param{Name: "cursor"}, Param{Name: "limit", Type: "integer"}),
		Responses: map[int]Resp{200: {Doc: "Entries", Body: AuditPage{}}}},
		func(c *fiber.Ctx) error {
			f, err := ParseAuditFilter(c)
			if err != nil {
				return err
			}
			limit := c.QueryInt("limit", 100)
			es, err := audit.List(c.UserContext(), s.db.Read, f, limit)
			if err != nil {
				return err
			}
			page := AuditPage{Entries: es}
			if page.Entries == nil {
				page.Entries = []audit.Entry{}
			}
			if len(es) == limit && limit > 0 {
				page.NextCursor = strconv.FormatInt(es[len(es)-1].Seq, 10)
			}
			return c.JSON(page)
		})
	s.API.Op(Op{Method: "GET", Path: "/api/v1/audit/export", Summary: "Export the audit trail as JSONL or CSV (oldest first)",
		Tags: []string{"audit"}, Perm: auth.PermAuditRead,
		Params:    append(auditParams, Param{Name: "format", Enum: []string{"jsonl", "csv"}, Doc: "default jsonl"}),
		Responses: map[int]Resp{200: {Doc: "The entries", ContentType: "application/x-ndjson"}}},
		func(c *fiber.Ctx) error {
			f, err := ParseAuditFilter(c)
			if err != nil {
				return err
			}
			format := c.Query("format", "jsonl")
			if format != "jsonl" && format != "csv" {
				return apperr.Invalid("invalid query", apperr.FieldError{Field: "format", Message: "must be jsonl or csv"})
			}
			ct := "application/x-ndjson"
			if format == "csv" {
				ct = "text/csv; charset=utf-8"
			}
			c.Set(fiber.HeaderContentType, ct)
			c.Set(fiber.HeaderContentDisposition, `attachment; filename="yardmaster-audit.`+format+`"`)
			_, err = audit.Export(c.UserContext(), s.db.Read, f, format, c.Response().BodyWriter())
			return err
		})
	s.API.Op(Op{Method: "POST", Path: "/api/v1/audit/verify", Summary: "Verify the whole audit chain", Tags: []string{"audit"},
		Perm: auth.PermAuditRead, Responses: map[int]Resp{200: {Doc: "Result (ok=false names the first broken entry)", Body: audit.VerifyResult{}}}},
		func(c *fiber.Ctx) error {
			res, err := audit.Verify(c.UserContext(), s.db.Read)
			if err != nil {
				return err
			}
			return c.JSON(res)
		})
}
