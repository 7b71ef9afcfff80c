package odootest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// small builds an emulator (not served) with a few known records.
func small(t *testing.T, version int) *Server {
	t.Helper()
	s, err := build(Options{Version: version, Seed: &Seed{}, Now: func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []map[string]any{
		{"name": "Azure Interior", "is_company": true, "ref": "A1", "customer_rank": 5},
		{"name": "Deco Addict", "is_company": true, "ref": "D1", "customer_rank": 0},
		{"name": "Gemini Furniture", "is_company": true, "customer_rank": 12},
	} {
		if _, err := s.Create("res.partner", p); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range []map[string]any{
		{"partner_id": 4, "state": "assigned", "scheduled_date": "2024-05-02 08:00:00", "carrier_tracking_ref": "1Z999AA1,1Z999AA2"},
		{"partner_id": 5, "state": "done", "scheduled_date": "2024-05-01 09:00:00"},
		{"partner_id": 6, "state": "cancel", "scheduled_date": "2024-05-03 10:00:00", "carrier_tracking_ref": "794612345678"},
		{"state": "draft"},
	} {
		if _, err := s.Create("stock.picking", p); err != nil {
			t.Fatalf("picking %d: %v", i, err)
		}
	}
	return s
}

func ids(t *testing.T, s *Server, model string, domain []any) []int64 {
	t.Helper()
	rows, err := s.Records(model, domain, "id")
	if err != nil {
		t.Fatal(err)
	}
	out := []int64{}
	for _, r := range rows {
		out = append(out, r["id"].(int64))
	}
	return out
}

func TestDomains(t *testing.T) {
	s := small(t, 17)
	leaf := func(f, op string, v any) []any { return []any{f, op, v} }
	for _, tc := range []struct {
		name   string
		domain []any
		want   []int64
	}{
		{"empty", nil, []int64{1, 2, 3, 4}},
		{"=", []any{leaf("state", "=", "done")}, []int64{2}},
		{"!= includes unset", []any{leaf("carrier_tracking_ref", "!=", "794612345678")}, []int64{1, 2, 4}},
		{"= False", []any{leaf("carrier_tracking_ref", "=", false)}, []int64{2, 4}},
		{"!= False", []any{leaf("carrier_tracking_ref", "!=", false)}, []int64{1, 3}},
		{"in", []any{leaf("state", "in", []any{"done", "cancel"})}, []int64{2, 3}},
		{"not in", []any{leaf("state", "not in", []any{"done", "cancel"})}, []int64{1, 4}},
		{"ilike", []any{leaf("carrier_tracking_ref", "ilike", "1z999aa2")}, []int64{1}},
		{"like is case-sensitive", []any{leaf("carrier_tracking_ref", "like", "1z999")}, []int64{}},
		{"=ilike pattern", []any{leaf("carrier_tracking_ref", "=ilike", "7946%")}, []int64{3}},
		{"not ilike includes unset", []any{leaf("carrier_tracking_ref", "not ilike", "1Z")}, []int64{2, 3, 4}},
		{"<", []any{leaf("scheduled_date", "<", "2024-05-02 08:00:00")}, []int64{2}},
		{"<=", []any{leaf("scheduled_date", "<=", "2024-05-02 08:00:00")}, []int64{1, 2}},
		{">", []any{leaf("scheduled_date", ">", "2024-05-02")}, []int64{1, 3, 4}},
		{">=", []any{leaf("id", ">=", 3)}, []int64{3, 4}},
		{"implicit and", []any{leaf("state", "!=", "draft"), leaf("partner_id", "!=", false)}, []int64{1, 2, 3}},
		{"|", []any{"|", leaf("state", "=", "done"), leaf("state", "=", "draft")}, []int64{2, 4}},
		{"! and &", []any{"!", "&", leaf("state", "=", "assigned"), leaf("partner_id", "=", 4)}, []int64{2, 3, 4}},
		{"many2one by id", []any{leaf("partner_id", "=", 5)}, []int64{2}},
		{"many2one by name", []any{leaf("partner_id", "ilike", "gemini")}, []int64{3}},
		{"many2one in with False", []any{leaf("partner_id", "in", []any{4, false})}, []int64{1, 4}},
		{"dotted path", []any{leaf("partner_id.ref", "=", "D1")}, []int64{2}},
		{"dotted number", []any{leaf("partner_id.customer_rank", ">", 4)}, []int64{1, 3}},
		{"=? with False is true", []any{leaf("state", "=?", false)}, []int64{1, 2, 3, 4}},
		{"true leaf", []any{[]any{int64(1), "=", int64(1)}}, []int64{1, 2, 3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(t, s, "stock.picking", tc.domain); !cmp.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		domain []any
		msg    string
	}{
		{"unknown field", []any{leaf("nope", "=", 1)}, "Invalid field stock.picking.nope in leaf ('nope', '=', 1)"},
		{"bad operator", []any{leaf("state", "~", 1)}, "Invalid leaf"},
		{"dangling operator", []any{"|", leaf("state", "=", "done")}, "syntactically not correct"},
		{"non-stored", []any{leaf("display_name", "=", "x"), leaf("expected_date", "=", "x")}, ""},
		{"bad datetime", []any{leaf("scheduled_date", ">", "yesterday")}, "invalid input syntax for type timestamp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			model := "stock.picking"
			if tc.name == "non-stored" {
				model, tc.msg = "sale.order", "not stored"
			}
			_, err := s.Records(model, tc.domain, "id")
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %v, want %q", err, tc.msg)
			}
		})
	}
}

func TestSearchReadOrderingPagingAndFields(t *testing.T) {
	s := small(t, 17)
	e := s.adminEnv()
	kw := NewDict(4)
	kw.Set("fields", []any{"name", "partner_id", "scheduled_date"})
	kw.Set("order", "scheduled_date desc")
	kw.Set("offset", int64(1))
	kw.Set("limit", int64(2))
	res, err := s.call(e, "stock.picking", "search_read", []any{[]any{[]any{"scheduled_date", "!=", false}}}, kw, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows := res.([]any)
	if len(rows) != 2 {
		t.Fatalf("rows %v", rows)
	}
	first := rows[0].(*Dict)
	if d := cmp.Diff([]string{"id", "name", "partner_id", "scheduled_date"}, first.Keys()); d != "" {
		t.Errorf("id first, then fields in order:\n%s", d)
	}
	// desc order over 2024-05-03, 2024-05-02, 2024-05-01, and the draft's "now": skip 1 (now).
	if id, _ := first.Get("id"); id != int64(3) {
		t.Errorf("first row %v", first.Map())
	}
	if p, _ := first.Get("partner_id"); !cmp.Equal(p, []any{int64(6), "Gemini Furniture"}) {
		t.Errorf("many2one %v", p)
	}
	// Default order of res.partner is by name.
	got := ids(t, s, "res.partner", []any{[]any{"is_company", "=", true}})
	if len(got) != 4 {
		t.Fatalf("partners %v", got)
	}
	kw = NewDict(1)
	kw.Set("fields", []any{"name"})
	res, err = s.call(e, "res.partner", "search_read", []any{[]any{[]any{"customer_rank", ">", int64(0)}}}, kw, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range res.([]any) {
		n, _ := r.(*Dict).Get("name")
		names = append(names, n.(string))
	}
	if !cmp.Equal(names, []string{"Azure Interior", "Gemini Furniture"}) {
		t.Errorf("default order: %v", names)
	}
	if _, err := s.call(e, "stock.picking", "search_read", []any{[]any{}}, dictOf("order", "nope desc"), nil); err == nil || !strings.Contains(err.Error(), `Invalid "order"`) {
		t.Errorf("bad order: %v", err)
	}
	if _, err := s.call(e, "stock.picking", "read", []any{[]any{int64(1)}, []any{"nope"}}, nil, nil); err == nil || !strings.Contains(err.Error(), "Invalid field 'nope' on model 'stock.picking'") {
		t.Errorf("bad field: %v", err)
	}
	// read drops missing ids; write on them fails with the version's message.
	res, err = s.call(e, "stock.picking", "read", []any{[]any{int64(1), int64(999)}, []any{"name"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.([]any)) != 1 {
		t.Errorf("read kept a missing id: %v", res)
	}
	_, err = s.call(e, "stock.picking", "write", []any{[]any{int64(999)}, dictOf("name", "x")}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "One of the documents you are trying to access has been deleted") {
		t.Errorf("17 write on missing: %v", err)
	}
	s18 := small(t, 18)
	_, err = s18.call(s18.adminEnv(), "stock.picking", "write", []any{[]any{int64(999)}, dictOf("name", "x")}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "Record does not exist or has been deleted.\n(Record: stock.picking(999,), User: 2)") {
		t.Errorf("18 write on missing: %v", err)
	}
}

func dictOf(kv ...any) *Dict {
	d := NewDict(len(kv) / 2)
	for i := 0; i < len(kv); i += 2 {
		d.Set(kv[i].(string), kv[i+1])
	}
	return d
}

func TestWriteValidationAndTracking(t *testing.T) {
	s := small(t, 17)
	e := s.adminEnv()
	for _, tc := range []struct {
		name string
		vals *Dict
		msg  string
	}{
		{"unknown field", dictOf("nope", 1), "Invalid field 'nope' on model 'stock.picking'"},
		{"selection", dictOf("state", "lost"), "Wrong value for stock.picking.state: 'lost'"},
		{"iso datetime", dictOf("scheduled_date", "2024-05-02T08:00:00Z"), "does not match format"},
		{"milliseconds", dictOf("scheduled_date", "2024-05-02 08:00:00.123"), "unconverted data remains: .123"},
		{"many2one list", dictOf("partner_id", []any{int64(4)}), "DatatypeMismatch"},
		{"many2one missing", dictOf("partner_id", int64(999)), "another model requires"},
		{"dateTime on 17", dictOf("scheduled_date", DateTime{Raw: "20240502T08:00:00"}), "strptime() argument 1 must be str, not DateTime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.call(e, "stock.picking", "write", []any{[]any{int64(1)}, tc.vals}, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %v, want %q", err, tc.msg)
			}
		})
	}
	s18 := small(t, 18)
	if _, err := s18.call(s18.adminEnv(), "stock.picking", "write", []any{[]any{int64(1)}, dictOf("scheduled_date", DateTime{Raw: "20240502T08:00:00"})}, nil, nil); err != nil {
		t.Errorf("18 accepts dateTime.iso8601: %v", err)
	}
	before, _ := s.Records("stock.picking", []any{[]any{"id", "=", 1}}, "write_date")
	s.opts.Now = func() time.Time { return time.Date(2026, 11, 28, 0, 0, 0, 500000000, time.UTC) }
	if err := s.Write("stock.picking", []int64{1}, map[string]any{"priority": "1"}); err != nil {
		t.Fatal(err)
	}
	after, _ := s.Records("stock.picking", []any{[]any{"id", "=", 1}}, "write_date")
	if before[0]["write_date"] == after[0]["write_date"] || after[0]["write_date"] != "2026-11-28 00:00:00" {
		t.Errorf("write_date %v -> %v (seconds on the wire)", before[0]["write_date"], after[0]["write_date"])
	}
	// Stored with microseconds, as PostgreSQL's now(): > the truncated value matches.
	if got := ids(t, s, "stock.picking", []any{[]any{"write_date", ">", "2026-11-28 00:00:00"}}); !cmp.Equal(got, []int64{1}) {
		t.Errorf("microsecond write_date: %v", got)
	}
}

func TestVersionProfiles(t *testing.T) {
	for _, v := range []int{16, 17, 18, 19} {
		s := small(t, v)
		e := s.adminEnv()
		res, err := s.call(e, "stock.picking", "message_post", []any{[]any{int64(1)}}, dictOf("body", "<b>hi</b>"), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, isList := res.([]any)
		if isList != (v >= 19) {
			t.Errorf("v%d message_post returned %#v", v, res)
		}
		res, err = s.call(e, "stock.picking", "activity_schedule", []any{[]any{int64(1)}, "mail.mail_activity_data_warning"}, dictOf("summary", "x"), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, unmarshalable := res.(pyObject)
		if unmarshalable != (v <= 18) {
			t.Errorf("v%d activity_schedule returned %#v", v, res)
		}
		if _, merr := s.encodeResult(res); (merr != nil) != (v <= 18) {
			t.Errorf("v%d marshal of activity_schedule result: %v", v, merr)
		}
		if n := len(ids(t, s, "mail.activity", nil)); n != 1 {
			t.Errorf("v%d: the activity must exist even when marshalling fails: %d", v, n)
		}
		_, err = s.call(e, "stock.picking", "_private", []any{[]any{int64(1)}}, nil, nil)
		want := "Private methods (such as _private) cannot be called remotely."
		if v >= 18 {
			want = "Private methods (such as 'stock.picking._private') cannot be called remotely."
		}
		if err == nil || err.(*pyErr).Msg != want || faultCode(err.(*pyErr)) != 4 {
			t.Errorf("v%d private: %v", v, err)
		}
	}
}

func post(t *testing.T, url, ctype, auth string, body []byte) (int, string, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

func TestJSON2Statuses(t *testing.T) {
	srv := New(t, Options{Version: 19})
	bearer := "bearer " + srv.APIKey()
	for _, tc := range []struct {
		name, path, auth, body string
		status                 int
		errName                string
	}{
		{"ok", "/json/2/res.partner/search_count", bearer, `{"domain": []}`, 200, ""},
		{"bad key", "/json/2/res.partner/search_count", "bearer nope", `{"domain": []}`, 401, "werkzeug.exceptions.Unauthorized"},
		{"unknown model", "/json/2/res.nope/search_count", bearer, `{"domain": []}`, 404, "werkzeug.exceptions.NotFound"},
		{"missing argument", "/json/2/res.partner/search", bearer, `{}`, 422, "werkzeug.exceptions.UnprocessableEntity"},
		{"unexpected argument", "/json/2/res.partner/search_count", bearer, `{"domain": [], "nope": 1}`, 422, "werkzeug.exceptions.UnprocessableEntity"},
		{"user error", "/json/2/res.partner/write", bearer, `{"ids": [999999], "vals": {"name": "x"}}`, 404, "odoo.exceptions.MissingError"},
		{"server error", "/json/2/res.partner/search_count", bearer, `{"domain": [["nope", "=", 1]]}`, 500, "builtins.ValueError"},
		{"bad json", "/json/2/res.partner/search_count", bearer, `{`, 400, "werkzeug.exceptions.BadRequest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, ctype, body := post(t, srv.URL()+tc.path, "application/json", tc.auth, []byte(tc.body))
			if code != tc.status || ctype != "application/json; charset=utf-8" {
				t.Fatalf("status %d %s: %s", code, ctype, body)
			}
			if tc.errName == "" {
				return
			}
			var e struct {
				Name, Message, Debug string
				Arguments            []any
				Context              map[string]any
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Name != tc.errName || e.Message == "" || !strings.HasPrefix(e.Debug, "Traceback") || len(e.Arguments) == 0 {
				t.Errorf("error body %s", body)
			}
		})
	}
	code, _, body := post(t, srv.URL()+"/json/2/res.partner/search_read", "application/json", bearer, []byte(`{"domain": [["id", "=", 1]], "fields": ["name", "active"]}`))
	if code != 200 || string(body) != `[{"id": 1, "name": "YourCompany", "active": true}]` {
		t.Errorf("Python json.dumps format: %s", body)
	}
	// JSON-2 only exists from 19 on.
	old := New(t, Options{Version: 18})
	if code, _, _ := post(t, old.URL()+"/json/2/res.partner/search_count", "application/json", "bearer "+old.APIKey(), []byte(`{}`)); code != 404 {
		t.Errorf("JSON-2 on 18: %d", code)
	}
}

func TestLoginCooldown(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	srv := New(t, Options{Now: func() time.Time { return now }, CooldownAfter: 3, CooldownDuration: time.Minute})
	auth := func(pw string) string {
		body := []byte(`<?xml version="1.0"?><methodCall><methodName>authenticate</methodName><params><param><value><string>demo</string></value></param><param><value><string>admin</string></value></param><param><value><string>` + pw + `</string></value></param><param><value><struct></struct></value></param></params></methodCall>`)
		_, _, b := post(t, srv.URL()+"/xmlrpc/2/common", "text/xml", "", body)
		return string(b)
	}
	for range 3 {
		if !strings.Contains(auth("wrong"), "<boolean>0</boolean>") {
			t.Fatal("bad password must return False")
		}
	}
	if !strings.Contains(auth(srv.APIKey()), "<boolean>0</boolean>") {
		t.Error("during the cooldown even the right key gets False")
	}
	now = now.Add(61 * time.Second)
	if !strings.Contains(auth(srv.APIKey()), "<int>2</int>") {
		t.Error("after the cooldown the key works again")
	}
}
