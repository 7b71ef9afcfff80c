package odoo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/kolo/xmlrpc"
)

// transport is one wire protocol. Implementations do a single attempt;
// retries, timeouts, rate limit and breaker live in Client.
type transport interface {
	name() string
	version(ctx context.Context) (VersionInfo, error)
	authenticate(ctx context.Context) (int64, error)
	call(ctx context.Context, uid int64, c *Call) (any, error)
}

// httpBase holds what both transports share.
type httpBase struct {
	base, db, login, secret string
	hc                      *http.Client
	maxBody                 int64
	userAgent               string
}

// do sends req and returns the body of a response of any status, or a
// TransportError when nothing usable came back.
func (h *httpBase) do(req *http.Request, op string) (int, http.Header, []byte, error) {
	req.Header.Set("User-Agent", h.userAgent)
	resp, err := h.hc.Do(req)
	if err != nil {
		return 0, nil, nil, &TransportError{Op: op, Sent: !notSent(err), Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, h.maxBody+1))
	if err != nil {
		return 0, nil, nil, &TransportError{Op: op, Status: resp.StatusCode, Sent: true, Err: fmt.Errorf("read response: %w", err)}
	}
	if int64(len(body)) > h.maxBody {
		return 0, nil, nil, protocolError(op, fmt.Errorf("response larger than %d bytes", h.maxBody))
	}
	return resp.StatusCode, resp.Header, body, nil
}

func statusError(op string, status int, hdr http.Header, body []byte) error {
	te := &TransportError{Op: op, Status: status, Sent: true, Err: fmt.Errorf("%s", snippet(body))}
	if ra, err := strconv.Atoi(hdr.Get("Retry-After")); err == nil && ra > 0 {
		te.RetryAfter = ra
	}
	return te
}

func snippet(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 200 {
		b = append(b[:200:200], "…"...)
	}
	if len(b) == 0 {
		return "empty body"
	}
	return string(b)
}

// xmlrpcTransport speaks /xmlrpc/2/common and /xmlrpc/2/object. It encodes
// with kolo's EncodeMethodCall and posts itself (kolo's Client has no
// context and turns faults into untyped rpc.ServerError strings, §2.7).
type xmlrpcTransport struct{ httpBase }

func (t *xmlrpcTransport) name() string { return ProtocolXMLRPC }

func (t *xmlrpcTransport) post(ctx context.Context, service, method, op string, params ...any) (any, error) {
	body, err := xmlrpc.EncodeMethodCall(method, params...)
	if err != nil {
		return nil, fmt.Errorf("odoo %s: %w: %w", op, ErrInvalid, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+"/xmlrpc/2/"+service, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("odoo %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "text/xml")
	status, hdr, resp, err := t.do(req, op)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, statusError(op, status, hdr, resp)
	}
	v, err := DecodeXMLRPCResponse(resp)
	if err != nil {
		var oe *Error
		if !errors.As(err, &oe) {
			return nil, protocolError(op, err)
		}
		return nil, err
	}
	return v, nil
}

// maxXMLDepth bounds nesting before kolo's recursive decoder sees the
// bytes: a broken proxy must not be able to exhaust the stack.
const maxXMLDepth = 64

// DecodeXMLRPCResponse decodes a methodResponse body into Go values
// (int64, float64, bool, string, nil for an empty string, []any,
// map[string]any) or returns the fault as an *Error. Malformed input is an
// error, never a panic.
func DecodeXMLRPCResponse(body []byte) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("%w: decoder panic: %v", ErrProtocol, r)
		}
	}()
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, fmt.Errorf("%w: empty response", ErrProtocol)
	}
	if d := xmlDepth(body); d > maxXMLDepth {
		return nil, fmt.Errorf("%w: response nested %d levels deep", ErrProtocol, d)
	}
	if !bytes.Contains(body, []byte("<methodResponse")) {
		return nil, fmt.Errorf("%w: not an XML-RPC response: %s", ErrProtocol, snippet(body))
	}
	r := xmlrpc.Response(body)
	if ferr := r.Err(); ferr != nil {
		var fe xmlrpc.FaultError
		if errors.As(ferr, &fe) && fe.Code != 0 {
			return nil, faultError(fe.Code, fe.String)
		}
		return nil, fmt.Errorf("%w: bad fault: %v", ErrProtocol, ferr)
	}
	var out any
	if err := r.Unmarshal(&out); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	return out, nil
}

// xmlDepth returns the deepest nesting of elements, scanning bytes only.
func xmlDepth(b []byte) int {
	depth, max := 0, 0
	for i := 0; i < len(b); i++ {
		if b[i] != '<' || i+1 >= len(b) {
			continue
		}
		switch b[i+1] {
		case '/':
			depth--
		case '?', '!':
		default:
			j := bytes.IndexByte(b[i:], '>')
			if j < 0 {
				return max
			}
			if b[i+j-1] != '/' {
				depth++
				if depth > max {
					max = depth
				}
			}
			i += j
		}
	}
	return max
}

func (t *xmlrpcTransport) version(ctx context.Context) (VersionInfo, error) {
	v, err := t.post(ctx, "common", "version", "xmlrpc common.version")
	if err != nil {
		return VersionInfo{}, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return VersionInfo{}, protocolError("xmlrpc common.version", fmt.Errorf("want a struct, got %T", v))
	}
	return parseVersion(m["server_version"], m["server_version_info"], m["server_serie"], m["protocol_version"])
}

func (t *xmlrpcTransport) authenticate(ctx context.Context) (int64, error) {
	v, err := t.post(ctx, "common", "authenticate", "xmlrpc common.authenticate", t.db, t.login, t.secret, map[string]any{})
	if err != nil {
		return 0, err
	}
	switch x := v.(type) {
	case int64:
		if x > 0 {
			return x, nil
		}
	case bool:
		if !x {
			return 0, authError(t.login, t.db)
		}
	}
	return 0, protocolError("xmlrpc common.authenticate", fmt.Errorf("want a uid or False, got %v", v))
}

func authError(login, db string) error {
	return fmt.Errorf("%w: Odoo refused login %q on database %q (wrong login or API key, inactive user, or too many failed logins)", ErrAuthentication, login, db)
}

func (t *xmlrpcTransport) call(ctx context.Context, uid int64, c *Call) (any, error) {
	args, kw, err := c.xmlrpcArgs()
	if err != nil {
		return nil, err
	}
	params := []any{t.db, uid, t.secret, c.Model, c.Method, args}
	if len(kw) > 0 {
		params = append(params, kw)
	}
	v, err := t.post(ctx, "object", "execute_kw", "xmlrpc "+c.Model+"."+c.Method, params...)
	var oe *Error
	if errors.As(err, &oe) {
		oe.Model, oe.Method = c.Model, c.Method
	}
	return v, err
}
