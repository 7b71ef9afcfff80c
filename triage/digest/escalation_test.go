package digest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
)

func immediateInput() SubscriptionInput {
	in := weekdayInput()
	in.Name = "EMEA escalations"
	in.Subscriber = &Subscriber{Kind: SubscriberTeam, Team: "emea"}
	in.Immediate = &Immediate{Enabled: true, MinSeverity: SeverityHigh, OnBreach: true,
		GroupWait: Duration(30 * time.Second), GroupInterval: Duration(5 * time.Minute), RepeatInterval: Duration(4 * time.Hour)}
	return in
}

// notices returns the immediate runs of a subscription with their content.
func (e *env) notices(t *testing.T, subID string) []*Digest {
	t.Helper()
	var out []*Digest
	for _, r := range e.runs(t, subID) {
		if r.Kind != RunImmediate {
			continue
		}
		d, err := decodeDigest(r.Content)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// TestEscalationBurstIsGrouped is acceptance 5: 500 escalations for one
// account team within a minute produce at most the configured number of
// notices — the first after group_wait, the rest after group_interval —
// each listing the cases it groups, every case listed once.
func TestEscalationBurstIsGrouped(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		t0 := berlin(t, 2026, 3, 2, 10, 0)
		e := newEnv(t, d, t0.Add(-time.Hour))
		sub := e.subscribe(t, e.admin, immediateInput())
		// A second team's subscription for another customer sees none of it.
		other := immediateInput()
		other.Name, other.Subscriber = "APAC", &Subscriber{Kind: SubscriberUser, UserID: e.ada.UserID}
		other.Customers = CustomerSelection{Include: []Customer{{ID: "77"}}}
		otherSub := e.subscribe(t, e.admin, other)

		for i := range 500 {
			kind, sev := EscalationSeverity, SeverityCritical
			if i%5 == 0 {
				kind, sev = EscalationBreach, SeverityMedium
			}
			cust := "42"
			if i%2 == 1 {
				cust = "43"
			}
			e.feed.items = append(e.feed.items, Escalation{Cursor: fmt.Sprintf("%08d", i), CaseID: fmt.Sprintf("CASE%03d", i),
				CaseRef: fmt.Sprintf("YM-%d", 1000+i), Title: "Exception " + fmt.Sprint(i), CustomerID: cust, Severity: sev, Kind: kind,
				At: t0.Add(time.Duration(i) * 120 * time.Millisecond)}) // 500 within 60 s
		}
		// Below the threshold, not breached: never notified.
		e.feed.items = append(e.feed.items, Escalation{Cursor: "00000083a", CaseID: "LOW", CustomerID: "42", Severity: SeverityMedium,
			Kind: EscalationSeverity, At: t0.Add(10 * time.Second)})

		// The poller runs every 15 s for ten minutes.
		var stats EscalationStats
		for now := t0; !now.After(t0.Add(10 * time.Minute)); now = now.Add(EscalationPoll) {
			e.clk.Set(now)
			st, err := e.svc.ProcessEscalations(ctx)
			if err != nil {
				t.Fatalf("at %s: %v", now, err)
			}
			stats.Read += st.Read
			stats.Grouped += st.Grouped
			stats.Notices += st.Notices
		}
		if stats.Read != 501 || stats.Grouped != 500 {
			t.Fatalf("read %d grouped %d", stats.Read, stats.Grouped)
		}
		ns := e.notices(t, sub.ID)
		// group_wait 30 s, group_interval 5 min, a 60 s burst: one notice
		// at 30 s and one at 5 min 30 s.
		if len(ns) != 2 || stats.Notices != 2 {
			t.Fatalf("notices = %d, want 2", len(ns))
		}
		seen := map[string]int{}
		for i, n := range ns {
			listed := 0
			for _, s := range n.Customers {
				for _, c := range s.Cases {
					seen[c.ID]++
					listed++
					if !c.HasFlag(FlagEscalated) && !c.HasFlag(FlagBreached) {
						t.Errorf("case %s listed without a reason", c.ID)
					}
				}
			}
			if listed != n.Totals.Cases || listed == 0 {
				t.Fatalf("notice %d lists %d cases, totals say %d", i, listed, n.Totals.Cases)
			}
		}
		if len(seen) != 500 {
			t.Fatalf("cases notified = %d, want 500", len(seen))
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("case %s notified %d times", id, n)
			}
		}
		if first := ns[0]; !first.PeriodEnd.Equal(t0.Add(30*time.Second)) || first.Totals.Cases != 251 {
			t.Errorf("first notice at %s with %d cases, want at +30s with the 251 arrived by then", first.PeriodEnd, first.Totals.Cases)
		}
		if got := len(e.notices(t, otherSub.ID)); got != 0 {
			t.Errorf("other subscription got %d notices", got)
		}

		// The notice e-mail goes to every team member, listing the cases.
		runs := e.runs(t, sub.ID)
		if err := e.svc.SendRun(ctx, runs[0].ID, false); err != nil {
			t.Fatal(err)
		}
		msgs := e.sink.To("ada@example.com")
		if len(msgs) != 1 {
			t.Fatalf("notice mails to ada = %d", len(msgs))
		}
		m := parseMail(t, msgs[0].Data)
		if !strings.Contains(m.Subject, "251 cases need attention") || strings.Count(m.Parts[0].Body, "\n* [") != 251 {
			t.Fatalf("notice: %q with %d listed", m.Subject, strings.Count(m.Parts[0].Body, "\n* ["))
		}

		// Nothing new: the next notice is the repeat after 4 hours.
		e.clk.Set(t0.Add(4*time.Hour + 6*time.Minute))
		if _, err := e.svc.ProcessEscalations(ctx); err != nil {
			t.Fatal(err)
		}
		ns = e.notices(t, sub.ID)
		if len(ns) != 3 || ns[2].Totals.Cases != 500 || !strings.HasPrefix(ns[2].Overview.Text, "Still unresolved") {
			t.Fatalf("repeat: %d notices, last lists %d", len(ns), ns[len(ns)-1].Totals.Cases)
		}
		// All cases settle: the group ends without another notice.
		for i := range 500 {
			e.feed.resolved[fmt.Sprintf("CASE%03d", i)] = true
		}
		e.clk.Add(6 * time.Minute)
		if _, err := e.svc.ProcessEscalations(ctx); err != nil {
			t.Fatal(err)
		}
		var groups int
		if err := d.NewSelect().Model((*groupRow)(nil)).ColumnExpr("COUNT(*)").Scan(ctx, &groups); err != nil {
			t.Fatal(err)
		}
		if groups != 0 || len(e.notices(t, sub.ID)) != 3 {
			t.Fatalf("after resolution: %d groups, %d notices", groups, len(e.notices(t, sub.ID)))
		}
	})
}

