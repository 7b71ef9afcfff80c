package digest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
)

type env struct {
	d     *db.DB
	svc   *Service
	clk   *clock
	sink  *mailSink
	cases *caseStore
	feed  *feed
	ada   auth.Principal // account user
	admin auth.Principal
}

func newEnv(t *testing.T, d *db.DB, start time.Time) *env {
	t.Helper()
	e := &env{d: d, clk: newClock(start), sink: newMailSink(t), cases: &caseStore{}}
	e.feed = &feed{now: e.clk.Now, resolved: map[string]bool{}}
	cfg, err := ParseSMTPURL("smtp://" + e.sink.addr)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = New(Options{DB: d, Box: testBox(t), Now: e.clk.Now, Links: Links{Base: "https://ym.example"}, Cases: e.cases, Feed: e.feed,
		Mailer: &SMTPMailer{Config: cfg, Timeout: 10 * time.Second}, From: "Yardmaster <ym@example.com>", AllowPrivateWebhooks: true})
	e.ada = addUser(t, d, "ada", auth.RoleAccount, "ada@example.com", "emea")
	e.admin = addUser(t, d, "root", auth.RoleAdmin, "root@example.com", "")
	return e
}

func (e *env) subscribe(t *testing.T, p auth.Principal, in SubscriptionInput) Saved {
	t.Helper()
	s, err := e.svc.CreateSubscription(context.Background(), p, in)
	if err != nil {
		t.Fatalf("create subscription: %v", err)
	}
	return s
}

func (e *env) runs(t *testing.T, subID string) []Run {
	t.Helper()
	var rs []Run
	if err := e.d.NewSelect().Model(&rs).Where("subscription_id = ?", subID).Order("id").Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	return rs
}

func weekdayInput() SubscriptionInput {
	return SubscriptionInput{Name: "Weekday digest", TimeZone: "Europe/Berlin", Schedule: "0 8 * * 1-5", MinSeverity: SeverityMedium,
		Customers: CustomerSelection{Include: []Customer{{ID: "42", Name: "Acme Retail"}, {ID: "43", Name: "Globex"}}},
		Channels:  Channels{Email: &EmailChannel{}}}
}

