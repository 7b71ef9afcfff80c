package web

import (
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/ids"
	"github.com/yardmaster/yardmaster/internal/logx"
)

// Problem is an RFC 9457 problem document. Every API error is one.
type Problem struct {
	Type      string              `json:"type"`
	Title     string              `json:"title"`
	Status    int                 `json:"status"`
	Detail    string              `json:"detail,omitempty"`
	Instance  string              `json:"instance,omitempty"`
	RequestID string              `json:"request_id,omitempty"`
	Errors    []apperr.FieldError `json:"errors,omitempty"`
}

// ProblemContentType is the media type of problem documents.
const ProblemContentType = "application/problem+json"

var kindStatus = map[apperr.Kind]int{
	apperr.KindInternal: 500, apperr.KindInvalid: 422, apperr.KindBadRequest: 400, apperr.KindNotFound: 404,
	apperr.KindConflict: 409, apperr.KindUnauthorized: 401, apperr.KindForbidden: 403, apperr.KindTooLarge: 413,
	apperr.KindUnsupported: 415, apperr.KindRateLimited: 429, apperr.KindUnavailable: 503,
}

// StatusOf returns the HTTP status an error maps to.
func StatusOf(err error) int {
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	return kindStatus[apperr.KindOf(err)]
}

// problemFor is the one place errors become HTTP problems.
func problemFor(c *fiber.Ctx, err error) Problem {
	p := Problem{Instance: c.OriginalURL(), RequestID: logx.RequestID(c.UserContext())}
	var fe *fiber.Error
	switch e, ok := apperr.As(err); {
	case ok:
		p.Status = kindStatus[e.Kind]
		p.Detail = e.Detail
		p.Errors = e.Fields
		slug := e.Type
		if slug == "" {
			slug = strings.ReplaceAll(e.Kind.String(), "_", "-")
		}
		p.Type = "urn:yardmaster:problem:" + slug
		if e.Kind == apperr.KindInternal {
			p.Detail = "internal error; the request id identifies it in the logs"
		}
	case errors.As(err, &fe):
		p.Status = fe.Code
		p.Detail = fe.Message
		p.Type = "about:blank"
	default:
		p.Status = 500
		p.Detail = "internal error; the request id identifies it in the logs"
		p.Type = "about:blank"
	}
	p.Title = statusTitle(p.Status)
	if p.Type == "about:blank" && p.Detail == p.Title {
		p.Detail = ""
	}
	return p
}

func statusTitle(code int) string {
	if t := utils.StatusMessage(code); t != "" {
		return t
	}
	return "Error " + strconv.Itoa(code)
}

// errorHandler renders every error as problem+json (API and webhooks) or
// defers to the console's HTML error page for browser routes.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	if logx.RequestID(c.UserContext()) == "" {
		// Errors raised before any middleware ran (e.g. a body over the
		// limit, rejected while reading) still get a request id.
		rid := ids.New()
		c.Set(fiber.HeaderXRequestID, rid)
		c.SetUserContext(logx.WithRequestID(c.UserContext(), rid))
	}
	p := problemFor(c, err)
	if p.Status >= 500 {
		s.log.ErrorContext(c.UserContext(), "request failed", "method", c.Method(), "path", c.Path(), "status", p.Status, "err", err)
	}
	if e, ok := apperr.As(err); ok && e.RetryAfter > 0 {
		secs := int(e.RetryAfter.Seconds() + 0.999)
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(max(secs, 1)))
	}
	if p.Status == 401 {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="yardmaster"`)
	}
	if s.htmlErrors != nil && !isAPIPath(c.Path()) && strings.Contains(c.Get(fiber.HeaderAccept), "text/html") {
		if herr := s.htmlErrors(c, p); herr == nil {
			return nil
		}
	}
	c.Status(p.Status)
	c.Set(fiber.HeaderContentType, ProblemContentType)
	return c.JSON(p, ProblemContentType)
}

func isAPIPath(p string) bool {
	return strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/v1/") || p == "/healthz" || p == "/readyz" || p == "/metrics"
}
