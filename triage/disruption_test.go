package triage_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
	"github.com/yardmaster/yardmaster/triage"
)

// Enough cases of one carrier, lane and reason open a disruption that
// groups them; later ones join it; children's outbound events are
// suppressed while it is live; resolving it with apply_to_children closes
// them all.
func TestDisruptionGroupsCases(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		p := triage.DefaultPolicy()
		p.Disruption.MinCases = 3
		e := newEnv(t, d, &p)
		_, mia := e.user("mia", auth.RoleManager, "")
		sub := &subscriber{now: e.clk.Now}
		srv := httptest.NewServer(sub)
		defer srv.Close()
		created, err := e.svc.CreateSubscription(e.ctx, triage.SubscriptionInput{URL: srv.URL, Events: []string{"case.opened", "case.updated", "case.resolved"}})
		if err != nil {
			t.Fatal(err)
		}
		sub.secret = created.Secret
		var lost []string
		for i := 0; i < 4; i++ {
			r := e.send(fmt.Sprintf("1ZLOST%02d", i), withReason("lost"), withCarrier("fedex"), withLane("US", "DE"))
			lost = append(lost, r.CaseID)
			e.clk.Add(time.Minute)
		}
		page, err := e.svc.List(e.ctx, triage.ListFilter{Kind: triage.KindDisruption})
		if err != nil {
			t.Fatal(err)
		}
		var parent *triage.Case
		for _, c := range page.Cases {
			if c.Carrier == "fedex" {
				parent = c
			}
		}
		if parent == nil {
			t.Fatalf("no fedex disruption among %d", len(page.Cases))
		}
		if parent.ChildCount != 4 || parent.Lane != "US>DE" || parent.Reason != "lost" {
			t.Fatalf("disruption = children %d lane %q reason %q", parent.ChildCount, parent.Lane, parent.Reason)
		}
		for _, id := range lost {
			if c := e.get(id); c.ParentID != parent.ID {
				t.Fatalf("case %s not grouped (parent %q)", id, c.ParentID)
			}
		}
		e.deliverAll(0, 11)
		before := len(sub.received)
		// A child's change is not sent while the disruption is live.
		if _, err := e.svc.Apply(mia, lost[0], triage.Op{Name: "acknowledge"}); err != nil {
			t.Fatal(err)
		}
		e.deliverAll(0, 11)
		if len(sub.received) != before {
			t.Fatalf("a child's event was sent during the disruption: %d → %d", before, len(sub.received))
		}
		res, err := e.svc.Apply(mia, parent.ID, triage.Op{Name: "resolve", Reason: "carrier_resolved", ApplyToChildren: true})
		if err != nil || res.State != triage.StateResolved {
			t.Fatalf("resolve parent: %v", err)
		}
		for _, id := range lost {
			if c := e.get(id); c.State != triage.StateResolved || c.CloseReason != "carrier_resolved" {
				t.Errorf("child %s: %s %s", id, c.State, c.CloseReason)
			}
		}
		e.verifyAudit()
	})
}

