package odoo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Protocols.
const (
	ProtocolXMLRPC = "xmlrpc"
	ProtocolJSON2  = "json2"
	ProtocolAuto   = "auto"
)

// VersionInfo is what version() (or /web/version) reports.
type VersionInfo struct {
	ServerVersion string // "17.0+e", "saas~17.2"
	Major, Minor  int
	Serie         string
	Enterprise    bool
	Protocol      int
}

func parseVersion(serverVersion, info, serie, proto any) (VersionInfo, error) {
	var v VersionInfo
	v.ServerVersion, _ = serverVersion.(string)
	v.Serie, _ = serie.(string)
	if p, ok := asInt(proto); ok {
		v.Protocol = int(p)
	}
	parts, ok := info.([]any)
	if !ok || len(parts) < 2 {
		return v, fmt.Errorf("%w: version info %v", ErrProtocol, info)
	}
	major, ok1 := asInt(parts[0])
	minor, ok2 := asInt(parts[1])
	if !ok1 || !ok2 {
		// SaaS builds: ['saas~17', 2, ...]
		if s, ok := parts[0].(string); ok {
			if n, err := strconv.Atoi(strings.TrimPrefix(s, "saas~")); err == nil {
				major, ok1 = int64(n), true
			}
		}
		if !ok1 || !ok2 {
			return v, fmt.Errorf("%w: version info %v", ErrProtocol, info)
		}
	}
	v.Major, v.Minor = int(major), int(minor)
	if len(parts) >= 6 {
		if ed, _ := parts[5].(string); ed == "e" {
			v.Enterprise = true
		}
	}
	if strings.HasSuffix(v.ServerVersion, "+e") {
		v.Enterprise = true
	}
	return v, nil
}

// json2Transport speaks Odoo 19's /json/2/<model>/<method> with a bearer
// API key and the X-Odoo-Database header.
type json2Transport struct{ httpBase }

func (t *json2Transport) name() string { return ProtocolJSON2 }

func (t *json2Transport) version(ctx context.Context) (VersionInfo, error) {
	const op = "json2 /web/version"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+"/web/version", nil)
	if err != nil {
		return VersionInfo{}, fmt.Errorf("odoo %s: %w", op, err)
	}
	status, hdr, body, err := t.do(req, op)
	if err != nil {
		return VersionInfo{}, err
	}
	if status != http.StatusOK {
		return VersionInfo{}, statusError(op, status, hdr, body)
	}
	var raw any
	if err := decodeJSON(body, &raw); err != nil {
		return VersionInfo{}, protocolError(op, err)
	}
	m, ok := normalize(raw).(map[string]any)
	if !ok {
		return VersionInfo{}, protocolError(op, fmt.Errorf("want an object, got %T", raw))
	}
	return parseVersion(m["version"], m["version_info"], nil, nil)
}

// authenticate checks the key and learns the uid via res.users/context_get.
func (t *json2Transport) authenticate(ctx context.Context) (int64, error) {
	v, err := t.call(ctx, 0, &Call{Model: "res.users", Method: "context_get"})
	if err != nil {
		if e, ok := err.(*Error); ok && e.Status == http.StatusUnauthorized {
			return 0, fmt.Errorf("%w: %w", authError(t.login, t.db), err)
		}
		return 0, err
	}
	m, _ := v.(map[string]any)
	uid, ok := asInt(m["uid"])
	if !ok || uid <= 0 {
		return 0, protocolError("json2 res.users.context_get", fmt.Errorf("no uid in %v", v))
	}
	return uid, nil
}

func (t *json2Transport) call(ctx context.Context, _ int64, c *Call) (any, error) {
	op := "json2 " + c.Model + "." + c.Method
	body, err := c.json2Body()
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("odoo %s: %w: %w", op, ErrInvalid, err)
	}
	u := t.base + "/json/2/" + url.PathEscape(c.Model) + "/" + url.PathEscape(c.Method)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("odoo %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "bearer "+t.secret)
	if t.db != "" {
		req.Header.Set("X-Odoo-Database", t.db)
	}
	status, hdr, resp, err := t.do(req, op)
	if err != nil {
		return nil, err
	}
	if status == http.StatusOK {
		var v any
		if err := decodeJSON(resp, &v); err != nil {
			return nil, protocolError(op, err)
		}
		return normalize(v), nil
	}
	if e := json2Error(status, resp); e != nil {
		e.Model, e.Method = c.Model, c.Method
		return nil, e
	}
	return nil, statusError(op, status, hdr, resp)
}

func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}

// json2Error reads Odoo's error object {name, message, arguments, context,
// debug} (or the early bare-string form); nil when the body is not one
// (e.g. a proxy's HTML page), which the caller reports as a transport error.
func json2Error(status int, body []byte) *Error {
	var obj struct {
		Name    string `json:"name"`
		Message string `json:"message"`
		Debug   string `json:"debug"`
	}
	var bare string
	switch {
	case json.Unmarshal(body, &obj) == nil && (obj.Name != "" || obj.Message != ""):
	case json.Unmarshal(body, &bare) == nil:
		obj.Message = bare
	default:
		return nil
	}
	if status >= 502 && obj.Name == "" {
		return nil
	}
	e := &Error{Status: status, Name: obj.Name, Message: obj.Message, Traceback: obj.Debug}
	short := obj.Name[strings.LastIndexByte(obj.Name, '.')+1:]
	switch {
	case status == http.StatusUnauthorized || short == "AccessDenied":
		e.Kind = KindAccessDenied
	case short == "AccessError" || status == http.StatusForbidden:
		e.Kind = KindAccess
	case status == http.StatusConflict || serializationRx.MatchString(obj.Name+" "+obj.Message+" "+lastLine(obj.Debug)):
		e.Kind = KindSerialization
	case status == http.StatusNotFound:
		e.Kind, e.notFound = KindUser, true
	case status == http.StatusUnprocessableEntity || status == http.StatusBadRequest || strings.HasPrefix(obj.Name, "odoo.exceptions."):
		e.Kind = KindUser
		e.notFound = short == "MissingError"
	default:
		e.Kind = KindServer
		e.committed = strings.Contains(obj.Message, "is not JSON serializable")
	}
	return e
}
