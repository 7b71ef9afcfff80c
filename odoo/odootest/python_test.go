package odootest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// step is one call of the Python probe's plan.
type step struct {
	Name    string `json:"name"`
	Service string `json:"service"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

// outcome is what CPython's xmlrpc.client saw.
type outcome struct {
	Name          string `json:"name"`
	Result        any    `json:"result"`
	Type          string `json:"type"`
	FaultCode     *int   `json:"fault_code"`
	FaultString   string `json:"fault_string"`
	ProtocolError int    `json:"protocol_error"`
	Status        int    `json:"status"`
	ContentType   string `json:"content_type"`
	Raw           string `json:"raw"`
}

// runProbe runs testdata/xmlrpc_probe.py (the standard library client, not
// ours) against url. In CI python3 is required; elsewhere its absence skips.
func runProbe(t *testing.T, url string, plan []step) map[string]outcome {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("YARDMASTER_TEST_REQUIRE_ALL") == "1" {
			t.Fatal("python3 is required (YARDMASTER_TEST_REQUIRE_ALL=1)")
		}
		t.Skip("python3 not installed")
	}
	in, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, filepath.Join("testdata", "xmlrpc_probe.py"), url)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python probe: %v\n%s", err, stderr.String())
	}
	res := map[string]outcome{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var o outcome
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("probe output %q: %v", sc.Text(), err)
		}
		res[o.Name] = o
	}
	if len(res) != len(plan) {
		t.Fatalf("probe answered %d of %d steps\n%s", len(res), len(plan), stderr.String())
	}
	return res
}

func golden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "wire", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantFault(t *testing.T, o outcome, code int, msg string) {
	t.Helper()
	if o.FaultCode == nil {
		t.Fatalf("%s: want Fault %d, got result %v (%s)", o.Name, code, o.Result, o.Raw)
	}
	if *o.FaultCode != code {
		t.Errorf("%s: fault code %d, want %d (%q)", o.Name, *o.FaultCode, code, o.FaultString)
	}
	if code == 1 {
		if !strings.HasPrefix(o.FaultString, "Traceback (most recent call last):\n") {
			t.Errorf("%s: Fault 1 is not a traceback: %q", o.Name, o.FaultString)
		}
		lines := strings.Split(strings.TrimRight(o.FaultString, "\n"), "\n")
		if last := lines[len(lines)-1]; last != msg {
			t.Errorf("%s: last traceback line %q, want %q", o.Name, last, msg)
		}
	} else if o.FaultString != msg {
		t.Errorf("%s: faultString %q, want %q", o.Name, o.FaultString, msg)
	}
	if o.Status != 200 || o.ContentType != "text/xml; charset=utf-8" {
		t.Errorf("%s: faults are HTTP 200 text/xml, got %d %q", o.Name, o.Status, o.ContentType)
	}
}

// TestPythonXMLRPCClient is acceptance 1: CPython's xmlrpc.client talks to
// the emulator and receives what odoo-api.md documents, down to the bytes
// of the §2.6 fixtures.
func TestPythonXMLRPCClient(t *testing.T) {
	srv := New(t, Options{Version: 17})
	demo := srv.Demo()
	db, login, key := srv.DB(), srv.Login(), srv.APIKey()
	// An outgoing picking with nothing set, to see False on the wire.
	bare, err := srv.Create("stock.picking", map[string]any{"picking_type_code": "outgoing"})
	if err != nil {
		t.Fatal(err)
	}
	srv.Deny("stock.picking", "write")
	srv.Inject(Injection{Model: "res.partner", Method: "write", Kind: Serialization, Times: 1})
	pickFields := []any{"name", "state", "scheduled_date", "date_deadline", "carrier_tracking_ref", "partner_id", "sale_id"}
	kw := func(model, method string, args []any, kwargs map[string]any) []any {
		p := []any{db, 2, key, model, method, args}
		if kwargs != nil {
			p = append(p, kwargs)
		}
		return p
	}
	plan := []step{
		{"version", "common", "version", []any{}},
		{"auth_good", "common", "authenticate", []any{db, login, key, map[string]any{}}},
		{"auth_password", "common", "authenticate", []any{db, login, srv.Password(), ""}},
		{"auth_bad", "common", "authenticate", []any{db, login, "not-the-key", map[string]any{}}},
		{"auth_missing_env", "common", "authenticate", []any{db, login, key}},
		{"search_read", "object", "execute_kw", kw("stock.picking", "search_read", []any{[]any{[]any{"id", "=", demo.PickingID}}}, map[string]any{"fields": pickFields})},
		{"search_read_bare", "object", "execute_kw", kw("stock.picking", "search_read", []any{[]any{[]any{"id", "=", bare}}}, map[string]any{"fields": pickFields})},
		{"search_count", "object", "execute_kw", kw("sale.order", "search_count", []any{[]any{[]any{"state", "=", "sale"}}}, nil)},
		{"create", "object", "execute_kw", kw("res.partner", "create", []any{map[string]any{"name": "Python Probe", "email": "probe@example.com"}}, nil)},
		{"write_serialization", "object", "execute_kw", kw("res.partner", "write", []any{[]any{demo.CustomerID}, map[string]any{"phone": "+32 2 555 01 01"}}, nil)},
		{"write", "object", "execute_kw", kw("res.partner", "write", []any{[]any{demo.CustomerID}, map[string]any{"phone": "+32 2 555 01 01"}}, nil)},
		{"message_post", "object", "execute_kw", kw("sale.order", "message_post", []any{[]any{demo.OrderID}}, map[string]any{"body": "Probe <b>note</b>", "message_type": "comment", "subtype_xmlid": "mail.mt_note"})},
		{"fault1_method", "object", "execute_kw", kw("stock.picking", "foo", []any{}, nil)},
		{"fault2_model", "object", "execute_kw", kw("stock.pickingx", "search_read", []any{[]any{}}, nil)},
		{"fault3_password", "object", "execute_kw", []any{db, 2, "wrong", "stock.picking", "search_count", []any{[]any{}}}},
		{"fault4_acl", "object", "execute_kw", kw("stock.picking", "write", []any{[]any{demo.PickingID}, map[string]any{"priority": "1"}}, nil)},
		{"fault4_private", "object", "execute_kw", kw("stock.picking", "_action_cancel", []any{[]any{demo.PickingID}}, nil)},
		{"fault1_none", "object", "execute_kw", kw("sale.order", "action_lock", []any{[]any{demo.OrderID}}, nil)},
		{"fault1_field", "object", "execute_kw", kw("stock.picking", "search_read", []any{[]any{[]any{"foo", "=", 1}}}, nil)},
	}
	got := runProbe(t, srv.URL(), plan)

	if o := got["version"]; o.Raw != golden(t, "version_17.xml") {
		t.Errorf("version bytes differ from odoo-api.md §2.6:\n%s", cmp.Diff(golden(t, "version_17.xml"), o.Raw))
	}
	wantVersion := map[string]any{"server_version": "17.0", "server_version_info": []any{17.0, 0.0, 0.0, "final", 0.0, ""}, "server_serie": "17.0", "protocol_version": 1.0}
	if d := cmp.Diff(wantVersion, got["version"].Result); d != "" {
		t.Errorf("version as Python sees it (-want +got):\n%s", d)
	}
	for _, n := range []string{"auth_good", "auth_password"} {
		if o := got[n]; o.Type != "int" || o.Result != 2.0 {
			t.Errorf("%s: want int uid 2, got %s %v", n, o.Type, o.Result)
		}
	}
	if o := got["auth_bad"]; o.Type != "bool" || o.Result != false || o.Raw != golden(t, "authenticate_false_17.xml") {
		t.Errorf("bad credentials: want False with the §2.6 bytes, got %s %v\n%s", o.Type, o.Result, o.Raw)
	}
	wantFault(t, got["auth_missing_env"], 1, "TypeError: exp_authenticate() missing 1 required positional argument: 'user_agent_env'")

	rows, _ := got["search_read"].Result.([]any)
	if len(rows) != 1 {
		t.Fatalf("search_read: want 1 row, got %v", got["search_read"].Result)
	}
	row := rows[0].(map[string]any)
	if row["id"] != float64(demo.PickingID) || row["name"] != demo.PickingName || row["state"] != "assigned" || row["carrier_tracking_ref"] != demo.TrackingRef {
		t.Errorf("search_read row: %v", row)
	}
	if m2o, ok := row["sale_id"].([]any); !ok || len(m2o) != 2 || m2o[0] != float64(demo.OrderID) || m2o[1] != demo.OrderName {
		t.Errorf("many2one must be [id, name], got %#v", row["sale_id"])
	}
	for _, f := range []string{"scheduled_date", "date_deadline"} {
		if s, ok := row[f].(string); !ok || len(s) != 19 || s[10] != ' ' {
			t.Errorf("%s must be a 'YYYY-MM-DD HH:MM:SS' string, got %#v", f, row[f])
		}
	}
	if !strings.HasPrefix(got["search_read"].Raw, "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><array><data>\n<value><struct>\n<member>\n<name>id</name>\n") {
		t.Errorf("search_read framing: %q", got["search_read"].Raw[:120])
	}
	bareRow := got["search_read_bare"].Result.([]any)[0].(map[string]any)
	for _, f := range []string{"date_deadline", "carrier_tracking_ref", "partner_id", "sale_id"} {
		if bareRow[f] != false {
			t.Errorf("empty %s must be False, got %#v", f, bareRow[f])
		}
	}
	if o := got["search_count"]; o.Type != "int" {
		t.Errorf("search_count: %s %v", o.Type, o.Result)
	}
	if o := got["create"]; o.Type != "int" {
		t.Errorf("create(dict) returns an int id, got %s %v", o.Type, o.Result)
	}
	wantFault(t, got["write_serialization"], 1, "psycopg2.errors.SerializationFailure: could not serialize access due to concurrent update")
	if o := got["write"]; o.Type != "bool" || o.Result != true || !strings.Contains(o.Raw, "<value><boolean>1</boolean></value>\n") {
		t.Errorf("write: want True, got %s %v", o.Type, o.Result)
	}
	if o := got["message_post"]; o.Type != "int" {
		t.Errorf("message_post on 17 returns an int, got %s %v", o.Type, o.Result)
	} else {
		msgs, err := srv.Records("mail.message", []any{[]any{"id", "=", int64(o.Result.(float64))}}, "body", "subtype_id", "message_type", "model", "res_id")
		if err != nil || len(msgs) != 1 {
			t.Fatalf("posted message: %v %v", msgs, err)
		}
		m := msgs[0]
		if m["body"] != "Probe &lt;b&gt;note&lt;/b&gt;" || m["message_type"] != "comment" || m["model"] != "sale.order" || m["res_id"] != demo.OrderID {
			t.Errorf("stored message: %v", m)
		}
		if st, _ := m["subtype_id"].([]any); len(st) != 2 || st[1] != "Note" {
			t.Errorf("subtype: %v", m["subtype_id"])
		}
	}
	wantFault(t, got["fault1_method"], 1, "AttributeError: The method 'foo' does not exist on the model 'stock.picking'")
	wantFault(t, got["fault2_model"], 2, "Object stock.pickingx doesn't exist")
	if o := got["fault2_model"]; o.Raw != golden(t, "fault2_17.xml") {
		t.Errorf("Fault 2 bytes differ:\n%s", cmp.Diff(golden(t, "fault2_17.xml"), o.Raw))
	}
	wantFault(t, got["fault3_password"], 3, "Access Denied")
	wantFault(t, got["fault4_acl"], 4, "You are not allowed to modify 'Transfer' (stock.picking) records.\n\nThis operation is allowed for the following groups:\n\t- Inventory/User\n\nContact your administrator to request access if necessary.")
	if o := got["fault4_acl"]; o.Raw != golden(t, "fault4_17.xml") {
		t.Errorf("Fault 4 bytes differ:\n%s", cmp.Diff(golden(t, "fault4_17.xml"), o.Raw))
	}
	wantFault(t, got["fault4_private"], 4, "Private methods (such as _action_cancel) cannot be called remotely.")
	wantFault(t, got["fault1_none"], 1, "TypeError: cannot marshal None unless allow_none is enabled")
	if orders, _ := srv.Records("sale.order", []any{[]any{"id", "=", demo.OrderID}}, "locked"); len(orders) != 1 || orders[0]["locked"] != true {
		t.Errorf("action_lock must be committed before the None fault: %v", orders)
	}
	wantFault(t, got["fault1_field"], 1, "ValueError: Invalid field stock.picking.foo in leaf ('foo', '=', 1)")
}

// TestPythonSearchReadFixture18 reproduces the 18/19 search_read fixture of
// odoo-api.md §2.6 byte for byte (double-quoted header, blank line before
// </methodResponse>), with the exact record ids it shows.
func TestPythonSearchReadFixture18(t *testing.T) {
	srv := New(t, Options{Version: 18, Seed: &Seed{}})
	mk := func(model string, vals map[string]any) int64 {
		t.Helper()
		id, err := srv.Create(model, vals)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	for mk("res.partner", map[string]any{"name": "Filler"}) < 14 {
	}
	azure := mk("res.partner", map[string]any{"name": "Azure Interior", "is_company": true})
	for mk("sale.order", map[string]any{"partner_id": azure}) < 6 {
	}
	so := mk("sale.order", map[string]any{"partner_id": azure, "state": "sale"})
	for mk("stock.picking", map[string]any{}) < 41 {
	}
	pick := mk("stock.picking", map[string]any{"state": "assigned", "scheduled_date": "2024-05-02 08:00:00", "partner_id": azure, "sale_id": so})
	if azure != 15 || so != 7 || pick != 42 {
		t.Fatalf("fixture ids: partner %d order %d picking %d", azure, so, pick)
	}
	plan := []step{{"search_read", "object", "execute_kw", []any{srv.DB(), 2, srv.APIKey(), "stock.picking", "search_read",
		[]any{[]any{[]any{"id", "=", 42}}}, map[string]any{"fields": []any{"name", "state", "scheduled_date", "date_deadline", "carrier_tracking_ref", "partner_id", "sale_id"}}}}}
	got := runProbe(t, srv.URL(), plan)["search_read"]
	if got.Raw != golden(t, "search_read_18.xml") {
		t.Errorf("search_read bytes differ from odoo-api.md §2.6 (-want +got):\n%s", cmp.Diff(golden(t, "search_read_18.xml"), got.Raw))
	}
	want := []any{map[string]any{"id": 42.0, "name": "WH/OUT/00042", "state": "assigned", "scheduled_date": "2024-05-02 08:00:00",
		"date_deadline": false, "carrier_tracking_ref": false, "partner_id": []any{15.0, "Azure Interior"}, "sale_id": []any{7.0, "S00007"}}}
	if d := cmp.Diff(want, got.Result); d != "" {
		t.Errorf("as Python sees it (-want +got):\n%s", d)
	}
}