// The anomaly detector opens a disruption through OpenDisruption inside
// its own transaction; a second spike updates the same case.
func TestOpenDisruptionFromAnomaly(t *testing.T) {
	d := testenv.DB(t)
	e := newEnv(t, d, nil)
	r := e.send("1ZANOM1", withReason("delayed"), withCarrier("usps"))
	var id1, id2 string
	in := triage.DisruptionInput{Key: triage.DisruptionKey{Carrier: "USPS"}, Detail: "exception rate 40% vs 5%", WindowStart: e.clk.Now().Add(-time.Hour)}
	err := d.InTx(e.ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		id1, err = e.svc.OpenDisruption(ctx, tx, in)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = d.InTx(e.ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		id2, err = e.svc.OpenDisruption(ctx, tx, in)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if id1 == "" || id1 != id2 {
		t.Fatalf("disruptions %s and %s", id1, id2)
	}
	dis := e.get(id1)
	if dis.Kind != triage.KindDisruption || dis.Source != "anomaly" || dis.ChildCount != 1 {
		t.Fatalf("disruption = %+v", dis)
	}
	if e.get(r.CaseID).ParentID != id1 {
		t.Errorf("the usps case was not grouped")
	}
	e.verifyAudit()
}

// An action proposed on a disruption goes to each live child; the
// proposals are approved together, four-eyes still checked per action.
func TestDisruptionActionsOnChildren(t *testing.T) {
	d := testenv.DB(t)
	p := triage.DefaultPolicy()
	p.Disruption.MinCases = 2
	p.FourEyes = []string{"post_note"}
	e := newEnv(t, d, &p)
	_, mia := e.user("mia", auth.RoleManager, "")
	_, max := e.user("max", auth.RoleManager, "")
	for i := 0; i < 3; i++ {
		e.send(fmt.Sprintf("1ZKIDS%02d", i), withReason("lost"), withCarrier("dpd"), withLane("FR", "DE"))
	}
	page, _ := e.svc.List(e.ctx, triage.ListFilter{Kind: triage.KindDisruption})
	if len(page.Cases) != 1 {
		t.Fatalf("%d disruptions", len(page.Cases))
	}
	parent := page.Cases[0]
	in := triage.ProposeInput{Type: "post_note", Params: map[string]string{"body": "DPD network outage in FR; we are on it."}}
	acts, err := e.svc.ProposeOnChildren(mia, parent.ID, in)
	if err != nil || len(acts) != 3 {
		t.Fatalf("proposals on children: %d %v", len(acts), err)
	}
	if again, _ := e.svc.ProposeOnChildren(mia, parent.ID, in); len(again) != 0 {
		t.Errorf("proposing again made %d more", len(again))
	}
	ids := []string{acts[0].ID, acts[1].ID, acts[2].ID}
	res, err := e.svc.DecideMany(mia, triage.DecisionsInput{Approve: true, IDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Error == "" {
			t.Errorf("the proposer approved %s", r.ID)
		}
	}
	res, err = e.svc.DecideMany(max, triage.DecisionsInput{Approve: true, IDs: ids, Note: "go"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.State != triage.ActionApproved {
			t.Errorf("action %s: %+v", r.ID, r)
		}
	}
	if n := len(e.jobs(triage.TaskActionExecute)); n != 3 {
		t.Errorf("%d execution jobs", n)
	}
	if _, err := e.svc.ProposeOnChildren(mia, e.get(acts[0].CaseID).ID, in); err == nil {
		t.Error("proposing on the children of a non-disruption")
	}
}

// During an outbreak every batch groups new cases under the same live
// disruption. The disruption is read without a lock and its children are
// counted with one late increment per batch, so committers running at once
// must not lose a child: the count equals the cases grouped under it.
func TestConcurrentBatchesCountEveryChild(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		p := triage.DefaultPolicy()
		p.Disruption.MinCases = 3
		e := newEnv(t, d, &p)
		for i := range 3 {
			e.send(fmt.Sprintf("1ZWAVE%03d", i), withReason("damaged"), withCarrier("fedex"), withLane("US", "US"))
		}
		const senders, each = 8, 6
		errs := make(chan error, senders)
		for g := range senders {
			go func() {
				for i := range each {
					ev := &intake.Event{Carrier: "fedex", TrackingNumber: fmt.Sprintf("1ZWAVE%d%02d", g+1, i), OccurredAt: e.clk.Now().Add(-time.Minute),
						TZKnown: true, Status: intake.StatusInTransit, Exception: &intake.Exception{Reason: "damaged"},
						OriginCountry: "US", DestinationCountry: "US"}
					if _, err := e.pipe.SubmitEvents(e.ctx, "test", []*intake.Event{ev}); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for range senders {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		page, err := e.svc.List(e.ctx, triage.ListFilter{Kind: triage.KindDisruption})
		if err != nil || len(page.Cases) != 1 {
			t.Fatalf("%v disruptions (%v)", page, err)
		}
		parent := e.get(page.Cases[0].ID)
		children, err := d.Read.NewSelect().Model((*triage.Case)(nil)).Where("parent_id = ?", parent.ID).Count(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := 3 + senders*each; int(children) != want || parent.ChildCount != want {
			t.Fatalf("%d cases grouped, child count %d; want %d", children, parent.ChildCount, want)
		}
		e.verifyAudit()
	})
}
