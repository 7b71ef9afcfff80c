package odoo_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/odoo"
	"github.com/yardmaster/yardmaster/odoo/odootest"
)

// protocols run a test over both transports: XML-RPC against the 17
// profile and JSON-2 against the 19 profile.
var protocols = []struct {
	name     string
	version  int
	protocol string
}{
	{"xmlrpc", 17, odoo.ProtocolXMLRPC},
	{"json2", 19, odoo.ProtocolJSON2},
}

func newClient(t *testing.T, srv *odootest.Server, protocol string, tweak ...func(*odoo.Options)) *odoo.Client {
	t.Helper()
	o := odoo.Options{URL: srv.URL(), DB: srv.DB(), Login: srv.Login(), APIKey: srv.APIKey(), Protocol: protocol,
		RateLimit: 1000, Timeout: 5 * time.Second, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}
	for _, f := range tweak {
		f(&o)
	}
	c, err := odoo.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewValidatesOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    odoo.Options
		want string
	}{
		{"empty", odoo.Options{}, "must be an http(s) URL"},
		{"scheme", odoo.Options{URL: "ftp://x", DB: "d", Login: "l", APIKey: "k"}, "must be an http(s) URL"},
		{"query", odoo.Options{URL: "https://x/?a=1", DB: "d", Login: "l", APIKey: "k"}, "query"},
		{"db", odoo.Options{URL: "https://x", Login: "l", APIKey: "k"}, "database name"},
		{"protocol", odoo.Options{URL: "https://x", DB: "d", Login: "l", APIKey: "k", Protocol: "soap"}, "protocol"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := odoo.New(tc.o)
			if !errors.Is(err, odoo.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
}

func TestProtocolSelection(t *testing.T) {
	for _, tc := range []struct {
		version  int
		protocol string
		want     string
	}{
		{17, odoo.ProtocolAuto, odoo.ProtocolXMLRPC},
		{18, odoo.ProtocolAuto, odoo.ProtocolXMLRPC},
		{19, odoo.ProtocolAuto, odoo.ProtocolJSON2},
		{19, odoo.ProtocolXMLRPC, odoo.ProtocolXMLRPC},
	} {
		srv := odootest.New(t, odootest.Options{Version: tc.version, Enterprise: true})
		c := newClient(t, srv, tc.protocol)
		v, err := c.Version(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if c.Protocol() != tc.want || v.Major != tc.version || !v.Enterprise {
			t.Errorf("v%d %s: protocol %s, version %+v", tc.version, tc.protocol, c.Protocol(), v)
		}
	}
	// JSON-2 configured against an Odoo 17: a clear failure, not a hang.
	srv := odootest.New(t, odootest.Options{Version: 17})
	err := newClient(t, srv, odoo.ProtocolJSON2).Connect(context.Background())
	if !errors.Is(err, odoo.ErrNotFound) {
		t.Errorf("json2 against 17: %v", err)
	}
}

func TestAuthentication(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			srv := odootest.New(t, odootest.Options{Version: p.version})
			c := newClient(t, srv, p.protocol, func(o *odoo.Options) { o.APIKey = "wrong" })
			err := c.Connect(context.Background())
			if !errors.Is(err, odoo.ErrAuthentication) || odoo.IsRetryable(err) {
				t.Fatalf("bad key: %v", err)
			}
			if err := newClient(t, srv, p.protocol).Connect(context.Background()); err != nil {
				t.Fatalf("good key: %v", err)
			}
		})
	}
}

