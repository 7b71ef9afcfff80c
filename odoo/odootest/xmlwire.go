package odootest

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The response side reproduces CPython's xmlrpc.client.Marshaller byte for
// byte, with Odoo's variations per version (odoo-api.md §2.6):
//   - 16/17: stdlib dumps(methodresponse=True): header <?xml version='1.0'?>
//   - 18/19: Odoo's dumps() wrapper: header <?xml version="1.0"?> and an empty
//     line before </methodResponse>
//   - 17+: control characters other than \t \n \r are stripped from strings.

// marshalError is raised while marshalling; it becomes a Fault 1 whose
// traceback ends in the Python exception the marshaller would raise.
type marshalError struct{ class, msg string }

func (e *marshalError) Error() string { return e.class + ": " + e.msg }

const (
	maxInt = 1<<31 - 1
	minInt = -(1 << 31)
)

type marshaller struct {
	buf      *bytes.Buffer
	stripCtl bool
	depth    int
}

func (m *marshaller) dump(v any) error {
	b := m.buf
	switch x := v.(type) {
	case nil:
		return &marshalError{"TypeError", "cannot marshal None unless allow_none is enabled"}
	case bool:
		if x {
			b.WriteString("<value><boolean>1</boolean></value>\n")
		} else {
			b.WriteString("<value><boolean>0</boolean></value>\n")
		}
	case int64:
		if x > maxInt || x < minInt {
			return &marshalError{"OverflowError", "int exceeds XML-RPC limits"}
		}
		b.WriteString("<value><int>")
		b.WriteString(strconv.FormatInt(x, 10))
		b.WriteString("</int></value>\n")
	case int:
		return m.dump(int64(x))
	case float64:
		b.WriteString("<value><double>")
		b.WriteString(pyFloat(x))
		b.WriteString("</double></value>\n")
	case string:
		b.WriteString("<value><string>")
		m.escape(x, m.stripCtl)
		b.WriteString("</string></value>\n")
	case []any:
		m.depth++
		if m.depth > 200 {
			return &marshalError{"RecursionError", "maximum recursion depth exceeded"}
		}
		b.WriteString("<value><array><data>\n")
		for _, e := range x {
			if err := m.dump(e); err != nil {
				return err
			}
		}
		b.WriteString("</data></array></value>\n")
		m.depth--
	case []int64:
		b.WriteString("<value><array><data>\n")
		for _, e := range x {
			if err := m.dump(e); err != nil {
				return err
			}
		}
		b.WriteString("</data></array></value>\n")
	case *Dict:
		m.depth++
		if m.depth > 200 {
			return &marshalError{"RecursionError", "maximum recursion depth exceeded"}
		}
		b.WriteString("<value><struct>\n")
		for _, k := range x.keys {
			b.WriteString("<member>\n<name>")
			m.escape(k, false)
			b.WriteString("</name>\n")
			if err := m.dump(x.m[k]); err != nil {
				return err
			}
			b.WriteString("</member>\n")
		}
		b.WriteString("</struct></value>\n")
		m.depth--
	case DateTime:
		b.WriteString("<value><dateTime.iso8601>")
		b.WriteString(x.Raw)
		b.WriteString("</dateTime.iso8601></value>\n")
	case Binary:
		b.WriteString("<value><base64>\n")
		b.WriteString(base64.StdEncoding.EncodeToString(x))
		b.WriteString("\n</base64></value>\n")
	case pyObject:
		return &marshalError{"TypeError", "cannot marshal <class '" + x.class + "'> objects"}
	default:
		return &marshalError{"TypeError", fmt.Sprintf("cannot marshal %T objects", v)}
	}
	return nil
}

// escape is xmlrpc.client.escape (only &, <, > are replaced), optionally
// after Odoo 17+'s control-character stripping.
func (m *marshaller) escape(s string, strip bool) {
	b := m.buf
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '&':
			b.WriteString("&amp;")
		case c == '<':
			b.WriteString("&lt;")
		case c == '>':
			b.WriteString("&gt;")
		case strip && c < 0x20 && c != '\t' && c != '\n' && c != '\r':
		default:
			b.WriteByte(c)
		}
	}
}