// TestDigestByEmailOncePerPeriod is acceptance 1: a real SMTP server
// receives the scheduled digest; its MIME structure, plain-text part and
// links are right; running the schedule again for the same period sends
// nothing.
func TestDigestByEmailOncePerPeriod(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := newEnv(t, d, berlin(t, 2026, 3, 2, 7, 0)) // Monday 07:00
		sub := e.subscribe(t, e.ada, weekdayInput())
		if got := sub.NextRunAt.In(berlin(t, 2026, 1, 1, 0, 0).Location()); got.Hour() != 8 || got.Day() != 2 {
			t.Fatalf("next run = %s, want Monday 08:00 Berlin", got)
		}
		_, fx := fixture()
		e.cases.cases = fx

		// Not due yet.
		e.clk.Set(berlin(t, 2026, 3, 2, 7, 59))
		if n, err := e.svc.Tick(ctx); err != nil || n != 0 {
			t.Fatalf("tick before 08:00 = %d, %v", n, err)
		}
		// Due: the tick at 08:00:30 schedules exactly one run.
		e.clk.Set(berlin(t, 2026, 3, 2, 8, 0).Add(30 * time.Second))
		if n, err := e.svc.Tick(ctx); err != nil || n != 1 {
			t.Fatalf("tick at 08:00 = %d, %v", n, err)
		}
		for range 3 {
			if n, err := e.svc.Tick(ctx); err != nil || n != 0 {
				t.Fatalf("repeated tick = %d, %v", n, err)
			}
		}
		runs := e.runs(t, sub.ID)
		if len(runs) != 1 {
			t.Fatalf("runs = %d", len(runs))
		}
		run := runs[0]
		if !run.PeriodEnd.Equal(berlin(t, 2026, 3, 2, 8, 0)) || !run.PeriodStart.Equal(berlin(t, 2026, 3, 2, 7, 0)) {
			t.Fatalf("period = %s .. %s", run.PeriodStart, run.PeriodEnd)
		}
		if err := e.svc.SendRun(ctx, run.ID, false); err != nil {
			t.Fatalf("send: %v", err)
		}
		// A duplicate delivery of the same job sends nothing more.
		if err := e.svc.SendRun(ctx, run.ID, false); err != nil {
			t.Fatalf("send again: %v", err)
		}
		msgs := e.sink.Messages()
		if len(msgs) != 1 || msgs[0].To[0] != "ada@example.com" || msgs[0].From != "ym@example.com" {
			t.Fatalf("messages = %+v", msgs)
		}
		m := parseMail(t, msgs[0].Data)
		if len(m.Parts) != 2 || !strings.HasPrefix(m.Parts[0].ContentType, "text/plain; charset=utf-8") ||
			!strings.HasPrefix(m.Parts[1].ContentType, "text/html; charset=utf-8") {
			t.Fatalf("MIME parts = %+v", m.Parts)
		}
		if !strings.HasPrefix(m.Subject, "[Yardmaster] Digest: ") || m.Header.Get("X-Yardmaster-Digest") != run.ID {
			t.Errorf("subject %q, header %q", m.Subject, m.Header.Get("X-Yardmaster-Digest"))
		}
		text := m.Parts[0].Body
		// The fixture's cases opened from Sunday on; this first period
		// (07:00-08:00 Monday) holds none of their changes, but C1 is
		// breached and C7 likely late: both are still reported.
		for _, want := range []string{"Escalation digest: ada", "Acme Retail", "YM-101 Parcel lost in transit",
			"https://ym.example/console/cases/C1", "https://ym.example/console/digests/runs/" + run.ID,
			"https://ym.example/console/digests/subscriptions/" + sub.ID, "Mon 2 Mar 2026 07:00 – Mon 2 Mar 2026 08:00 (Europe/Berlin)"} {
			if !strings.Contains(text, want) {
				t.Errorf("plain text lacks %q:\n%s", want, text)
			}
		}
		if !strings.Contains(m.Parts[1].Body, `href="https://ym.example/console/cases/C1"`) {
			t.Errorf("html lacks the case link")
		}
		detail, err := e.svc.GetRun(ctx, e.ada, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if detail.Status != RunSent || len(detail.Deliveries) != 1 || detail.Deliveries[0].Status != DeliverySent ||
			len(detail.Attempts) != 1 || detail.Attempts[0].Outcome != OutcomeSent || detail.Digest == nil {
			t.Fatalf("history = %+v", detail)
		}

		// The next period starts where this one ended.
		e.clk.Set(berlin(t, 2026, 3, 3, 8, 1))
		if n, err := e.svc.Tick(ctx); err != nil || n != 1 {
			t.Fatalf("tick Tuesday = %d, %v", n, err)
		}
		runs = e.runs(t, sub.ID)
		if len(runs) != 2 || !runs[1].PeriodStart.Equal(run.PeriodEnd) {
			t.Fatalf("second period starts %s, want %s", runs[1].PeriodStart, run.PeriodEnd)
		}
	})
}

// TestSMTPOutageRetried is acceptance 3: the server is down, the delivery
// fails and is retried; once the server is back the digest is delivered
// and the history shows both attempts.
func TestSMTPOutageRetried(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := newEnv(t, d, berlin(t, 2026, 3, 2, 7, 0))
		sub := e.subscribe(t, e.ada, weekdayInput())
		_, e.cases.cases = fixture()
		e.clk.Set(berlin(t, 2026, 3, 2, 8, 0))
		if _, err := e.svc.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		run := e.runs(t, sub.ID)[0]

		e.sink.Stop()
		err := e.svc.SendRun(ctx, run.ID, false)
		if err == nil || !strings.Contains(err.Error(), "will be retried") {
			t.Fatalf("send during outage: %v", err)
		}
		detail, _ := e.svc.GetRun(ctx, e.ada, run.ID)
		if detail.Status != RunSending || detail.Deliveries[0].Status != DeliveryPending || detail.Deliveries[0].LastError == "" {
			t.Fatalf("after outage: status %s, deliveries %+v", detail.Status, detail.Deliveries)
		}

		e.sink.Start()
		e.clk.Add(4 * time.Second)
		if err := e.svc.SendRun(ctx, run.ID, false); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if got := len(e.sink.Messages()); got != 1 {
			t.Fatalf("messages after recovery = %d", got)
		}
		detail, _ = e.svc.GetRun(ctx, e.ada, run.ID)
		if detail.Status != RunSent || len(detail.Attempts) != 2 {
			t.Fatalf("history: status %s, attempts %+v", detail.Status, detail.Attempts)
		}
		if a := detail.Attempts; a[0].Outcome != OutcomeFailed || !strings.Contains(a[0].Detail, "smtp connect") || a[1].Outcome != OutcomeSent || a[1].Attempt != 2 {
			t.Fatalf("attempts = %+v", a)
		}
	})
}