func TestCRUDBothTransports(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			srv := odootest.New(t, odootest.Options{Version: p.version})
			c := newClient(t, srv, p.protocol)
			ctx := context.Background()
			demo := srv.Demo()
			recs, err := c.SearchRead(ctx, "stock.picking", odoo.Where("id", "=", demo.PickingID), odoo.SearchOptions{Fields: odoo.PickingFields})
			if err != nil || len(recs) != 1 {
				t.Fatalf("search_read: %v %v", recs, err)
			}
			pk, err := odoo.DecodePicking(recs[0])
			if err != nil {
				t.Fatal(err)
			}
			if pk.Name != demo.PickingName || pk.Sale.ID != demo.OrderID || pk.Sale.Name != demo.OrderName || pk.TrackingRef != demo.TrackingRef || pk.ScheduledDate == nil {
				t.Errorf("decoded picking %+v", pk)
			}
			n, err := c.SearchCount(ctx, "stock.picking", odoo.Or(odoo.Where("state", "=", "done"), odoo.Where("state", "=", "cancel")), nil)
			if err != nil || n == 0 {
				t.Fatalf("search_count: %d %v", n, err)
			}
			id, err := c.Create(ctx, "res.partner", map[string]any{"name": "Client Test", "email": nil, "parent_id": odoo.Many2One{}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			when := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("x", 3600))
			if err := c.Write(ctx, "stock.picking", []int64{demo.PickingID}, map[string]any{"scheduled_date": when}, odoo.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			got, err := c.Read(ctx, "stock.picking", []int64{demo.PickingID}, []string{"scheduled_date"}, nil)
			if err != nil || got[0].String("scheduled_date") != "2026-03-04 04:06:07" {
				t.Fatalf("datetimes go out as UTC strings: %v %v", got, err)
			}
			p, err := c.Read(ctx, "res.partner", []int64{id}, []string{"email", "parent_id"}, nil)
			if err != nil || p[0]["email"] != false || p[0]["parent_id"] != false {
				t.Fatalf("nil and empty many2one are sent as False: %v %v", p, err)
			}
			msg, err := c.MessagePost(ctx, "sale.order", demo.OrderID, odoo.Message{Body: "hello"})
			if err != nil || msg == 0 {
				t.Fatalf("message_post: %d %v", msg, err)
			}
			if _, err := c.ModelID(ctx, "helpdesk.ticket"); !errors.Is(err, odoo.ErrNotFound) {
				t.Errorf("helpdesk not installed: %v", err)
			}
			if tid, err := c.XMLID(ctx, "mail.mail_activity_data_warning"); err != nil || tid == 0 {
				t.Errorf("xmlid: %d %v", tid, err)
			}
		})
	}
}

// TestFaultMapping is acceptance 2 (first part): every fault maps to its
// typed error, over both transports.
func TestFaultMapping(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			srv := odootest.New(t, odootest.Options{Version: p.version})
			c := newClient(t, srv, p.protocol, func(o *odoo.Options) { o.MaxAttempts = 1 })
			ctx := context.Background()
			if err := c.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			demo := srv.Demo()
			srv.Deny("crm.team", "write")
			cases := []struct {
				name      string
				call      odoo.Call
				want      []error
				notWant   []error
				kind      odoo.Kind
				retryable bool
			}{
				{"server", odoo.Call{Model: "stock.picking", Method: "search_read", Args: []odoo.Arg{{"domain", []any{[]any{"nope", "=", 1}}}}},
					[]error{odoo.ErrServer}, []error{odoo.ErrSerialization}, odoo.KindServer, false},
				{"user_unknown_model", odoo.Call{Model: "stock.pickingx", Method: "search_count", Args: []odoo.Arg{{"domain", []any{}}}},
					[]error{odoo.ErrUser, odoo.ErrNotFound}, nil, odoo.KindUser, false},
				{"user_missing_record", odoo.Call{Model: "res.partner", Method: "write", OnRecords: true, IDs: []int64{999999}, Args: []odoo.Arg{{"vals", map[string]any{"name": "x"}}}},
					[]error{odoo.ErrUser, odoo.ErrNotFound}, nil, odoo.KindUser, false},
				{"access_acl", odoo.Call{Model: "crm.team", Method: "write", OnRecords: true, IDs: []int64{1}, Args: []odoo.Arg{{"vals", map[string]any{"name": "x"}}}},
					[]error{odoo.ErrAccess}, []error{odoo.ErrAccessDenied}, odoo.KindAccess, false},
				{"access_private", odoo.Call{Model: "stock.picking", Method: "_action_cancel", OnRecords: true, IDs: []int64{demo.PickingID}},
					[]error{odoo.ErrAccess}, nil, odoo.KindAccess, false},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					_, err := c.Execute(ctx, tc.call)
					var oe *odoo.Error
					if !errors.As(err, &oe) || oe.Kind != tc.kind {
						t.Fatalf("got %v, want kind %v", err, tc.kind)
					}
					for _, w := range tc.want {
						if !errors.Is(err, w) {
							t.Errorf("%v is not %v", err, w)
						}
					}
					for _, w := range tc.notWant {
						if errors.Is(err, w) {
							t.Errorf("%v must not be %v", err, w)
						}
					}
					if odoo.IsRetryable(err) != tc.retryable {
						t.Errorf("retryable = %v", !tc.retryable)
					}
				})
			}
			// Fault 3: the key stops working after connecting.
			bad := newClient(t, srv, p.protocol, func(o *odoo.Options) { o.MaxAttempts = 1 })
			if err := bad.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			srv.Inject(odootest.Injection{Model: "res.partner", Method: "search_count", Kind: odootest.AccessErr, Times: 1})
			if _, err := bad.SearchCount(ctx, "res.partner", nil, nil); !errors.Is(err, odoo.ErrAccess) {
				t.Errorf("injected access error: %v", err)
			}
			srv.Inject(odootest.Injection{Model: "res.partner", Method: "search_count", Kind: odootest.Serialization, Times: 1})
			_, err := bad.SearchCount(ctx, "res.partner", nil, nil)
			if !errors.Is(err, odoo.ErrSerialization) || !odoo.IsRetryable(err) {
				t.Errorf("serialization: %v", err)
			}
		})
	}
}

