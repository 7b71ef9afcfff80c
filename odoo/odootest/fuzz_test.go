package odootest

import "testing"

// FuzzParseMethodCall: the emulator's request parser (exposed to the
// network by `yardmaster odoo-sim`) returns values or an error, never
// panics, whatever it is sent.
func FuzzParseMethodCall(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0" encoding="UTF-8"?><methodCall><methodName>execute_kw</methodName><params><param><value><string>demo</string></value></param><param><value><int>2</int></value></param><param><value><array><data><value><struct><member><name>a</name><value><boolean>1</boolean></value></member></struct></value></data></array></value></param></params></methodCall>`))
	f.Add([]byte(`<methodCall><methodName>version</methodName></methodCall>`))
	f.Add([]byte(`<methodCall><methodName>x</methodName><params><param><value>untyped</value></param><param><value/></param><param><value><nil/></value></param><param><value><base64>aGk=</base64></value></param><param><value><dateTime.iso8601>20240502T08:00:00</dateTime.iso8601></value></param></params></methodCall>`))
	f.Add([]byte(`<methodCall><methodName>x</methodName><params><param><value><boolean>true</boolean></value></param></params></methodCall>`))
	f.Add([]byte(`<?xml version="1.0" encoding="latin-1"?><methodCall/>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, params, err := ParseMethodCall(body)
		if err != nil {
			if _, ok := err.(*parseError); !ok {
				t.Fatalf("error type %T", err)
			}
			return
		}
		// Whatever parsed must marshal back (or fail cleanly).
		s := &Server{opts: Options{Version: 17}}
		_, _ = s.encodeResult(params)
	})
}