func (s *Server) header(b *bytes.Buffer) {
	if s.opts.Version >= 18 {
		b.WriteString("<?xml version=\"1.0\"?>\n<methodResponse>\n")
	} else {
		b.WriteString("<?xml version='1.0'?>\n<methodResponse>\n")
	}
}

func (s *Server) footer(b *bytes.Buffer) {
	if s.opts.Version >= 18 {
		b.WriteString("\n</methodResponse>\n")
	} else {
		b.WriteString("</methodResponse>\n")
	}
}

// encodeResult marshals a successful result. A marshalling error (None,
// overflow, recordset) is returned for the caller to turn into a fault —
// after the call's effects were committed, exactly as in Odoo.
func (s *Server) encodeResult(v any) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(256)
	s.header(&b)
	b.WriteString("<params>\n<param>\n")
	m := marshaller{buf: &b, stripCtl: s.opts.Version >= 17}
	if err := m.dump(v); err != nil {
		return nil, err
	}
	b.WriteString("</param>\n</params>\n")
	s.footer(&b)
	return b.Bytes(), nil
}

// encodeFault marshals an XML-RPC fault struct {faultCode, faultString}.
func (s *Server) encodeFault(code int, msg string) []byte {
	var b bytes.Buffer
	s.header(&b)
	b.WriteString("<fault>\n")
	d := NewDict(2)
	d.Set("faultCode", int64(code))
	d.Set("faultString", msg)
	m := marshaller{buf: &b, stripCtl: s.opts.Version >= 17}
	_ = m.dump(d)
	b.WriteString("</fault>\n")
	s.footer(&b)
	return b.Bytes()
}

// The request side is a port of xmlrpc.client.Unmarshaller's behaviour:
// typed values, untyped <value>text</value> as a string, <nil/> as None,
// booleans only "0"/"1". Malformed input raises what expat or the
// unmarshaller would (a Fault 1 for the caller).

const maxParseDepth = 100

// parseError is an exception raised while reading the request.
type parseError struct{ class, msg string }

func (e *parseError) Error() string { return e.class + ": " + e.msg }

// ParseMethodCall decodes an XML-RPC methodCall into the method name and
// Python-like parameter values. Exported for the fuzz target.
func ParseMethodCall(body []byte) (method string, params []any, err error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = true
	dec.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		switch strings.ToLower(label) {
		case "utf-8", "utf8", "us-ascii", "ascii":
			return r, nil
		}
		return nil, fmt.Errorf("unknown encoding: %s", label)
	}
	p := &xparser{dec: dec}
	defer func() {
		if r := recover(); r != nil {
			method, params, err = "", nil, &parseError{"xml.parsers.expat.ExpatError", fmt.Sprint(r)}
		}
	}()
	return p.methodCall()
}

type xparser struct {
	dec *xml.Decoder
}

func (p *xparser) expatErr(err error) error {
	if errors.Is(err, io.EOF) {
		line, col := p.dec.InputPos()
		return &parseError{"xml.parsers.expat.ExpatError", fmt.Sprintf("no element found: line %d, column %d", line, col)}
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return &parseError{"xml.parsers.expat.ExpatError", fmt.Sprintf("%s: line %d", se.Msg, se.Line)}
	}
	return &parseError{"xml.parsers.expat.ExpatError", err.Error()}
}

// next returns the next start/end element or non-blank character data.
func (p *xparser) next() (xml.Token, error) {
	for {
		tok, err := p.dec.Token()
		if err != nil {
			return nil, p.expatErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement, xml.EndElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) == 0 {
				continue
			}
			return t.Copy(), nil
		}
	}
}