// TestAccessDeniedFault3: a revoked or expired key turns calls into
// Fault 3 (401 on JSON-2), never retried.
func TestAccessDeniedFault3(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			srv := odootest.New(t, odootest.Options{Version: p.version})
			c := newClient(t, srv, p.protocol)
			ctx := context.Background()
			if err := c.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			srv.RotateAPIKey("a-new-key")
			srv.ResetStats()
			_, err := c.SearchCount(ctx, "res.partner", nil, nil)
			var oe *odoo.Error
			if !errors.As(err, &oe) || !errors.Is(err, odoo.ErrAccessDenied) || odoo.IsRetryable(err) {
				t.Fatalf("revoked key: %v", err)
			}
			if p.protocol == odoo.ProtocolXMLRPC && (oe.Code != 3 || oe.Message != "Access Denied") {
				t.Errorf("want Fault 3 'Access Denied', got %+v", oe)
			}
			if p.protocol == odoo.ProtocolJSON2 && oe.Status != http.StatusUnauthorized {
				t.Errorf("want 401, got %+v", oe)
			}
			if n := srv.Stats().Requests; n != 1 {
				t.Errorf("access denied must not be retried: %d requests", n)
			}
		})
	}
}

// TestSerializationRetried: a serialization failure injected twice, then
// cleared, succeeds on the third attempt — for a write, too (Odoo rolled it
// back).
func TestSerializationRetried(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			srv := odootest.New(t, odootest.Options{Version: p.version})
			var slept []time.Duration
			c := newClient(t, srv, p.protocol, func(o *odoo.Options) {
				o.Sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
				o.Jitter = func() float64 { return 1 }
				o.BackoffBase, o.BackoffMax = 100*time.Millisecond, time.Second
			})
			ctx := context.Background()
			if err := c.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			srv.ResetStats()
			srv.Inject(odootest.Injection{Model: "res.partner", Method: "write", Kind: odootest.Serialization, Times: 2})
			id := srv.Demo().CustomerID
			if err := c.Write(ctx, "res.partner", []int64{id}, map[string]any{"phone": "+1 555 0100"}, odoo.WriteOptions{}); err != nil {
				t.Fatalf("write after two serialization failures: %v", err)
			}
			if len(slept) != 2 || slept[0] != 100*time.Millisecond || slept[1] != 200*time.Millisecond {
				t.Errorf("backoff %v, want [100ms 200ms]", slept)
			}
			rows, _ := srv.Records("res.partner", []any{[]any{"id", "=", id}}, "phone")
			if rows[0]["phone"] != "+1 555 0100" {
				t.Errorf("write not applied: %v", rows)
			}
			if got := srv.Stats().Calls["res.partner.write"]; got != 1 {
				t.Errorf("the emulator ran write %d times, want 1 (the two failures were injected before it ran)", got)
			}
		})
	}
}

// TestAmbiguousWriteNotRetried: after a reset a create may have happened;
// the client must not repeat it blindly (the executors check a marker).
func TestAmbiguousWriteNotRetried(t *testing.T) {
	srv := odootest.New(t)
	c := newClient(t, srv, odoo.ProtocolXMLRPC)
	ctx := context.Background()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Inject(odootest.Injection{Model: "res.partner", Method: "create", Kind: odootest.CommitThenReset, Times: 1})
	_, err := c.Create(ctx, "res.partner", map[string]any{"name": "Once"}, nil)
	if !errors.Is(err, odoo.ErrUnavailable) {
		t.Fatalf("reset after commit: %v", err)
	}
	rows, _ := srv.Records("res.partner", []any{[]any{"name", "=", "Once"}}, "name")
	if len(rows) != 1 {
		t.Errorf("create ran %d times, want exactly 1", len(rows))
	}
	// A read after a reset is retried.
	srv.Inject(odootest.Injection{Model: "res.partner", Method: "search_count", Kind: odootest.Reset, Times: 1})
	if _, err := c.SearchCount(ctx, "res.partner", nil, nil); err != nil {
		t.Errorf("read after a reset must be retried: %v", err)
	}
}

