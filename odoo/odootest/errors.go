package odootest

import (
	"fmt"
	"net/http"
	"strings"
)

// pyErr is a Python exception raised inside the emulated server. Class is
// the name Python prints in a traceback's last line ("ValueError",
// "psycopg2.errors.SerializationFailure", "odoo.exceptions.UserError").
type pyErr struct {
	Class string
	Msg   string
	// Committed marks an error raised after the call's effects were
	// committed (marshalling a None or recordset result).
	Committed bool
}

func (e *pyErr) Error() string { return e.Class + ": " + e.Msg }

// Odoo's exception classes and the families the RPC layer branches on.
const (
	excUserError       = "odoo.exceptions.UserError"
	excValidationError = "odoo.exceptions.ValidationError"
	excMissingError    = "odoo.exceptions.MissingError"
	excAccessDenied    = "odoo.exceptions.AccessDenied"
	excAccessError     = "odoo.exceptions.AccessError"
	excLockError       = "odoo.exceptions.LockError"
	excConcurrency     = "odoo.exceptions.ConcurrencyError"
	excSerialization   = "psycopg2.errors.SerializationFailure"
)

func userError(format string, a ...any) *pyErr {
	return &pyErr{Class: excUserError, Msg: fmt.Sprintf(format, a...)}
}
func validationError(msg string) *pyErr { return &pyErr{Class: excValidationError, Msg: msg} }
func missingError(msg string) *pyErr    { return &pyErr{Class: excMissingError, Msg: msg} }
func accessDenied(msg string) *pyErr    { return &pyErr{Class: excAccessDenied, Msg: msg} }
func accessError(msg string) *pyErr     { return &pyErr{Class: excAccessError, Msg: msg} }
func valueError(format string, a ...any) *pyErr {
	return &pyErr{Class: "ValueError", Msg: fmt.Sprintf(format, a...)}
}
func typeError(format string, a ...any) *pyErr {
	return &pyErr{Class: "TypeError", Msg: fmt.Sprintf(format, a...)}
}

// faultCode maps an exception to the /xmlrpc/2 integer fault code
// (odoo-api.md §2.1/§2.3): AccessDenied 3 and AccessError 4 are checked
// before the UserError family (2); anything else is 1.
func faultCode(e *pyErr) int {
	switch e.Class {
	case excAccessDenied:
		return 3
	case excAccessError:
		return 4
	case excUserError, excValidationError, excMissingError, excLockError, "odoo.exceptions.RedirectWarning":
		return 2
	}
	return 1
}

// jsonStatus maps an exception to the JSON-2 HTTP status (odoo-api.md §3.2).
func jsonStatus(e *pyErr) int {
	switch e.Class {
	case excAccessDenied, excAccessError:
		return http.StatusForbidden
	case excMissingError, "werkzeug.exceptions.NotFound":
		return http.StatusNotFound
	case excUserError, excValidationError, "werkzeug.exceptions.UnprocessableEntity":
		return http.StatusUnprocessableEntity
	case excLockError, excConcurrency:
		return http.StatusConflict
	case "werkzeug.exceptions.Unauthorized":
		return http.StatusUnauthorized
	case "werkzeug.exceptions.BadRequest":
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// qualifiedName is type(exc).__module__ + "." + __qualname__, as JSON-2
// reports it in "name".
func qualifiedName(class string) string {
	if strings.Contains(class, ".") {
		return class
	}
	return "builtins." + class
}

// faultString is str(exc) for codes 2-4, or the full traceback for code 1
// (clients classify Fault 1 by its last line).
func (s *Server) faultString(e *pyErr) string {
	if faultCode(e) != 1 {
		return e.Msg
	}
	return s.traceback(e)
}

// traceback renders a plausible CPython traceback through Odoo's RPC
// controller for this version, ending in "Class: message\n".
func (s *Server) traceback(e *pyErr) string {
	var b strings.Builder
	b.WriteString("Traceback (most recent call last):\n")
	root := "/usr/lib/python3/dist-packages/odoo"
	if s.opts.Version >= 19 {
		fmt.Fprintf(&b, "  File \"%s/addons/rpc/controllers/xmlrpc.py\", line 163, in xmlrpc_2\n    response = self._xmlrpc(service)\n", root)
		fmt.Fprintf(&b, "  File \"%s/addons/rpc/controllers/xmlrpc.py\", line 137, in _xmlrpc\n", root)
	} else {
		fmt.Fprintf(&b, "  File \"%s/addons/base/controllers/rpc.py\", line 156, in xmlrpc_2\n    response = self._xmlrpc(service)\n", root)
		fmt.Fprintf(&b, "  File \"%s/addons/base/controllers/rpc.py\", line 136, in _xmlrpc\n", root)
	}
	switch {
	case strings.HasPrefix(e.Class, "psycopg2"):
		fmt.Fprintf(&b, "  File \"%s/service/model.py\", line 156, in retrying\n    result = func()\n", root)
		fmt.Fprintf(&b, "  File \"%s/sql_db.py\", line 332, in execute\n    res = self._obj.execute(query, params)\n", root)
	case e.Class == "TypeError" && strings.HasPrefix(e.Msg, "cannot marshal"):
		b.WriteString("    return dumps((result,))\n")
		b.WriteString("  File \"/usr/lib/python3.12/xmlrpc/client.py\", line 540, in dump_nil\n")
	default:
		fmt.Fprintf(&b, "  File \"%s/service/model.py\", line 62, in execute_kw\n    return execute(db, uid, obj, method, *args, **kw or {})\n", root)
		fmt.Fprintf(&b, "  File \"%s/api.py\", line 466, in call_kw\n    result = _call_kw_model(method, model, args, kwargs)\n", root)
	}
	b.WriteString(e.Class)
	b.WriteString(": ")
	b.WriteString(e.Msg)
	b.WriteString("\n")
	return b.String()
}