func (p *xparser) methodCall() (string, []any, error) {
	tok, err := p.next()
	if err != nil {
		return "", nil, err
	}
	st, ok := tok.(xml.StartElement)
	if !ok || st.Name.Local != "methodCall" {
		return "", nil, &parseError{"xmlrpc.client.ResponseError", "ResponseError('unexpected request')"}
	}
	var method string
	var params []any
	for {
		tok, err := p.next()
		if err != nil {
			return "", nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if method == "" {
				return "", nil, &parseError{"xmlrpc.client.ResponseError", "ResponseError('unexpected request')"}
			}
			return method, params, p.trailing()
		case xml.StartElement:
			switch t.Name.Local {
			case "methodName":
				s, err := p.text("methodName")
				if err != nil {
					return "", nil, err
				}
				method = s
			case "params":
				ps, err := p.params()
				if err != nil {
					return "", nil, err
				}
				params = ps
			default:
				return "", nil, &parseError{"xml.parsers.expat.ExpatError", "unexpected element " + t.Name.Local}
			}
		case xml.CharData:
			return "", nil, &parseError{"xml.parsers.expat.ExpatError", "text outside elements"}
		}
	}
}

func (p *xparser) trailing() error {
	for {
		tok, err := p.dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return p.expatErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return &parseError{"xml.parsers.expat.ExpatError", "junk after document element"}
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return &parseError{"xml.parsers.expat.ExpatError", "junk after document element"}
			}
		}
	}
}

// text reads character data up to </name>.
func (p *xparser) text(name string) (string, error) {
	var sb strings.Builder
	for {
		tok, err := p.dec.Token()
		if err != nil {
			return "", p.expatErr(err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			sb.Write(t)
		case xml.EndElement:
			if t.Name.Local != name {
				return "", &parseError{"xml.parsers.expat.ExpatError", "mismatched tag"}
			}
			return sb.String(), nil
		case xml.StartElement:
			return "", &parseError{"xml.parsers.expat.ExpatError", "unexpected element " + t.Name.Local + " in " + name}
		}
	}
}

func (p *xparser) params() ([]any, error) {
	out := []any{}
	for {
		tok, err := p.next()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return out, nil
		case xml.StartElement:
			if t.Name.Local != "param" {
				return nil, &parseError{"xml.parsers.expat.ExpatError", "unexpected element " + t.Name.Local + " in params"}
			}
			tok, err := p.next()
			if err != nil {
				return nil, err
			}
			vs, ok := tok.(xml.StartElement)
			if !ok || vs.Name.Local != "value" {
				return nil, &parseError{"xml.parsers.expat.ExpatError", "param without value"}
			}
			v, err := p.value(0)
			if err != nil {
				return nil, err
			}
			if err := p.end("param"); err != nil {
				return nil, err
			}
			out = append(out, v)
		default:
			return nil, &parseError{"xml.parsers.expat.ExpatError", "text in params"}
		}
	}
}

func (p *xparser) end(name string) error {
	tok, err := p.next()
	if err != nil {
		return err
	}
	if e, ok := tok.(xml.EndElement); !ok || e.Name.Local != name {
		return &parseError{"xml.parsers.expat.ExpatError", "mismatched tag: expected </" + name + ">"}
	}
	return nil
}

