package digest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/config"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/queue"
	"github.com/yardmaster/yardmaster/internal/testenv"
)

// sharedDB returns two handles on one fresh database, as two processes
// would have: PostgreSQL when configured, else one SQLite file.
func sharedDB(t *testing.T) (*db.DB, *db.DB) {
	t.Helper()
	ctx := context.Background()
	if os.Getenv(testenv.EnvDatabaseURL) != "" {
		dsn := testenv.PostgresURL(t)
		var hs []*db.DB
		for range 2 {
			d, err := db.Open(ctx, config.Postgres, dsn, db.Options{MaxOpenConns: 8})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = d.Close() })
			hs = append(hs, d)
		}
		if _, err := hs[0].Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return hs[0], hs[1]
	}
	first := testenv.SQLite(t)
	second, err := db.Open(ctx, config.SQLite, first.Path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = second.Close() })
	return first, second
}

type worker struct {
	svc *Service
	q   *queue.Queue
}

func startWorker(t *testing.T, d *db.DB, ro asynq.RedisClientOpt, box *Service, clk *clock, mailer Mailer) *worker {
	t.Helper()
	q, err := queue.Open(context.Background(), d, queue.Options{RedisOpt: &ro, PollInterval: 50 * time.Millisecond, ShutdownTimeout: 5 * time.Second, Concurrency: 4})
	if err != nil {
		t.Fatalf("open queue: %v", err)
	}
	svc := New(Options{DB: d, Box: box.box, Now: clk.Now, Links: Links{Base: "https://ym.example"}, Kick: q.Kick,
		Cases: box.cases, Mailer: mailer, From: "ym@example.com"})
	q.Handle(TaskSend, svc.HandleSend)
	q.Handle(TaskTick, svc.HandleTick)
	q.Every(TaskTick, time.Second, queue.QueueDefault)
	if err := q.Start(context.Background(), true); err != nil {
		t.Fatalf("start queue: %v", err)
	}
	t.Cleanup(q.Shutdown)
	return &worker{svc: svc, q: q}
}

// TestTwoWorkersOneDigestPerPeriod is acceptance 2: two worker processes
// on the real Redis, both running the scheduler (the periodic tick through
// the outbox, plus direct ticks racing each other), share one database;
// every subscriber gets exactly one digest per period.
func TestTwoWorkersOneDigestPerPeriod(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two worker pools")
	}
	ro := testenv.RealRedis(t)
	ctx := context.Background()
	d1, d2 := sharedDB(t)
	clk := newClock(berlin(t, 2026, 3, 2, 6, 30))
	sink := newMailSink(t)
	cfg, _ := ParseSMTPURL("smtp://" + sink.addr)
	mailer := &SMTPMailer{Config: cfg, Timeout: 10 * time.Second}
	_, fx := fixture()
	base := New(Options{DB: d1, Box: testBox(t), Now: clk.Now, Cases: &caseStore{cases: fx}})

	const users = 6
	var emails []string
	for i := range users {
		email := fmt.Sprintf("acct%d@example.com", i)
		p := addUser(t, d1, fmt.Sprintf("acct%d", i), auth.RoleAccount, email, "")
		in := weekdayInput()
		in.Schedule, in.SendEmpty = "0 * * * *", true // hourly, so every period has a digest
		if _, err := base.CreateSubscription(ctx, p, in); err != nil {
			t.Fatal(err)
		}
		emails = append(emails, email)
	}
	w1 := startWorker(t, d1, ro, base, clk, mailer)
	w2 := startWorker(t, d2, ro, base, clk, mailer)

	periods := []time.Time{berlin(t, 2026, 3, 2, 7, 0), berlin(t, 2026, 3, 2, 8, 0), berlin(t, 2026, 3, 2, 9, 0)}
	for _, p := range periods {
		clk.Set(p.Add(20 * time.Second))
		var wg sync.WaitGroup
		for _, w := range []*worker{w1, w2, w1, w2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := w.svc.Tick(ctx); err != nil {
					t.Errorf("tick: %v", err)
				}
			}()
		}
		wg.Wait()
		w1.q.Kick()
		w2.q.Kick()
		waitSent(t, d1, p, users)
	}
	// Both processes' periodic ticks keep running; give them a moment on
	// the last period to prove they add nothing.
	for range 3 {
		if _, err := w2.svc.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range emails {
		if got := len(sink.To(e)); got != len(periods) {
			t.Errorf("%s received %d digests, want %d", e, got, len(periods))
		}
	}
	var runs, attempts int
	if err := d1.NewSelect().Model((*Run)(nil)).ColumnExpr("COUNT(*)").Scan(ctx, &runs); err != nil {
		t.Fatal(err)
	}
	if err := d1.NewSelect().Model((*Attempt)(nil)).ColumnExpr("COUNT(*)").Scan(ctx, &attempts); err != nil {
		t.Fatal(err)
	}
	if runs != users*len(periods) || attempts != users*len(periods) {
		t.Fatalf("runs %d attempts %d, want %d each", runs, attempts, users*len(periods))
	}
}

// waitSent waits (bounded) until the n runs scheduled for p are sent.
func waitSent(t *testing.T, d *db.DB, p time.Time, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var sent int
		err := d.NewSelect().Model((*Run)(nil)).ColumnExpr("COUNT(*)").Where("scheduled_for = ? AND status = ?", p.UTC(), RunSent).
			Scan(context.Background(), &sent)
		if err != nil {
			t.Fatal(err)
		}
		if sent == n {
			return
		}
		if time.Now().After(deadline) {
			var rs []Run
			_ = d.NewSelect().Model(&rs).Scan(context.Background())
			t.Fatalf("period %s: %d of %d runs sent; runs %+v", p, sent, n, rs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
