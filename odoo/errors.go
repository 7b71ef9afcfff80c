package odoo

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
)

// Sentinel errors; match with errors.Is. An *Error matches the sentinel of
// its Kind (and ErrNotFound when Odoo says the record or model is missing).
var (
	// ErrServer is Fault 1: an unexpected server exception (traceback).
	ErrServer = errors.New("odoo: server error")
	// ErrUser is Fault 2: UserError, ValidationError, MissingError,
	// "Object X doesn't exist" (JSON-2: 404/422).
	ErrUser = errors.New("odoo: user error")
	// ErrAccessDenied is Fault 3: bad credentials or login cooldown (401/403).
	ErrAccessDenied = errors.New("odoo: access denied")
	// ErrAccess is Fault 4: ACL, record rule or private method (403).
	ErrAccess = errors.New("odoo: access error")
	// ErrSerialization is a concurrency failure Odoo gave up on after its own
	// retries (Fault 1 ending in SerializationFailure and friends, or 409).
	// The transaction was rolled back: retrying is safe.
	ErrSerialization = errors.New("odoo: serialization failure")
	// ErrNotFound: the record was deleted or the model is not installed.
	ErrNotFound = errors.New("odoo: record or model not found")
	// ErrAuthentication: authenticate returned False (wrong login or key,
	// inactive user, login cooldown).
	ErrAuthentication = errors.New("odoo: authentication failed")
	// ErrUnavailable: Odoo could not be reached or answered at the HTTP level
	// with an error (network, timeout, 5xx, open circuit).
	ErrUnavailable = errors.New("odoo: unavailable")
	// ErrCircuitOpen: the circuit breaker refused the call; also matches
	// ErrUnavailable.
	ErrCircuitOpen = errors.New("odoo: circuit open")
	// ErrProtocol: the answer was not a well-formed XML-RPC/JSON-2 response.
	ErrProtocol = errors.New("odoo: malformed response")
	// ErrInvalid: the request was refused before sending (bad arguments).
	ErrInvalid = errors.New("odoo: invalid request")
)

// Kind classifies an Odoo error for callers that branch.
type Kind int

// Kinds of *Error.
const (
	KindServer Kind = iota + 1
	KindUser
	KindAccessDenied
	KindAccess
	KindSerialization
)

func (k Kind) String() string {
	switch k {
	case KindServer:
		return "server_error"
	case KindUser:
		return "user_error"
	case KindAccessDenied:
		return "access_denied"
	case KindAccess:
		return "access_error"
	case KindSerialization:
		return "serialization_failure"
	}
	return "unknown"
}

// Error is an error Odoo reported: an XML-RPC fault or a JSON-2 error body.
type Error struct {
	Kind Kind
	// Code is the XML-RPC faultCode (1-4), 0 on JSON-2.
	Code int
	// Status is the JSON-2 HTTP status, 0 on XML-RPC.
	Status int
	// Name is the Python exception class, when known ("ValueError",
	// "odoo.exceptions.AccessError", ...).
	Name string
	// Message is the human message: faultString for codes 2-4, the last
	// traceback line (without the class) for code 1, "message" on JSON-2.
	Message string
	// Traceback is the full server traceback, when sent.
	Traceback string
	// Model and Method name the call.
	Model, Method string
	notFound      bool
	committed     bool
}

func (e *Error) Error() string {
	call := ""
	if e.Model != "" {
		call = " " + e.Model + "." + e.Method
	}
	prefix := fmt.Sprintf("odoo%s: %s", call, e.Kind)
	if e.Code != 0 {
		prefix += fmt.Sprintf(" (fault %d)", e.Code)
	} else if e.Status != 0 {
		prefix += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	msg := e.Message
	if e.Name != "" && e.Kind == KindServer {
		msg = e.Name + ": " + msg
	}
	return prefix + ": " + msg
}

// Is matches the sentinel of the error's kind.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrServer:
		return e.Kind == KindServer || (e.Kind == KindSerialization && e.Code == 1)
	case ErrUser:
		return e.Kind == KindUser
	case ErrAccessDenied:
		return e.Kind == KindAccessDenied
	case ErrAccess:
		return e.Kind == KindAccess
	case ErrSerialization:
		return e.Kind == KindSerialization
	case ErrNotFound:
		return e.notFound
	}
	return false
}

// Committed reports a fault Odoo raises after committing the call's effect:
// marshalling a None or a recordset result (odoo-api.md §2.4).
func (e *Error) Committed() bool { return e.committed }

var (
	serializationRx = regexp.MustCompile(`SerializationFailure|could not serialize access|DeadlockDetected|deadlock detected|LockNotAvailable|could not obtain lock|ConcurrencyError`)
	notFoundRx      = regexp.MustCompile(`doesn't exist|does not exist or has been deleted|has been deleted, please try again|MissingError`)
	committedRx     = regexp.MustCompile(`^TypeError: cannot marshal (None unless allow_none is enabled|<class '[^']+'> objects)$`)
)

// faultError classifies an XML-RPC fault. Fault 1 is classified by the last
// traceback line, as odoo-api.md §2.4 advises.
func faultError(code int, s string) *Error {
	e := &Error{Code: code, Message: s}
	switch code {
	case 1:
		e.Kind = KindServer
		e.Traceback = s
		last := lastLine(s)
		e.Message = last
		if cls, msg, ok := strings.Cut(last, ": "); ok && !strings.ContainsAny(cls, " \t") {
			e.Name, e.Message = cls, msg
		}
		if serializationRx.MatchString(last) {
			e.Kind = KindSerialization
		}
		e.committed = committedRx.MatchString(last)
	case 2:
		e.Kind = KindUser
		e.notFound = notFoundRx.MatchString(s)
	case 3:
		e.Kind = KindAccessDenied
	case 4:
		e.Kind = KindAccess
	default:
		e.Kind = KindServer
	}
	return e
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n ")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[i+1:])
	}
	return strings.TrimSpace(s)
}

// TransportError is a failure below the RPC layer: connection, timeout,
// non-2xx HTTP status without an Odoo error body, oversized answer.
type TransportError struct {
	Op     string // "xmlrpc common.version", "json2 stock.picking.write", ...
	Status int    // HTTP status, or 0
	// Sent is false when the request certainly never reached the server
	// (the connection could not be made), so even a write can be retried.
	Sent bool
	// RetryAfter is the server's Retry-After (seconds), when given.
	RetryAfter int
	Err        error
}

func (e *TransportError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("odoo %s: HTTP %d: %v", e.Op, e.Status, e.Err)
	}
	return fmt.Sprintf("odoo %s: %v", e.Op, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// Is makes every transport error an ErrUnavailable, except 4xx answers
// other than 408/429 which are configuration problems (wrong URL: 404).
func (e *TransportError) Is(target error) bool {
	switch target {
	case ErrUnavailable:
		return e.Status == 0 || e.Status >= 500 || e.Status == 408 || e.Status == 429
	case ErrNotFound:
		return e.Status == 404
	}
	return false
}

// notSent reports whether err is a dial failure (request never sent).
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// protocolError wraps a decoding failure.
func protocolError(op string, err error) error {
	return fmt.Errorf("odoo %s: %w: %w", op, ErrProtocol, err)
}

// IsRetryable reports whether retrying the same call later can succeed:
// serialization failures, unavailability (network, 5xx, timeouts, open
// circuit). Faults 2-4 and Fault 1 tracebacks are not retryable: the same
// call would fail the same way.
func IsRetryable(err error) bool {
	return errors.Is(err, ErrSerialization) || errors.Is(err, ErrUnavailable)
}
