package web

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
)

func (cn *Console) auditRoutes() {
	cn.route(fiber.MethodGet, "/audit", auth.PermAuditRead, cn.auditPage)
	cn.route(fiber.MethodGet, "/audit/export", auth.PermAuditRead, cn.auditExport)
	cn.route(fiber.MethodPost, "/audit/verify", auth.PermAuditRead, cn.auditVerify)
}

// auditModel is the audit page.
type auditModel struct {
	Entries    []audit.Entry
	NextCursor string
	Errors     map[string]string
	Verify     *audit.VerifyResult
	Limit      int
}

const auditPageSize = 50

// consoleAuditFilter reads the audit search form. Times come from
// datetime-local inputs (read as UTC) or RFC 3339.
func consoleAuditFilter(c *fiber.Ctx) (audit.Filter, map[string]string) {
	var f audit.Filter
	errs := map[string]string{}
	for _, k := range []string{"from", "to"} {
		v := strings.TrimSpace(c.Query(k))
		if v == "" {
			continue
		}
		t, err := parseFormTime(v)
		if err != nil {
			errs[k] = "a date and time such as 2026-11-27T08:00"
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
			errs["cursor"] = "not a page cursor"
		}
		f.BeforeSeq = n
	}
	for k, dst := range map[string]*string{"subject_type": &f.SubjectType, "subject_id": &f.SubjectID, "actor_id": &f.ActorID, "action": &f.Action} {
		v := strings.TrimSpace(c.Query(k))
		if len(v) > 200 {
			errs[k] = "at most 200 characters"
			continue
		}
		*dst = strings.Clone(v)
	}
	return f, errs
}

// parseFormTime accepts RFC 3339 or an HTML datetime-local value (UTC).
func parseFormTime(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, apperr.Invalid("not a time", apperr.FieldError{Field: "time", Message: "not a time"})
}

func (cn *Console) auditPage(c *fiber.Ctx) error {
	f, errs := consoleAuditFilter(c)
	m := auditModel{Errors: errs, Limit: auditPageSize}
	status := fiber.StatusOK
	if len(errs) == 0 {
		es, err := audit.List(c.UserContext(), cn.db.Read, f, auditPageSize)
		if err != nil {
			return err
		}
		m.Entries = es
		if len(es) == auditPageSize {
			m.NextCursor = strconv.FormatInt(es[len(es)-1].Seq, 10)
		}
	} else {
		status = fiber.StatusUnprocessableEntity
	}
	data := cn.page(c, "Audit trail", "audit", m)
	if isHTMX(c) && c.Get("HX-Target") == "audit-results" {
		return cn.render(c, status, "audit", data, "results")
	}
	return cn.render(c, status, "audit", data)
}

func (cn *Console) auditExport(c *fiber.Ctx) error {
	f, errs := consoleAuditFilter(c)
	if len(errs) > 0 {
		var fe []apperr.FieldError
		for k, v := range errs {
			fe = append(fe, apperr.FieldError{Field: k, Message: v})
		}
		return apperr.Invalid("invalid filter", fe...)
	}
	f.BeforeSeq = 0
	format := c.Query("format", "csv")
	if format != "jsonl" && format != "csv" {
		return apperr.Invalid("invalid query", apperr.FieldError{Field: "format", Message: "must be jsonl or csv"})
	}
	ct := "application/x-ndjson"
	if format == "csv" {
		ct = "text/csv; charset=utf-8"
	}
	c.Set(fiber.HeaderContentType, ct)
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="yardmaster-audit.`+format+`"`)
	_, err := audit.Export(c.UserContext(), cn.db.Read, f, format, c.Response().BodyWriter())
	return err
}

func (cn *Console) auditVerify(c *fiber.Ctx) error {
	res, err := audit.Verify(c.UserContext(), cn.db.Read)
	if err != nil {
		return err
	}
	data := cn.page(c, "Audit trail", "audit", auditModel{Verify: &res})
	if isHTMX(c) {
		return cn.render(c, fiber.StatusOK, "audit", data, "verify")
	}
	return cn.render(c, fiber.StatusOK, "audit", data)
}
