package digest

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
)

// benchCases is a busy period: customers × perCustomer cases, each with
// three changes and an action.
func benchCases(since time.Time, customers, perCustomer int) ([]Customer, []Case) {
	var cs []Customer
	var out []Case
	for c := range customers {
		id := strconv.Itoa(1000 + c)
		cs = append(cs, Customer{ID: id, Name: "Customer " + id})
		for k := range perCustomer {
			at := since.Add(time.Duration(k) * time.Minute)
			out = append(out, Case{ID: fmt.Sprintf("C%d-%d", c, k), Title: "Delivery exception: DHL JD" + strconv.Itoa(k), CustomerID: id,
				Severity: Severities[k%5], State: "open", SLA: []string{"ok", "at_risk", "breached"}[k%3], OpenedAt: at, ETARisk: ptr(float64(k%10) / 10),
				Changes: []Change{{At: at, Kind: ChangeOpened}, {At: at.Add(time.Minute), Kind: ChangeEscalated, Detail: "high → critical"},
					{At: at.Add(2 * time.Minute), Kind: ChangeSLAAtRisk}},
				Actions: []Action{{ID: "A", Type: "post_note", State: ActionProposed, At: at}}})
		}
	}
	return cs, out
}

// BenchmarkBuildAndRender: one digest of 50 customers × 40 cases (2,000
// cases, 25 listed per customer) built, overviewed and rendered as HTML,
// text and JSON.
func BenchmarkBuildAndRender(b *testing.B) {
	since := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	custs, cases := benchCases(since, 50, 40)
	in := buildInput{RunID: "01RUN", Kind: RunScheduled, Sub: Subscription{ID: "S", Name: "n", TimeZone: "Europe/Berlin", MinSeverity: SeverityInfo},
		Audience: "a", Customers: custs, Since: since, Till: since.Add(24 * time.Hour), Now: since.Add(24 * time.Hour), Links: Links{Base: "https://ym.example"}}
	b.ReportAllocs()
	for b.Loop() {
		d := build(in, cases)
		ov := DeterministicOverview(d)
		d.Overview = &ov
		if _, err := Render(d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTick: one tick that finds N subscriptions due and schedules a
// run and an outbox job for each (the tick runs every minute, so this must
// stay well under a minute).
func BenchmarkTick(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			var d *db.DB
			if engine == "sqlite" {
				d = testenv.SQLite(b)
			} else {
				d = testenv.Postgres(b)
			}
			const n = 2000
			clk := newClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
			svc := New(Options{DB: d, Box: testBox(b), Now: clk.Now})
			p := addUser(b, d, "bench", auth.RoleAccount, "bench@example.com", "")
			in := SubscriptionInput{Name: "b", TimeZone: "UTC", Schedule: "0 8 * * *", Customers: CustomerSelection{Include: []Customer{{ID: "1"}}},
				Channels: Channels{Email: &EmailChannel{}}}
			for range n {
				if _, err := svc.CreateSubscription(context.Background(), p, in); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				clk.Set(time.Date(2026, 3, 2+i, 8, 0, 30, 0, time.UTC))
				got, err := svc.Tick(context.Background())
				if err != nil || got != n {
					b.Fatalf("tick scheduled %d, %v", got, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/subscription")
		})
	}
}

// BenchmarkEscalationBurst: 500 escalations of one team read, grouped and
// flushed into one notice (SQLite).
func BenchmarkEscalationBurst(b *testing.B) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		d := testenv.SQLite(b)
		clk := newClock(t0)
		f := &feed{now: clk.Now, resolved: map[string]bool{}}
		svc := New(Options{DB: d, Box: testBox(b), Now: clk.Now, Feed: f})
		p := addUser(b, d, "bench", auth.RoleAdmin, "bench@example.com", "emea")
		in := immediateInput()
		if _, err := svc.CreateSubscription(context.Background(), p, in); err != nil {
			b.Fatal(err)
		}
		for k := range 500 {
			f.items = append(f.items, Escalation{Cursor: fmt.Sprintf("%08d", k), CaseID: fmt.Sprintf("C%03d", k), Title: "x", CustomerID: "42",
				Severity: SeverityCritical, Kind: EscalationSeverity, At: t0})
		}
		clk.Set(t0.Add(time.Minute))
		b.StartTimer()
		st, err := svc.ProcessEscalations(context.Background())
		if err != nil || st.Notices != 1 || st.Grouped != 500 {
			b.Fatalf("%+v, %v", st, err)
		}
	}
}