func TestEscalationWorsensRenotifies(t *testing.T) {
	ctx := context.Background()
	d := testenv.DB(t)
	t0 := berlin(t, 2026, 3, 2, 10, 0)
	e := newEnv(t, d, t0.Add(-time.Hour))
	sub := e.subscribe(t, e.admin, immediateInput())
	add := func(cursor string, at time.Time, sev Severity, kind string) {
		e.feed.items = append(e.feed.items, Escalation{Cursor: cursor, CaseID: "C1", Title: "x", CustomerID: "42", Severity: sev, Kind: kind, At: at})
	}
	add("1", t0, SeverityHigh, EscalationSeverity)
	e.clk.Set(t0.Add(30 * time.Second))
	if _, err := e.svc.ProcessEscalations(ctx); err != nil {
		t.Fatal(err)
	}
	// The same case again at the same severity is not news.
	add("2", t0.Add(time.Minute), SeverityHigh, EscalationSeverity)
	e.clk.Set(t0.Add(5*time.Minute + 30*time.Second))
	if _, err := e.svc.ProcessEscalations(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(e.notices(t, sub.ID)); n != 1 {
		t.Fatalf("notices after a repeat escalation = %d, want 1", n)
	}
	// It breaches: that is news.
	add("3", t0.Add(6*time.Minute), SeverityHigh, EscalationBreach)
	e.clk.Set(t0.Add(10*time.Minute + 30*time.Second))
	if _, err := e.svc.ProcessEscalations(ctx); err != nil {
		t.Fatal(err)
	}
	ns := e.notices(t, sub.ID)
	if len(ns) != 2 || !ns[1].Customers[0].Cases[0].HasFlag(FlagBreached) {
		t.Fatalf("notices after breach = %d", len(ns))
	}
}

func TestConcurrentEscalationPollers(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		t0 := berlin(t, 2026, 3, 2, 10, 0)
		e := newEnv(t, d, t0.Add(-time.Hour))
		sub := e.subscribe(t, e.admin, immediateInput())
		for i := range 1200 {
			e.feed.items = append(e.feed.items, Escalation{Cursor: fmt.Sprintf("%08d", i), CaseID: fmt.Sprintf("C%04d", i), Title: "x",
				CustomerID: "42", Severity: SeverityCritical, Kind: EscalationSeverity, At: t0})
		}
		e.clk.Set(t0.Add(31 * time.Second))
		errs := make(chan error, 4)
		for range 4 {
			go func() { _, err := e.svc.ProcessEscalations(ctx); errs <- err }()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		ns := e.notices(t, sub.ID)
		if len(ns) != 1 || ns[0].Totals.Cases != 1200 {
			t.Fatalf("notices = %d (first lists %v)", len(ns), func() int {
				if len(ns) > 0 {
					return ns[0].Totals.Cases
				}
				return 0
			}())
		}
	})
}