// value reads the inside of <value> up to and including </value>.
func (p *xparser) value(depth int) (any, error) {
	if depth > maxParseDepth {
		return nil, &parseError{"RecursionError", "maximum recursion depth exceeded"}
	}
	var text strings.Builder
	for {
		tok, err := p.dec.Token()
		if err != nil {
			return nil, p.expatErr(err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			// Untyped value: Python keeps the text as str (empty for <value/>).
			return text.String(), nil
		case xml.StartElement:
			if strings.TrimSpace(text.String()) != "" {
				return nil, &parseError{"xml.parsers.expat.ExpatError", "mixed content in value"}
			}
			v, err := p.typed(t.Name.Local, depth)
			if err != nil {
				return nil, err
			}
			if err := p.end("value"); err != nil {
				return nil, err
			}
			return v, nil
		}
	}
}

func (p *xparser) typed(typ string, depth int) (any, error) {
	switch typ {
	case "int", "i4", "i8", "i1", "i2", "biginteger":
		s, err := p.text(typ)
		if err != nil {
			return nil, err
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, &parseError{"ValueError", fmt.Sprintf("invalid literal for int() with base 10: %s", pyStrRepr(s))}
		}
		return n, nil
	case "boolean":
		s, err := p.text(typ)
		if err != nil {
			return nil, err
		}
		switch s {
		case "0":
			return false, nil
		case "1":
			return true, nil
		}
		return nil, &parseError{"TypeError", "bad boolean value"}
	case "double", "float", "bigdecimal":
		s, err := p.text(typ)
		if err != nil {
			return nil, err
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return nil, &parseError{"ValueError", fmt.Sprintf("could not convert string to float: %s", pyStrRepr(s))}
		}
		return f, nil
	case "string":
		return p.text(typ)
	case "base64":
		s, err := p.text(typ)
		if err != nil {
			return nil, err
		}
		raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return nil, &parseError{"binascii.Error", "Incorrect padding"}
		}
		return Binary(raw), nil
	case "dateTime.iso8601":
		s, err := p.text(typ)
		if err != nil {
			return nil, err
		}
		return DateTime{Raw: strings.TrimSpace(s)}, nil
	case "nil":
		if err := p.end("nil"); err != nil {
			return nil, err
		}
		return nil, nil
	case "array":
		return p.array(depth)
	case "struct":
		return p.strct(depth)
	default:
		return nil, &parseError{"xmlrpc.client.ResponseError", fmt.Sprintf("ResponseError(\"unknown tag %s\")", pyStrRepr(typ))}
	}
}

func (p *xparser) array(depth int) (any, error) {
	out := []any{}
	tok, err := p.next()
	if err != nil {
		return nil, err
	}
	if e, ok := tok.(xml.EndElement); ok && e.Name.Local == "array" {
		return out, nil
	}
	if s, ok := tok.(xml.StartElement); !ok || s.Name.Local != "data" {
		return nil, &parseError{"xml.parsers.expat.ExpatError", "array without data"}
	}
	for {
		tok, err := p.next()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement: // </data>
			if err := p.end("array"); err != nil {
				return nil, err
			}
			return out, nil
		case xml.StartElement:
			if t.Name.Local != "value" {
				return nil, &parseError{"xml.parsers.expat.ExpatError", "unexpected element " + t.Name.Local + " in data"}
			}
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		default:
			return nil, &parseError{"xml.parsers.expat.ExpatError", "text in data"}
		}
	}
}

func (p *xparser) strct(depth int) (any, error) {
	d := NewDict(8)
	for {
		tok, err := p.next()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement: // </struct>
			return d, nil
		case xml.StartElement:
			if t.Name.Local != "member" {
				return nil, &parseError{"xml.parsers.expat.ExpatError", "unexpected element " + t.Name.Local + " in struct"}
			}
			var name string
			var haveName, haveValue bool
			var val any
			for done := false; !done; {
				tok, err := p.next()
				if err != nil {
					return nil, err
				}
				switch mt := tok.(type) {
				case xml.EndElement:
					done = true
				case xml.StartElement:
					switch mt.Name.Local {
					case "name":
						s, err := p.text("name")
						if err != nil {
							return nil, err
						}
						name, haveName = s, true
					case "value":
						v, err := p.value(depth + 1)
						if err != nil {
							return nil, err
						}
						val, haveValue = v, true
					default:
						return nil, &parseError{"xml.parsers.expat.ExpatError", "unexpected element " + mt.Name.Local + " in member"}
					}
				default:
					return nil, &parseError{"xml.parsers.expat.ExpatError", "text in member"}
				}
			}
			if !haveName || !haveValue {
				return nil, &parseError{"xmlrpc.client.ResponseError", "ResponseError('incomplete struct member')"}
			}
			d.Set(name, val)
		default:
			return nil, &parseError{"xml.parsers.expat.ExpatError", "text in struct"}
		}
	}
}