func TestPermanentFailureAndRetryByHand(t *testing.T) {
	ctx := context.Background()
	d := testenv.DB(t)
	e := newEnv(t, d, berlin(t, 2026, 3, 2, 7, 0))
	in := weekdayInput()
	in.Channels.Email.To = []string{"bounce@example.com", "ok@example.com"}
	sub := e.subscribe(t, e.ada, in)
	_, e.cases.cases = fixture()
	e.clk.Set(berlin(t, 2026, 3, 2, 8, 0))
	if _, err := e.svc.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	run := e.runs(t, sub.ID)[0]
	if err := e.svc.SendRun(ctx, run.ID, false); err != nil {
		t.Fatalf("a permanent failure is recorded, not retried: %v", err)
	}
	detail, _ := e.svc.GetRun(ctx, e.ada, run.ID)
	if detail.Status != RunPartial || !strings.Contains(detail.Error, "550") {
		t.Fatalf("status %s error %q", detail.Status, detail.Error)
	}
	if _, err := e.svc.RetryRun(ctx, e.ada, run.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RetryRun(ctx, e.ada, run.ID); apperr.KindOf(err) != apperr.KindConflict {
		t.Fatalf("second retry while sending: %v", err)
	}
	if err := e.svc.SendRun(ctx, run.ID, false); err != nil {
		t.Fatal(err)
	}
	detail, _ = e.svc.GetRun(ctx, e.ada, run.ID)
	if detail.Status != RunPartial || len(detail.Attempts) != 3 || len(e.sink.To("ok@example.com")) != 1 {
		t.Fatalf("after retry: %s, %d attempts, %d mails to ok", detail.Status, len(detail.Attempts), len(e.sink.To("ok@example.com")))
	}
}

func TestLastAttemptIsFinal(t *testing.T) {
	ctx := context.Background()
	d := testenv.DB(t)
	e := newEnv(t, d, berlin(t, 2026, 3, 2, 7, 0))
	sub := e.subscribe(t, e.ada, weekdayInput())
	_, e.cases.cases = fixture()
	e.clk.Set(berlin(t, 2026, 3, 2, 8, 0))
	if _, err := e.svc.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	run := e.runs(t, sub.ID)[0]
	e.sink.Stop()
	if err := e.svc.SendRun(ctx, run.ID, true); err != nil {
		t.Fatalf("last attempt: %v", err)
	}
	detail, _ := e.svc.GetRun(ctx, e.ada, run.ID)
	if detail.Status != RunFailed || detail.Attempts[0].Outcome != OutcomePermanent || detail.FinishedAt == nil {
		t.Fatalf("after the last attempt: %+v", detail.Run)
	}
}

func TestEmptyDigestNotSent(t *testing.T) {
	ctx := context.Background()
	d := testenv.DB(t)
	e := newEnv(t, d, berlin(t, 2026, 3, 2, 7, 0))
	quiet := e.subscribe(t, e.ada, weekdayInput())
	in := weekdayInput()
	in.Name, in.SendEmpty = "Always", true
	always := e.subscribe(t, e.ada, in)
	e.clk.Set(berlin(t, 2026, 3, 2, 8, 0))
	if n, err := e.svc.Tick(ctx); err != nil || n != 2 {
		t.Fatalf("tick = %d, %v", n, err)
	}
	for _, id := range []string{quiet.ID, always.ID} {
		if err := e.svc.SendRun(ctx, e.runs(t, id)[0].ID, false); err != nil {
			t.Fatal(err)
		}
	}
	if st := e.runs(t, quiet.ID)[0].Status; st != RunEmpty {
		t.Errorf("quiet run status %s, want empty", st)
	}
	msgs := e.sink.Messages()
	if len(msgs) != 1 {
		t.Fatalf("messages = %d, want 1 (send_empty only)", len(msgs))
	}
	if m := parseMail(t, msgs[0].Data); !strings.Contains(m.Subject, "nothing to report") {
		t.Errorf("subject %q", m.Subject)
	}
}

func TestMissedSlotsSendOneDigest(t *testing.T) {
	ctx := context.Background()
	d := testenv.DB(t)
	e := newEnv(t, d, berlin(t, 2026, 3, 2, 7, 0))
	sub := e.subscribe(t, e.ada, weekdayInput())
	// Every process was down from Monday morning to Thursday noon.
	e.clk.Set(berlin(t, 2026, 3, 5, 12, 0))
	if n, err := e.svc.Tick(ctx); err != nil || n != 1 {
		t.Fatalf("tick after downtime = %d, %v", n, err)
	}
	r := e.runs(t, sub.ID)[0]
	if !r.ScheduledFor.Equal(berlin(t, 2026, 3, 5, 8, 0)) || !r.PeriodStart.Equal(berlin(t, 2026, 3, 2, 7, 0)) {
		t.Fatalf("catch-up run %s covering %s..%s", r.ScheduledFor, r.PeriodStart, r.PeriodEnd)
	}
}

func TestSendNowAndPreview(t *testing.T) {
	ctx := context.Background()
	d := testenv.DB(t)
	e := newEnv(t, d, berlin(t, 2026, 3, 2, 7, 0))
	sub := e.subscribe(t, e.ada, weekdayInput())
	_, e.cases.cases = fixture()
	e.clk.Set(berlin(t, 2026, 3, 2, 7, 30))
	pv, err := e.svc.Preview(ctx, e.ada, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !pv.WouldSend || pv.Digest.RunID != "" || !strings.Contains(pv.Rendered.Text, "YM-101") || len(e.runs(t, sub.ID)) != 0 {
		t.Fatalf("preview: %+v", pv.Digest.Totals)
	}
	run, err := e.svc.SendNow(ctx, e.ada, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SendRun(ctx, run.ID, false); err != nil {
		t.Fatal(err)
	}
	if len(e.sink.Messages()) != 1 {
		t.Fatal("send now did not send")
	}
	// The 08:00 digest covers 07:30-08:00 only.
	e.clk.Set(berlin(t, 2026, 3, 2, 8, 0))
	if _, err := e.svc.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	runs := e.runs(t, sub.ID)
	if len(runs) != 2 || !runs[1].PeriodStart.Equal(berlin(t, 2026, 3, 2, 7, 30)) {
		t.Fatalf("runs %+v", runs)
	}
	// A manual send after the slot passed but before the tick saw it
	// covers the slot: the tick then sends nothing for it.
	e.clk.Set(berlin(t, 2026, 3, 3, 8, 0).Add(10 * time.Second))
	if _, err := e.svc.SendNow(ctx, e.ada, sub.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := e.svc.Tick(ctx); err != nil || n != 0 {
		t.Fatalf("tick after a manual send covering the slot = %d, %v", n, err)
	}
}

func TestSubscriptionAccess(t *testing.T) {
	ctx := context.Background()
	d := testenv.DB(t)
	e := newEnv(t, d, berlin(t, 2026, 3, 2, 7, 0))
	bob := addUser(t, d, "bob", auth.RoleAccount, "bob@example.com", "emea")
	viewer := addUser(t, d, "vic", auth.RoleViewer, "vic@example.com", "")
	mine := e.subscribe(t, e.ada, weekdayInput())

	// Account users manage their own subscription only.
	if _, err := e.svc.GetSubscription(ctx, bob, mine.ID); apperr.KindOf(err) != apperr.KindNotFound {
		t.Errorf("bob reads ada's subscription: %v", err)
	}
	if err := e.svc.DeleteSubscription(ctx, bob, mine.ID); apperr.KindOf(err) != apperr.KindNotFound {
		t.Errorf("bob deletes ada's subscription: %v", err)
	}
	in := weekdayInput()
	in.Subscriber = &Subscriber{Kind: SubscriberUser, UserID: e.ada.UserID}
	if _, err := e.svc.CreateSubscription(ctx, bob, in); apperr.KindOf(err) != apperr.KindForbidden {
		t.Errorf("bob subscribes ada: %v", err)
	}
	in.Subscriber = &Subscriber{Kind: SubscriberTeam, Team: "emea"}
	if _, err := e.svc.CreateSubscription(ctx, bob, in); apperr.KindOf(err) != apperr.KindForbidden {
		t.Errorf("bob creates a team subscription: %v", err)
	}
	if _, err := e.svc.ListSubscriptions(ctx, viewer, ListFilter{}); err != nil {
		t.Errorf("viewer lists own: %v", err)
	}
	if _, err := e.svc.CreateSubscription(ctx, viewer, weekdayInput()); apperr.KindOf(err) != apperr.KindForbidden {
		t.Errorf("viewer (no digests permission) subscribes: %v", err)
	}
	if _, err := e.svc.ListSubscriptions(ctx, bob, ListFilter{All: true}); apperr.KindOf(err) != apperr.KindForbidden {
		t.Errorf("bob lists all: %v", err)
	}

	// Admins manage everything, including team subscriptions, which team
	// members can read but not change.
	team, err := e.svc.CreateSubscription(ctx, e.admin, in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetSubscription(ctx, bob, team.ID); err != nil {
		t.Errorf("team member reads team subscription: %v", err)
	}
	if _, err := e.svc.UpdateSubscription(ctx, bob, team.ID, in); apperr.KindOf(err) != apperr.KindForbidden {
		t.Errorf("team member changes team subscription: %v", err)
	}
	list, err := e.svc.ListSubscriptions(ctx, bob, ListFilter{})
	if err != nil || len(list) != 1 || list[0].ID != team.ID {
		t.Errorf("bob's list = %+v, %v", list, err)
	}
	all, err := e.svc.ListSubscriptions(ctx, e.admin, ListFilter{All: true})
	if err != nil || len(all) != 2 {
		t.Errorf("admin's list = %d, %v", len(all), err)
	}
	if _, err := e.svc.UpdateSubscription(ctx, e.admin, mine.ID, weekdayInput()); err != nil {
		t.Errorf("admin updates ada's: %v", err)
	}
	if err := e.svc.DeleteSubscription(ctx, e.ada, mine.ID); err != nil {
		t.Errorf("ada deletes her own: %v", err)
	}
}

func TestSubscriptionValidationAndSecrets(t *testing.T) {
	ctx := context.Background()
	d := testenv.DB(t)
	e := newEnv(t, d, berlin(t, 2026, 3, 2, 7, 0))
	noMail := addUser(t, d, "nomail", auth.RoleAccount, "", "")
	if _, err := e.svc.CreateSubscription(ctx, noMail, weekdayInput()); apperr.KindOf(err) != apperr.KindInvalid ||
		!strings.Contains(err.Error(), "channels.email.to") {
		t.Errorf("user without e-mail: %v", err)
	}
	in := weekdayInput()
	in.Subscriber = &Subscriber{Kind: SubscriberUser, UserID: "01NOSUCHUSER"}
	if _, err := e.svc.CreateSubscription(ctx, e.admin, in); apperr.KindOf(err) != apperr.KindInvalid {
		t.Errorf("unknown user: %v", err)
	}
	in = weekdayInput()
	in.Channels.Webhook = &WebhookChannel{URL: "https://hooks.example.com/services/T/B/secret"}
	s := e.subscribe(t, e.ada, in)
	if !strings.HasPrefix(s.WebhookSecret, "whsec_") || !s.Channels.Webhook.HasSecret || s.Channels.Webhook.Secret != "" {
		t.Fatalf("generated secret: %+v", s)
	}
	got, _ := e.svc.GetSubscription(ctx, e.ada, s.ID)
	if got.Channels.Webhook.Secret != "" || !got.Channels.Webhook.HasSecret {
		t.Fatalf("stored secret leaks: %+v", got.Channels.Webhook)
	}
	// Updating without a secret keeps it; nothing new is shown.
	up, err := e.svc.UpdateSubscription(ctx, e.ada, s.ID, in)
	if err != nil || up.WebhookSecret != "" || !up.Channels.Webhook.HasSecret {
		t.Fatalf("update: %+v, %v", up, err)
	}
	var row subscriptionRow
	if err := d.NewSelect().Model(&row).Where("id = ?", s.ID).Scan(ctx); err != nil {
		t.Fatal(err)
	}
	if plain, err := e.svc.box.Open(row.WebhookSecret, secretAAD(s.ID)); err != nil || plain != s.WebhookSecret {
		t.Fatalf("sealed secret does not open to the one shown: %v", err)
	}
	if strings.Contains(row.Channels, "secret/") || strings.Contains(row.WebhookSecret, "whsec_") {
		t.Fatalf("secret stored in clear: %s / %s", row.Channels, row.WebhookSecret)
	}
}

// TestConcurrentTicksScheduleOnce runs many ticks at once (as several
// worker processes do) and checks one run per subscription and period.
func TestConcurrentTicksScheduleOnce(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := newEnv(t, d, berlin(t, 2026, 3, 2, 7, 0))
		var subs []Saved
		for i := range 5 {
			in := weekdayInput()
			in.Name = "Digest " + string(rune('A'+i))
			subs = append(subs, e.subscribe(t, e.ada, in))
		}
		e.clk.Set(berlin(t, 2026, 3, 2, 8, 0))
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := e.svc.Tick(ctx)
				if err != nil {
					t.Errorf("tick: %v", err)
				}
				mu.Lock()
				total += n
				mu.Unlock()
			}()
		}
		wg.Wait()
		if total != len(subs) {
			t.Fatalf("runs created = %d, want %d", total, len(subs))
		}
		for _, s := range subs {
			if n := len(e.runs(t, s.ID)); n != 1 {
				t.Fatalf("subscription %s has %d runs", s.Name, n)
			}
		}
		var jobs int
		if err := d.NewSelect().Table("outbox").ColumnExpr("COUNT(*)").Where("task_type = ?", TaskSend).Scan(ctx, &jobs); err != nil {
			t.Fatal(err)
		}
		if jobs != len(subs) {
			t.Fatalf("send jobs = %d", jobs)
		}
	})
}

// gateMailer holds every send until released, to overlap two workers.
type gateMailer struct {
	inner   Mailer
	entered chan struct{}
	release chan struct{}
}

func (g *gateMailer) Send(ctx context.Context, from string, to []string, msg []byte) error {
	g.entered <- struct{}{}
	<-g.release
	return g.inner.Send(ctx, from, to, msg)
}

// TestDuplicateJobDoesNotSendTwice overlaps two executions of one send job
// (a redelivered task while the first is still sending): the delivery
// lease lets one send and makes the other retry later.
func TestDuplicateJobDoesNotSendTwice(t *testing.T) {
	ctx := context.Background()
	d := testenv.DB(t)
	e := newEnv(t, d, berlin(t, 2026, 3, 2, 7, 0))
	sub := e.subscribe(t, e.ada, weekdayInput())
	_, e.cases.cases = fixture()
	e.clk.Set(berlin(t, 2026, 3, 2, 8, 0))
	if _, err := e.svc.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	run := e.runs(t, sub.ID)[0]
	g := &gateMailer{inner: e.svc.mailer, entered: make(chan struct{}, 2), release: make(chan struct{})}
	e.svc.mailer = g
	first := make(chan error, 1)
	go func() { first <- e.svc.SendRun(ctx, run.ID, false) }()
	<-g.entered
	err := e.svc.SendRun(ctx, run.ID, false)
	if err == nil || !strings.Contains(err.Error(), "another worker") {
		t.Fatalf("overlapping send: %v", err)
	}
	close(g.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SendRun(ctx, run.ID, false); err != nil {
		t.Fatal(err)
	}
	if n := len(e.sink.Messages()); n != 1 {
		t.Fatalf("messages = %d, want 1", n)
	}
}

// cancelMailer simulates a process killed while talking to the server:
// it cancels the job's context and fails before the message is accepted.
type cancelMailer struct{ cancel context.CancelFunc }

func (m cancelMailer) Send(ctx context.Context, _ string, _ []string, _ []byte) error {
	m.cancel()
	<-ctx.Done()
	return ctx.Err()
}

// TestRestartMidSend: the worker dies mid-send (its lease stays behind);
// another process picks the job up — it waits out the lease, then sends
// the same frozen digest exactly once.
func TestRestartMidSend(t *testing.T) {
	ctx := context.Background()
	d := testenv.DB(t)
	e := newEnv(t, d, berlin(t, 2026, 3, 2, 7, 0))
	sub := e.subscribe(t, e.ada, weekdayInput())
	_, e.cases.cases = fixture()
	e.clk.Set(berlin(t, 2026, 3, 2, 8, 0))
	if _, err := e.svc.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	run := e.runs(t, sub.ID)[0]
	smtpMailer := e.svc.mailer
	jobCtx, cancel := context.WithCancel(ctx)
	e.svc.mailer = cancelMailer{cancel: cancel}
	if err := e.svc.SendRun(jobCtx, run.ID, false); err == nil {
		t.Fatal("the killed send reported success")
	}
	frozen := e.runs(t, sub.ID)[0].Content

	// The "restarted" process: a new service on the same database, whose
	// cases have changed meanwhile — the digest must not change.
	restarted := New(Options{DB: d, Box: e.svc.box, Now: e.clk.Now, Links: e.svc.links, Cases: &caseStore{}, Mailer: smtpMailer, From: e.svc.from})
	e.clk.Add(time.Minute)
	if err := restarted.SendRun(ctx, run.ID, false); err == nil || !strings.Contains(err.Error(), "another worker") {
		t.Fatalf("while the dead worker's lease holds: %v", err)
	}
	e.clk.Add(DeliveryLease)
	if err := restarted.SendRun(ctx, run.ID, false); err != nil {
		t.Fatal(err)
	}
	msgs := e.sink.Messages()
	if len(msgs) != 1 || !strings.Contains(parseMail(t, msgs[0].Data).Parts[0].Body, "YM-101") {
		t.Fatalf("messages = %d", len(msgs))
	}
	if got := e.runs(t, sub.ID)[0]; got.Content != frozen || got.Status != RunSent {
		t.Fatalf("after restart: status %s, content changed %v", got.Status, got.Content != frozen)
	}
}

type failingCases struct{}

func (failingCases) CustomerCases(context.Context, CaseQuery) ([]Case, error) {
	return nil, errors.New("triage database unreachable")
}

func TestBuildFailureVisible(t *testing.T) {
	ctx := context.Background()
	d := testenv.DB(t)
	e := newEnv(t, d, berlin(t, 2026, 3, 2, 7, 0))
	sub := e.subscribe(t, e.ada, weekdayInput())
	e.svc.cases = failingCases{}
	e.clk.Set(berlin(t, 2026, 3, 2, 8, 0))
	if _, err := e.svc.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	run := e.runs(t, sub.ID)[0]
	if err := e.svc.SendRun(ctx, run.ID, false); err == nil {
		t.Fatal("build failure must be retried")
	}
	if r := e.runs(t, sub.ID)[0]; r.Status != RunPending || !strings.Contains(r.Error, "triage database unreachable") {
		t.Fatalf("after a failed build: %s %q", r.Status, r.Error)
	}
	if err := e.svc.SendRun(ctx, run.ID, true); err == nil {
		t.Fatal("last attempt must report the failure")
	}
	if r := e.runs(t, sub.ID)[0]; r.Status != RunFailed || r.FinishedAt == nil {
		t.Fatalf("after the last attempt: %s", r.Status)
	}
}