// TestWebhookChannel delivers a digest to a Standard Webhooks receiver:
// signed, Slack-compatible, with the digest JSON, and a stable webhook-id
// across retries.
func TestWebhookChannel(t *testing.T) {
	ctx := context.Background()
	d := testenv.DB(t)
	e := newEnv(t, d, berlin(t, 2026, 3, 2, 7, 0))
	in := weekdayInput()
	in.Channels = Channels{Webhook: &WebhookChannel{URL: "http://127.0.0.1:1/placeholder"}}
	rc := &receiver{status: []int{502}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	in.Channels.Webhook.URL = srv.URL + "/hooks/T1/B2"
	sub := e.subscribe(t, e.ada, in)
	key, err := DecodeSecret(sub.WebhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	rc.key = key
	_, e.cases.cases = fixture()
	e.clk.Set(berlin(t, 2026, 3, 2, 8, 0))
	if _, err := e.svc.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	run := e.runs(t, sub.ID)[0]
	if err := e.svc.SendRun(ctx, run.ID, false); err == nil {
		t.Fatal("a 502 must be retried")
	}
	e.clk.Add(5 * time.Second)
	if err := e.svc.SendRun(ctx, run.ID, false); err != nil {
		t.Fatal(err)
	}
	got := rc.Received()
	if len(got) != 2 || !got[0].Valid || !got[1].Valid || got[0].ID != got[1].ID || got[0].Timestamp == got[1].Timestamp {
		t.Fatalf("deliveries: %+v", got)
	}
	var body struct {
		Text   string
		Blocks []map[string]any
		Digest *Digest
	}
	if err := json.Unmarshal(got[1].Body, &body); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(body.Text, "[Yardmaster] Digest") || len(body.Blocks) < 3 || body.Digest == nil || body.Digest.RunID != run.ID {
		t.Fatalf("body: %s", got[1].Body)
	}
	detail, _ := e.svc.GetRun(ctx, e.ada, run.ID)
	if detail.Deliveries[0].Target != "http://"+srv.Listener.Addr().String()+"/…" {
		t.Errorf("history shows the webhook path (a credential): %q", detail.Deliveries[0].Target)
	}
}