func TestTimeoutAndBreaker(t *testing.T) {
	srv := odootest.New(t)
	c := newClient(t, srv, odoo.ProtocolXMLRPC, func(o *odoo.Options) {
		o.Timeout = 50 * time.Millisecond
		o.MaxAttempts = 1
		o.BreakerFailures = 3
		o.BreakerOpenFor = time.Hour
	})
	ctx := context.Background()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Inject(odootest.Injection{Kind: odootest.Latency, Latency: 2 * time.Second, Times: 1})
	_, err := c.SearchCount(ctx, "res.partner", nil, nil)
	if !errors.Is(err, odoo.ErrUnavailable) || !strings.Contains(err.Error(), "no answer within") {
		t.Fatalf("timeout: %v", err)
	}
	srv.SetDown(true)
	for range 2 {
		_, err = c.SearchCount(ctx, "res.partner", nil, nil)
		var te *odoo.TransportError
		if !errors.As(err, &te) || te.Status != http.StatusBadGateway {
			t.Fatalf("down: %v", err)
		}
	}
	if c.BreakerState() != "open" {
		t.Fatalf("breaker %s after 3 failures", c.BreakerState())
	}
	srv.ResetStats()
	_, err = c.SearchCount(ctx, "res.partner", nil, nil)
	if !errors.Is(err, odoo.ErrCircuitOpen) || !errors.Is(err, odoo.ErrUnavailable) || !odoo.IsRetryable(err) {
		t.Fatalf("open circuit: %v", err)
	}
	if srv.Stats().Requests != 0 {
		t.Errorf("an open circuit must not reach Odoo")
	}
	if h := c.Health(); h.Circuit != "open" || h.LastError == "" || h.Protocol != "xmlrpc" {
		t.Errorf("health %+v", h)
	}
	// Faults do not open the circuit: Odoo is answering.
	c2 := newClient(t, srv, odoo.ProtocolXMLRPC, func(o *odoo.Options) { o.BreakerFailures = 2; o.MaxAttempts = 1 })
	srv.SetDown(false)
	for range 4 {
		_, _ = c2.Execute(ctx, odoo.Call{Model: "nope.model", Method: "search_count", Args: []odoo.Arg{{"domain", []any{}}}})
	}
	if c2.BreakerState() != "closed" {
		t.Errorf("faults opened the circuit")
	}
}

func TestRateLimitShared(t *testing.T) {
	srv := odootest.New(t)
	c := newClient(t, srv, odoo.ProtocolXMLRPC, func(o *odoo.Options) { o.RateLimit = 1 })
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.Connect(ctx); err != nil { // uses the single token
		t.Fatal(err)
	}
	cancel()
	_, err := c.SearchCount(ctx, "res.partner", nil, nil)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "rate limit") {
		t.Fatalf("a call without tokens waits on the limiter: %v", err)
	}
}

func TestDecodeXMLRPCResponseGuards(t *testing.T) {
	deep := strings.Repeat("<value><array><data>", 10000) + strings.Repeat("</data></array></value>", 10000)
	for name, body := range map[string]string{
		"depth bomb":    "<methodResponse><params><param>" + deep + "</param></params></methodResponse>",
		"html":          "<html><head><title>502 Bad Gateway</title></head></html>",
		"empty":         "  ",
		"truncated":     "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><array><data>\n<value><int>1",
		"bad int":       "<methodResponse><params><param><value><int>x</int></value></param></params></methodResponse>",
		"fault no code": "<methodResponse><fault><value><struct></struct></value></fault></methodResponse>",
	} {
		if _, err := odoo.DecodeXMLRPCResponse([]byte(body)); !errors.Is(err, odoo.ErrProtocol) {
			t.Errorf("%s: %v, want ErrProtocol", name, err)
		}
	}
	v, err := odoo.DecodeXMLRPCResponse([]byte("<methodResponse><params><param><value><string></string></value></param></params></methodResponse>"))
	if err != nil || v != nil {
		t.Errorf("kolo decodes <string></string> to nil: %v %v", v, err)
	}
}
