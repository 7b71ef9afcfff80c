package triage_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
	"github.com/yardmaster/yardmaster/rules"
	"github.com/yardmaster/yardmaster/triage"
)

// Listing: the default queue sorted by priority, filters, text search and
// cursor pagination that visits every case once.
func TestListFiltersSearchAndCursor(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		u, me := e.user("mia", auth.RoleManager, "")
		_, err := triage.SeedCases(e.ctx, d, e.svc.Policy(), triage.SeedSpec{N: 600, Now: e.clk.Now(), Users: []string{u.ID, "01JOTHERUSER00000000000000"},
			Mutate: func(i int, c *triage.Case) {
				if i%10 == 0 {
					c.State = triage.StateResolved
					at := c.OpenedAt.Add(time.Hour)
					c.ClosedAt, c.CloseReason = &at, "fixed"
				}
				if i == 7 {
					c.TrackingNumber, c.CustomerName = "1ZSEARCH123456", "Quux Industries"
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		// Walk the whole queue page by page.
		var all []*triage.Case
		f := triage.ListFilter{Limit: 97}
		for {
			page, err := e.svc.List(e.ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page.Cases...)
			if page.NextCursor == "" {
				break
			}
			f.Cursor = page.NextCursor
		}
		if len(all) != 540 {
			t.Fatalf("queue walk saw %d cases, want 540 live ones", len(all))
		}
		seen := map[string]bool{}
		for i, c := range all {
			if seen[c.ID] {
				t.Fatalf("case %s listed twice", c.ID)
			}
			seen[c.ID] = true
			if i > 0 && (c.Priority > all[i-1].Priority || c.Priority == all[i-1].Priority && c.ID > all[i-1].ID) {
				t.Fatalf("not in priority order at %d", i)
			}
			if c.State.Closed() {
				t.Fatalf("closed case %s in the queue", c.ID)
			}
		}
		check := func(name string, f triage.ListFilter, ok func(*triage.Case) bool, min int) {
			t.Helper()
			f.Limit = 500
			page, err := e.svc.List(me, f)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if len(page.Cases) < min {
				t.Errorf("%s: %d cases, want at least %d", name, len(page.Cases), min)
			}
			for _, c := range page.Cases {
				if !ok(c) {
					t.Errorf("%s: case %s does not match", name, c.ID)
					return
				}
			}
		}
		check("severity", triage.ListFilter{Severities: []rules.Severity{rules.SeverityCritical, rules.SeverityHigh}},
			func(c *triage.Case) bool {
				return c.Severity == rules.SeverityCritical || c.Severity == rules.SeverityHigh
			}, 50)
		check("team", triage.ListFilter{Team: "warehouse"}, func(c *triage.Case) bool { return c.Team == "warehouse" }, 20)
		check("assigned to me", triage.ListFilter{Assignee: "me"}, func(c *triage.Case) bool { return c.AssigneeID == u.ID }, 20)
		check("unassigned", triage.ListFilter{Assignee: "none"}, func(c *triage.Case) bool { return c.AssigneeID == "" }, 100)
		check("carrier", triage.ListFilter{Carrier: "FedEx"}, func(c *triage.Case) bool { return c.Carrier == "fedex" }, 20)
		check("customer", triage.ListFilter{Customer: "17"}, func(c *triage.Case) bool { return c.CustomerID == "17" }, 0)
		check("resolved", triage.ListFilter{States: []triage.State{triage.StateResolved}}, func(c *triage.Case) bool { return c.State == triage.StateResolved }, 60)
		check("acknowledged", triage.ListFilter{States: []triage.State{triage.StateAcknowledged}}, func(c *triage.Case) bool { return c.State == triage.StateAcknowledged }, 20)
		check("sla", triage.ListFilter{SLAStates: []string{triage.SLABreached}}, func(c *triage.Case) bool { return c.SLAState == triage.SLABreached }, 1)
		for _, q := range []string{"1zsearch", "123456", "S000007", "out/000007", "quux", "industr"} {
			page, err := e.svc.List(e.ctx, triage.ListFilter{Q: q})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Cases) != 1 || page.Cases[0].TrackingNumber != "1ZSEARCH123456" {
				t.Errorf("q=%q found %d cases", q, len(page.Cases))
			}
		}
		// Sort by due date: soonest first.
		page, err := e.svc.List(e.ctx, triage.ListFilter{Sort: "due", Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(page.Cases); i++ {
			if page.Cases[i].DueAt.Before(*page.Cases[i-1].DueAt) {
				t.Fatalf("due order broken at %d", i)
			}
		}
		for _, bad := range []triage.ListFilter{{Sort: "random"}, {States: []triage.State{"lost"}}, {Q: "x"}, {Limit: 501},
			{Cursor: "garbage"}, {Sort: "newest", Cursor: page.NextCursor}} {
			if _, err := e.svc.List(e.ctx, bad); apperr.KindOf(err) != apperr.KindInvalid {
				t.Errorf("filter %+v: %v", bad, err)
			}
		}
	})
}

// Bulk: acknowledging 5,000 cases selected by a filter is one request,
// with one audit entry and one timeline line per case, and the chain
// still verifies.
func TestBulkAcknowledge5000(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 cases")
	}
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		_, mia := e.user("mia", auth.RoleManager, "")
		_, err := triage.SeedCases(e.ctx, d, e.svc.Policy(), triage.SeedSpec{N: 5200, Now: e.clk.Now(),
			Mutate: func(i int, c *triage.Case) {
				c.State, c.AcknowledgedAt, c.FirstAcknowledgedAt = triage.StateOpen, nil, nil
				c.Team = "bulk"
				if i >= 5000 {
					c.Team = "other"
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		before, _ := audit.List(e.ctx, d.Read, audit.Filter{}, 1)
		res, err := e.svc.Bulk(mia, triage.BulkInput{Op: triage.Op{Name: "acknowledge"}, Filter: &triage.ListFilter{Team: "bulk"}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Matched != 5000 || res.Changed != 5000 || len(res.Skipped) != 0 {
			t.Fatalf("bulk: matched %d changed %d skipped %d", res.Matched, res.Changed, len(res.Skipped))
		}
		n, err := d.Read.NewSelect().Table("audit_log").Where("action = ?", "case.acknowledged").Where("seq > ?", before[0].Seq).Count(e.ctx)
		if err != nil || n != 5000 {
			t.Fatalf("audit entries %d (%v), want 5000", n, err)
		}
		n, _ = d.Read.NewSelect().Table("triage_timeline").Where("summary = 'acknowledged'").Count(e.ctx)
		if n != 5000 {
			t.Errorf("timeline lines %d, want 5000", n)
		}
		page, _ := e.svc.List(e.ctx, triage.ListFilter{Team: "bulk", States: []triage.State{triage.StateOpen}})
		if len(page.Cases) != 0 {
			t.Errorf("%d bulk cases still open", len(page.Cases))
		}
		// Again: everything is skipped, nothing is written.
		res, err = e.svc.Bulk(mia, triage.BulkInput{Op: triage.Op{Name: "acknowledge"}, Filter: &triage.ListFilter{Team: "bulk"}})
		if err != nil || res.Changed != 0 || len(res.Skipped) != 5000 {
			t.Fatalf("second bulk: %+v %v", res.Changed, err)
		}
		e.verifyAudit()
		// Bulk by ids, and bad input changes nothing.
		if _, err := e.svc.Bulk(mia, triage.BulkInput{Op: triage.Op{Name: "snooze"}, IDs: []string{page.NextCursor}}); apperr.KindOf(err) != apperr.KindInvalid {
			t.Errorf("bulk snooze without until / bad id: %v", err)
		}
		if _, err := e.svc.Bulk(mia, triage.BulkInput{Op: triage.Op{Name: "explode"}, Filter: &triage.ListFilter{}}); apperr.KindOf(err) != apperr.KindInvalid {
			t.Errorf("unknown op: %v", err)
		}
	})
}

// Account users read only the cases of their customers (mapped, or of
// their sales team); viewers read everything.
func TestAccountUserScope(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		acct, acctCtx := e.user("alice", auth.RoleAccount, "team-3")
		_, viewer := e.user("vic", auth.RoleViewer, "")
		ids, err := triage.SeedCases(e.ctx, d, e.svc.Policy(), triage.SeedSpec{N: 200, Now: e.clk.Now(), Customers: 20})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.SetAccountCustomers(e.ctx, acct.ID, []string{"5", "6"}); err != nil {
			t.Fatal(err)
		}
		page, err := e.svc.List(acctCtx, triage.ListFilter{Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Cases) == 0 {
			t.Fatal("the account user sees nothing")
		}
		for _, c := range page.Cases {
			if c.CustomerID != "5" && c.CustomerID != "6" && c.SalesTeam != "team-3" {
				t.Fatalf("account user sees case of customer %s team %s", c.CustomerID, c.SalesTeam)
			}
		}
		vp, _ := e.svc.List(viewer, triage.ListFilter{Limit: 500})
		if len(vp.Cases) <= len(page.Cases) {
			t.Errorf("viewer sees %d, account user %d", len(vp.Cases), len(page.Cases))
		}
		var other string
		for _, id := range ids {
			c := e.get(id)
			if c.CustomerID != "5" && c.CustomerID != "6" && c.SalesTeam != "team-3" {
				other = id
				break
			}
		}
		if _, err := e.svc.GetDetail(acctCtx, other); apperr.KindOf(err) != apperr.KindNotFound {
			t.Errorf("account user read another customer's case: %v", err)
		}
		if _, err := e.svc.GetDetail(viewer, other); err != nil {
			t.Errorf("viewer: %v", err)
		}
		if _, err := e.svc.SetAccountCustomers(e.ctx, acct.ID, []string{""}); apperr.KindOf(err) != apperr.KindInvalid {
			t.Errorf("empty customer id: %v", err)
		}
		if _, err := e.svc.SetAccountCustomers(e.ctx, "01JNOUSER000000000000000000", []string{"1"}); apperr.KindOf(err) != apperr.KindNotFound {
			t.Errorf("unknown user: %v", err)
		}
	})
}

// Comments with mentions; assignment to me and to a team; dismiss needs a
// reason code.
func TestCommentsAssignDismiss(t *testing.T) {
	d := testenv.DB(t)
	e := newEnv(t, d, nil)
	mia, miaCtx := e.user("mia", auth.RoleManager, "")
	bob, _ := e.user("bob.k", auth.RoleManager, "")
	r := e.send("1ZCOM1", withReason("delayed"))
	cm, err := e.svc.AddComment(miaCtx, r.CaseID, triage.CommentInput{Body: "Called UPS, ref 4711. @bob.k please follow up; cc @nobody"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cm.Mentions) != 1 || cm.Mentions[0] != bob.ID || cm.AuthorID != mia.ID {
		t.Fatalf("comment = %+v", cm)
	}
	if _, err := e.svc.AddComment(miaCtx, r.CaseID, triage.CommentInput{Body: "   "}); apperr.KindOf(err) != apperr.KindInvalid {
		t.Errorf("empty comment: %v", err)
	}
	c, err := e.svc.Apply(miaCtx, r.CaseID, triage.Op{Name: "assign", AssigneeID: ptr("me"), Team: ptr("key-accounts")})
	if err != nil || c.AssigneeID != mia.ID || c.Team != "key-accounts" {
		t.Fatalf("assign to me: %+v %v", c, err)
	}
	if _, err := e.svc.Apply(miaCtx, r.CaseID, triage.Op{Name: "assign", AssigneeID: ptr("01JNOUSER000000000000000000")}); apperr.KindOf(err) != apperr.KindInvalid {
		t.Errorf("assign to unknown user: %v", err)
	}
	if _, err := e.svc.Apply(miaCtx, r.CaseID, triage.Op{Name: "dismiss"}); apperr.KindOf(err) != apperr.KindInvalid {
		t.Errorf("dismiss without reason: %v", err)
	}
	c, err = e.svc.Apply(miaCtx, r.CaseID, triage.Op{Name: "dismiss", Reason: "false_positive", Note: "scan glitch"})
	if err != nil || c.State != triage.StateDismissed {
		t.Fatalf("dismiss: %v", err)
	}
	// A later match of the same severity stays on the dismissed case.
	e.clk.Add(time.Hour)
	if r2 := e.send("1ZCOM1", withReason("delayed"), withAttr("n", 2)); r2.CaseID != c.ID || e.get(c.ID).State != triage.StateDismissed {
		t.Errorf("a same-severity match after dismissal: case %s state %s", r2.CaseID, e.get(c.ID).State)
	}
	// A worse one reopens it.
	if r3 := e.send("1ZCOM1", withReason("damaged")); r3.CaseID != c.ID || e.get(c.ID).State != triage.StateOpen {
		t.Errorf("a critical match after dismissal: state %s", e.get(c.ID).State)
	}
	if _, err := e.svc.Apply(miaCtx, r.CaseID, triage.Op{Name: "acknowledge"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Apply(miaCtx, r.CaseID, triage.Op{Name: "acknowledge"}); apperr.KindOf(err) != apperr.KindConflict {
		t.Errorf("acknowledging twice: %v", err)
	}
	det := e.detail(r.CaseID)
	if len(det.Comments) != 1 || !slices.ContainsFunc(det.Timeline, func(l triage.TimelineEntry) bool { return l.Kind == triage.TLComment }) {
		t.Errorf("detail comments %d", len(det.Comments))
	}
	_ = fmt.Sprint()
}

// How SQLite reads the queue for the filters that used to scan it whole
// (found with BenchmarkConsolePages on 87,000 cases): a text search starts
// from the matching cases, and "SLA breached by due date" reads its own
// index. SQLite has no statistics here, so these plans are what it does in
// production too.
func TestListQueryPlansOnSQLite(t *testing.T) {
	d := testenv.DB(t)
	e := newEnv(t, d, nil)
	_, me := e.user("mia", auth.RoleManager, "")
	cases := []struct {
		name   string
		filter triage.ListFilter
		want   string
		reject string
	}{
		{"tracking number search", triage.ListFilter{Q: "1z999aa10123456784"},
			"USING INDEX sqlite_autoindex_triage_cases_1 (id=?)", "triage_cases_queue"},
		{"search with severity and team", triage.ListFilter{Q: "acme", Severities: []rules.Severity{"high"}, Team: "claims"},
			"USING INDEX sqlite_autoindex_triage_cases_1 (id=?)", "triage_cases_severity"},
		{"search by due date", triage.ListFilter{Q: "acme", Sort: "due"},
			"USING INDEX sqlite_autoindex_triage_cases_1 (id=?)", "triage_cases_due"},
		{"breached by due date", triage.ListFilter{SLAStates: []string{"breached"}, Sort: "due"},
			"triage_cases_sla_due (sla_state=? AND bucket=?", "triage_cases_due "},
		{"queue by priority", triage.ListFilter{},
			"triage_cases_queue (bucket=?)", "TEMP B-TREE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan, err := e.svc.ListPlan(me, c.filter)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(plan, c.want) || strings.Contains(plan, c.reject) {
				t.Errorf("plan:\n%s\nwant %q, not %q", plan, c.want, c.reject)
			}
		})
	}
}
