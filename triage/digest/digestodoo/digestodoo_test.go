package digestodoo_test

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/secretbox"
	"github.com/yardmaster/yardmaster/internal/testenv"
	"github.com/yardmaster/yardmaster/odoo"
	"github.com/yardmaster/yardmaster/odoo/odootest"
	"github.com/yardmaster/yardmaster/triage/digest"
	"github.com/yardmaster/yardmaster/triage/digest/digestodoo"
)

func newClient(t *testing.T, srv *odootest.Server, protocol string) *odoo.Client {
	t.Helper()
	c, err := odoo.New(odoo.Options{URL: srv.URL(), DB: srv.DB(), Login: srv.Login(), APIKey: srv.APIKey(), Protocol: protocol,
		RateLimit: 1000, Timeout: 5 * time.Second, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func syncMirror(t *testing.T, d *db.DB, c *odoo.Client) {
	t.Helper()
	m, err := odoo.NewMirror(odoo.MirrorOptions{Client: c, DB: d, BatchSize: 200})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Sync(context.Background(), odoo.SyncOptions{}); err != nil {
		t.Fatalf("mirror sync: %v", err)
	}
}

func intOf(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int:
		return int64(x)
	case float64:
		return int64(x)
	case []any:
		if len(x) > 0 {
			return intOf(x[0])
		}
	}
	return 0
}

// expectedCustomers computes, from the emulator's own records, the
// commercial partners of the orders matching domain.
func expectedCustomers(t *testing.T, srv *odootest.Server, domain []any, salesperson int64) []string {
	t.Helper()
	orders, err := srv.Records("sale.order", domain, "partner_id", "state")
	if err != nil {
		t.Fatal(err)
	}
	partners := map[int64]bool{}
	for _, o := range orders {
		if o["state"] != "cancel" {
			partners[intOf(o["partner_id"])] = true
		}
	}
	if salesperson != 0 {
		own, _ := srv.Records("res.partner", []any{[]any{"user_id", "=", salesperson}}, "id")
		for _, p := range own {
			partners[intOf(p["id"])] = true
		}
	}
	set := map[string]bool{}
	for id := range partners {
		rs, _ := srv.Records("res.partner", []any{[]any{"id", "=", id}}, "commercial_partner_id")
		if len(rs) == 1 {
			set[strconv.FormatInt(intOf(rs[0]["commercial_partner_id"]), 10)] = true
		}
	}
	var out []string
	for id := range set {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func ids(cs []digest.Customer) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	sort.Strings(out)
	return out
}

// TestDirectoryFromMirror syncs the mirror from the emulator and checks
// the customers of a salesperson (by e-mail) and of a sales team (by name)
// against the emulator's own orders.
func TestDirectoryFromMirror(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		srv := odootest.New(t)
		syncMirror(t, d, newClient(t, srv, odoo.ProtocolXMLRPC))
		demo := srv.Demo()
		users, _ := srv.Records("res.users", []any{[]any{"id", "=", demo.SalespersonID}}, "login", "email")
		email := users[0]["email"].(string)
		if email == "" {
			email = users[0]["login"].(string)
		}
		dir := digestodoo.NewDirectory(d.Read)
		got, err := dir.CustomersOf(ctx, digest.Account{Emails: []string{strings.ToUpper(email), "nobody@example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		want := expectedCustomers(t, srv, []any{[]any{"user_id", "=", demo.SalespersonID}}, demo.SalespersonID)
		if len(want) == 0 || !slices.Equal(ids(got), want) {
			t.Fatalf("customers of %s = %v, want %v", email, ids(got), want)
		}
		if !slices.Contains(ids(got), strconv.FormatInt(demo.CustomerID, 10)) {
			t.Errorf("the demo order's customer %d is missing", demo.CustomerID)
		}
		for _, c := range got {
			if c.Name == "" || c.SalespersonOdooID == 0 {
				t.Errorf("customer %+v lacks a name or salesperson", c)
			}
		}

		orders, _ := srv.Records("sale.order", []any{[]any{"id", "=", demo.OrderID}}, "team_id")
		teamID := intOf(orders[0]["team_id"])
		teams, _ := srv.Records("crm.team", []any{[]any{"id", "=", teamID}}, "name")
		team := teams[0]["name"].(string)
		got, err = dir.CustomersOf(ctx, digest.Account{Team: strings.ToLower(team)})
		if err != nil {
			t.Fatal(err)
		}
		if want := expectedCustomers(t, srv, []any{[]any{"team_id", "=", teamID}}, 0); !slices.Equal(ids(got), want) {
			t.Fatalf("customers of team %q = %v, want %v", team, ids(got), want)
		}
		none, err := dir.CustomersOf(ctx, digest.Account{Emails: []string{"nobody@example.com"}, Team: "No Such Team"})
		if err != nil || len(none) != 0 {
			t.Fatalf("unknown account: %v, %v", none, err)
		}
		res, err := dir.Customers(ctx, []string{strconv.FormatInt(demo.CustomerID, 10), "999999", "bogus"})
		if err != nil || len(res) != 1 || res[0].ID != strconv.FormatInt(demo.CustomerID, 10) {
			t.Fatalf("Customers = %+v, %v", res, err)
		}
	})
}

type oneCase struct{ c digest.Case }

func (o oneCase) CustomerCases(context.Context, digest.CaseQuery) ([]digest.Case, error) {
	return []digest.Case{o.c}, nil
}

type clk struct{ t time.Time }

func (c *clk) now() time.Time { return c.t }

func box(t *testing.T) *secretbox.Box {
	t.Helper()
	k, _ := secretbox.ParseKey(secretbox.NewKey())
	b, err := secretbox.New(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOdooChannelOnePerDigest is acceptance 4: the Odoo channel creates
// exactly one note (or one activity for the salesperson) per digest in the
// emulator — also when Odoo commits and then answers with a fault, and
// when the job runs again — over XML-RPC and JSON-2.
func TestOdooChannelOnePerDigest(t *testing.T) {
	for _, tc := range []struct {
		name     string
		version  int
		protocol string
		mode     string
	}{
		{"note over xml-rpc", 17, odoo.ProtocolXMLRPC, digest.OdooNote},
		{"activity over xml-rpc", 17, odoo.ProtocolXMLRPC, digest.OdooActivity},
		{"note over json-2", 19, odoo.ProtocolJSON2, digest.OdooNote},
		{"activity over json-2", 19, odoo.ProtocolJSON2, digest.OdooActivity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			d := testenv.DB(t)
			srv := odootest.New(t, odootest.Options{Version: tc.version})
			c := newClient(t, srv, tc.protocol)
			syncMirror(t, d, c)
			demo := srv.Demo()
			cust := strconv.FormatInt(demo.CustomerID, 10)
			loc, _ := time.LoadLocation("Europe/Berlin")
			ck := &clk{t: time.Date(2026, 3, 2, 7, 0, 0, 0, loc)}
			svc := digest.New(digest.Options{DB: d, Box: box(t), Now: ck.now, Links: digest.Links{Base: "https://ym.example"},
				Directory: digestodoo.NewDirectory(d.Read), Odoo: digestodoo.New(c),
				Cases: oneCase{digest.Case{ID: "C1", Ref: "YM-1", Title: "Parcel lost", CustomerID: cust, Severity: digest.SeverityHigh,
					State: "open", SLA: "breached", OpenedAt: ck.t.Add(10 * time.Minute)}}})
			u, err := auth.CreateUser(ctx, d, ck.t, auth.UserSpec{Username: "ada", Email: "ada@example.com", Role: auth.RoleAccount, Password: "a long enough password"})
			if err != nil {
				t.Fatal(err)
			}
			sub, err := svc.CreateSubscription(ctx, u.Principal(), digest.SubscriptionInput{Name: "Odoo", TimeZone: "Europe/Berlin",
				Schedule: "0 8 * * *", Customers: digest.CustomerSelection{Include: []digest.Customer{{ID: cust}}},
				Channels: digest.Channels{Odoo: &digest.OdooChannel{Mode: tc.mode}}})
			if err != nil {
				t.Fatal(err)
			}
			ck.t = ck.t.Add(time.Hour)
			if n, err := svc.Tick(ctx); err != nil || n != 1 {
				t.Fatalf("tick = %d, %v", n, err)
			}
			page, err := svc.ListRuns(ctx, u.Principal(), digest.RunFilter{SubscriptionID: sub.ID})
			if err != nil || len(page.Runs) != 1 {
				t.Fatalf("runs = %+v, %v", page, err)
			}
			run := page.Runs[0]
			marker := digest.OdooMarker(run.ID, cust)
			model, field := "mail.message", "body"
			if tc.mode == digest.OdooActivity {
				model, field = "mail.activity", "note"
			}
			// Odoo commits the write, then the answer is lost.
			method := "message_post"
			if tc.mode == digest.OdooActivity {
				method = "create"
			}
			srv.Inject(odootest.Injection{Model: map[bool]string{true: "mail.activity", false: "res.partner"}[tc.mode == digest.OdooActivity],
				Method: method, Kind: odootest.CommitThenFault, Times: 1})
			if err := svc.SendRun(ctx, run.ID, false); err == nil {
				t.Fatal("an ambiguous failure must be retried")
			}
			count := func() []map[string]any {
				fields := []string{"res_id"}
				if tc.mode == digest.OdooActivity {
					fields = append(fields, "user_id")
				}
				rs, err := srv.Records(model, []any{[]any{field, "ilike", marker}}, fields...)
				if err != nil {
					t.Fatal(err)
				}
				return rs
			}
			if n := len(count()); n != 1 {
				t.Fatalf("after the committed failure: %d %s records", n, model)
			}
			for range 2 {
				if err := svc.SendRun(ctx, run.ID, false); err != nil {
					t.Fatalf("retry: %v", err)
				}
			}
			recs := count()
			if len(recs) != 1 || intOf(recs[0]["res_id"]) != demo.CustomerID {
				t.Fatalf("%s records = %+v, want exactly one on partner %d", model, recs, demo.CustomerID)
			}
			if tc.mode == digest.OdooActivity && intOf(recs[0]["user_id"]) != demo.SalespersonID {
				t.Fatalf("activity for user %v, want the salesperson %d", recs[0]["user_id"], demo.SalespersonID)
			}
			detail, err := svc.GetRun(ctx, u.Principal(), run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if detail.Status != digest.RunSent || len(detail.Attempts) != 2 || detail.Attempts[1].Outcome != digest.OutcomeSent {
				t.Fatalf("history: %s, %+v", detail.Status, detail.Attempts)
			}
			if tc.mode == digest.OdooNote {
				msgs, _ := srv.Records("mail.message", []any{[]any{"body", "ilike", marker}}, "subtype_id", "is_internal")
				if len(msgs) != 1 || msgs[0]["is_internal"] != true {
					t.Errorf("note is not internal: %+v", msgs)
				}
				for _, e := range srv.Emails() {
					if e.Kind == "message" && e.Model == "res.partner" && e.ResID == demo.CustomerID {
						t.Errorf("followers were e-mailed: %+v", e)
					}
				}
			}
		})
	}
}
