// Package apperr is the error vocabulary shared by services and the HTTP
// layer. Services return *Error for conditions a caller must branch on or a
// client must be told about; web maps the Kind to an HTTP status and an RFC
// 9457 problem document in exactly one place.
package apperr

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error for callers and for the HTTP mapping.
type Kind int

// Error kinds. The comment gives the HTTP status web maps each to.
const (
	KindInternal     Kind = iota // 500
	KindInvalid                  // 422 (400 for malformed syntax via KindBadRequest)
	KindBadRequest               // 400
	KindNotFound                 // 404
	KindConflict                 // 409
	KindUnauthorized             // 401
	KindForbidden                // 403
	KindTooLarge                 // 413
	KindUnsupported              // 415
	KindRateLimited              // 429
	KindUnavailable              // 503
)

var kindNames = map[Kind]string{
	KindInternal: "internal", KindInvalid: "invalid", KindBadRequest: "bad_request",
	KindNotFound: "not_found", KindConflict: "conflict", KindUnauthorized: "unauthorized",
	KindForbidden: "forbidden", KindTooLarge: "too_large", KindUnsupported: "unsupported_media_type",
	KindRateLimited: "rate_limited", KindUnavailable: "unavailable",
}

func (k Kind) String() string { return kindNames[k] }

// FieldError names one field at fault. Field is a JSON path such as
// "items[3].occurred_at" or "location.country".
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an error with a kind, a message safe to show to clients, and
// optional field errors. Err is the cause, kept for logs and errors.Is.
type Error struct {
	Kind       Kind
	Detail     string
	Fields     []FieldError
	RetryAfter time.Duration
	// Type overrides the problem type slug (default: the kind name).
	Type string
	Err  error
}

func (e *Error) Error() string {
	msg := e.Kind.String()
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if len(e.Fields) > 0 {
		msg += fmt.Sprintf(" (%d field errors, first %s: %s)", len(e.Fields), e.Fields[0].Field, e.Fields[0].Message)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is(err, apperr.ErrNotFound) match any error of that kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Detail == "" && t.Err == nil && t.Kind == e.Kind
}

// Sentinels for errors.Is checks by kind.
var (
	ErrNotFound     = &Error{Kind: KindNotFound}
	ErrInvalid      = &Error{Kind: KindInvalid}
	ErrConflict     = &Error{Kind: KindConflict}
	ErrUnauthorized = &Error{Kind: KindUnauthorized}
	ErrForbidden    = &Error{Kind: KindForbidden}
	ErrUnavailable  = &Error{Kind: KindUnavailable}
)

// KindOf returns the kind of the first *Error in err's chain, or KindInternal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// As returns the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Invalid reports a request whose content is well-formed but wrong.
func Invalid(detail string, fields ...FieldError) *Error {
	return &Error{Kind: KindInvalid, Detail: detail, Fields: fields}
}

// BadRequest reports malformed syntax (e.g. JSON that does not parse).
func BadRequest(detail string, cause error) *Error {
	return &Error{Kind: KindBadRequest, Detail: detail, Err: cause}
}

// NotFound reports a missing resource; what names it ("case 01H…").
func NotFound(what string, cause error) *Error {
	return &Error{Kind: KindNotFound, Detail: what + " not found", Err: cause}
}

// Conflict reports a state conflict (e.g. version mismatch, replay).
func Conflict(detail string) *Error { return &Error{Kind: KindConflict, Detail: detail} }

// Unauthorized reports missing or bad credentials. The detail never says
// which part failed.
func Unauthorized(detail string) *Error { return &Error{Kind: KindUnauthorized, Detail: detail} }

// Forbidden reports an authenticated caller without the right.
func Forbidden(detail string) *Error { return &Error{Kind: KindForbidden, Detail: detail} }

// TooLarge reports a body above the limit.
func TooLarge(limit int64) *Error {
	return &Error{Kind: KindTooLarge, Detail: fmt.Sprintf("request body exceeds %d bytes", limit)}
}

// Unsupported reports a wrong content type.
func Unsupported(detail string) *Error { return &Error{Kind: KindUnsupported, Detail: detail} }

// RateLimited reports a rate limit hit; the client may retry after d.
func RateLimited(d time.Duration) *Error {
	return &Error{Kind: KindRateLimited, Detail: "rate limit exceeded", RetryAfter: d}
}

// Unavailable reports a dependency that is down.
func Unavailable(detail string, cause error) *Error {
	return &Error{Kind: KindUnavailable, Detail: detail, Err: cause}
}
