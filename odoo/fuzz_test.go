package odoo

import (
	"errors"
	"strings"
	"testing"
)

// FuzzDecodeXMLRPCResponse is acceptance 5: whatever a broken proxy sends,
// decoding returns a value of the documented shapes or an error, never a
// panic (a recovered panic fails the fuzz too, so recover cannot hide one).
func FuzzDecodeXMLRPCResponse(f *testing.F) {
	for _, s := range []string{
		"<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><boolean>0</boolean></value>\n</param>\n</params>\n</methodResponse>\n",
		"<?xml version=\"1.0\"?>\n<methodResponse>\n<params>\n<param>\n<value><array><data>\n<value><struct>\n<member>\n<name>id</name>\n<value><int>42</int></value>\n</member>\n<member>\n<name>partner_id</name>\n<value><array><data>\n<value><int>15</int></value>\n<value><string>Azure Interior</string></value>\n</data></array></value>\n</member>\n</struct></value>\n</data></array></value>\n</param>\n</params>\n\n</methodResponse>\n",
		"<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n<name>faultCode</name>\n<value><int>2</int></value>\n</member>\n<member>\n<name>faultString</name>\n<value><string>Object stock.pickingx doesn't exist</string></value>\n</member>\n</struct></value>\n</fault>\n</methodResponse>\n",
		"<methodResponse><params><param><value><string></string></value></param></params></methodResponse>",
		"<methodResponse><params><param><value><double>1e400</double></value></param></params></methodResponse>",
		"<methodResponse><params><param><value><dateTime.iso8601>20240502T08:00:00</dateTime.iso8601></value></param></params></methodResponse>",
		"<html><body>502 Bad Gateway</body></html>",
		"<methodResponse><fault><value><struct><member><name>faultCode</name><value><string>x</string></value></member></struct></value></fault></methodResponse>",
		"<methodResponse><params><param><value><struct><member><name>a</name></member></struct></value></param></params></methodResponse>",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := DecodeXMLRPCResponse(body)
		if err != nil {
			if strings.Contains(err.Error(), "decoder panic") {
				t.Fatalf("decoder panicked: %v", err)
			}
			var oe *Error
			if !errors.Is(err, ErrProtocol) && !errors.As(err, &oe) {
				t.Fatalf("error is neither a fault nor ErrProtocol: %v", err)
			}
			return
		}
		checkShape(t, v, 0)
		// The conversion layer must cope with whatever shape came back.
		if list, ok := v.([]any); ok {
			for _, x := range list {
				if m, ok := x.(map[string]any); ok {
					_, _ = DecodePicking(Record(m))
					_, _ = DecodeSaleOrder(Record(m))
				}
			}
		}
	})
}

func checkShape(t *testing.T, v any, depth int) {
	if depth > maxXMLDepth {
		t.Fatalf("value nested deeper than the guard allows")
	}
	switch x := v.(type) {
	case nil, bool, int64, float64, string:
	case []any:
		for _, e := range x {
			checkShape(t, e, depth+1)
		}
	case map[string]any:
		for _, e := range x {
			checkShape(t, e, depth+1)
		}
	default:
		if _, ok := v.(interface{ Unix() int64 }); !ok { // time.Time from dateTime.iso8601
			t.Fatalf("unexpected decoded type %T", v)
		}
	}
}

// FuzzJSON2Error: any error body classifies without panicking.
func FuzzJSON2Error(f *testing.F) {
	f.Add(401, []byte(`{"name": "werkzeug.exceptions.Unauthorized", "message": "Invalid apikey", "arguments": ["Invalid apikey", 401], "context": {}, "debug": "Traceback"}`))
	f.Add(422, []byte(`"missing a required argument: 'domain'"`))
	f.Add(500, []byte(`{"name": "psycopg2.errors.SerializationFailure", "message": "could not serialize access", "debug": "x\ny"}`))
	f.Add(502, []byte(`<html>bad gateway</html>`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if e := json2Error(status, body); e != nil && e.Kind == 0 {
			t.Fatalf("unclassified error %+v", e)
		}
	})
}
