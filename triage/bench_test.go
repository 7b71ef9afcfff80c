package triage_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
	"github.com/yardmaster/yardmaster/rules"
	"github.com/yardmaster/yardmaster/triage"
)

// latencies collects per-operation durations and reports percentiles.
type latencies []time.Duration

func (l latencies) pct(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := append(latencies(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p)
	return s[i]
}

func (l latencies) report(b *testing.B) {
	b.ReportMetric(float64(l.pct(0.50).Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(l.pct(0.95).Microseconds())/1000, "p95_ms")
	b.ReportMetric(float64(l.pct(0.99).Microseconds())/1000, "p99_ms")
}

// benchCases is the queue size (YARDMASTER_BENCH_CASES overrides 100,000).
func benchCases() int {
	if v, err := strconv.Atoi(os.Getenv("YARDMASTER_BENCH_CASES")); err == nil && v > 0 {
		return v
	}
	return 100_000
}

// BenchmarkQueue100k seeds 100,000 live cases (5 carriers, 6 teams, 500
// customers, 20 assignees, every severity and SLA state) and measures,
// per operation, the queue listing with filters and sort, a status change,
// and a bulk acknowledge of 5,000 cases. Run on PostgreSQL too with
// YARDMASTER_TEST_DATABASE_URL set.
//
//	go test ./triage/ -run XXX -bench Queue100k -benchtime 400x -timeout 60m
func BenchmarkQueue100k(b *testing.B) {
	run := func(b *testing.B, d *db.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
		var users []string
		var mgr context.Context
		for i := 0; i < 20; i++ {
			u, err := auth.CreateUser(ctx, d, now, auth.UserSpec{Username: fmt.Sprintf("agent%02d", i), Role: auth.RoleManager, Password: "a long bench password"})
			if err != nil {
				b.Fatal(err)
			}
			users = append(users, u.ID)
			if i == 0 {
				mgr = as(u.Principal())
			}
		}
		acct, err := auth.CreateUser(ctx, d, now, auth.UserSpec{Username: "account", Role: auth.RoleAccount, Team: "team-3", Password: "a long bench password"})
		if err != nil {
			b.Fatal(err)
		}
		p := triage.DefaultPolicy()
		start := time.Now()
		n := benchCases()
		caseIDs, err := triage.SeedCases(ctx, d, p, triage.SeedSpec{N: n, Now: now, Users: users, Seed: 7})
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("seeded %d cases in %s", n, time.Since(start).Round(time.Millisecond))
		svc, err := triage.New(triage.Options{DB: d, Policy: p, Now: func() time.Time { return now }})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := svc.SetAccountCustomers(ctx, acct.ID, []string{"5", "17", "99"}); err != nil {
			b.Fatal(err)
		}
		acctCtx := as(acct.Principal())
		// Refresh planner statistics the way a running database has them.
		if d.IsPostgres() {
			_, err = d.ExecContext(ctx, "ANALYZE")
		} else {
			_, err = d.ExecContext(ctx, "ANALYZE")
		}
		if err != nil {
			b.Fatal(err)
		}
		first, err := svc.List(ctx, triage.ListFilter{})
		if err != nil {
			b.Fatal(err)
		}
		type listCase struct {
			name string
			ctx  context.Context
			f    triage.ListFilter
		}
		lists := []listCase{
			{"queue", ctx, triage.ListFilter{}},
			{"queue_page2", ctx, triage.ListFilter{Cursor: first.NextCursor}},
			{"team", ctx, triage.ListFilter{Team: "carrier-claims"}},
			{"assigned_to_me", mgr, triage.ListFilter{Assignee: "me"}},
			{"unassigned_critical", ctx, triage.ListFilter{Assignee: "none", Severities: []rules.Severity{rules.SeverityCritical}}},
			{"carrier_high", ctx, triage.ListFilter{Carrier: "dhl_express", Severities: []rules.Severity{rules.SeverityHigh, rules.SeverityCritical}}},
			{"customer", ctx, triage.ListFilter{Customer: "42"}},
			{"sla_breached", ctx, triage.ListFilter{SLAStates: []string{triage.SLABreached}}},
			{"sla_at_risk_team", ctx, triage.ListFilter{SLAStates: []string{triage.SLAAtRisk}, Team: "warehouse"}},
			{"state_open", ctx, triage.ListFilter{States: []triage.State{triage.StateOpen}}},
			{"search_tracking_suffix", ctx, triage.ListFilter{Q: "0000004242"}},
			{"search_customer", ctx, triage.ListFilter{Q: "customer 17"}},
			{"search_order", ctx, triage.ListFilter{Q: "S0999"}},
			{"due_soonest", ctx, triage.ListFilter{Sort: "due"}},
			{"newest", ctx, triage.ListFilter{Sort: "newest"}},
			{"account_user", acctCtx, triage.ListFilter{}},
		}
		b.Run("list", func(b *testing.B) {
			per := map[string]latencies{}
			var all latencies
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				lc := lists[i%len(lists)]
				t0 := time.Now()
				if _, err := svc.List(lc.ctx, lc.f); err != nil {
					b.Fatalf("%s: %v", lc.name, err)
				}
				d := time.Since(t0)
				per[lc.name] = append(per[lc.name], d)
				all = append(all, d)
			}
			b.StopTimer()
			all.report(b)
			if b.N < len(lists)*5 {
				return
			}
			for _, lc := range lists {
				l := per[lc.name]
				b.Logf("%-24s p50 %6.2f ms  p95 %6.2f ms  max %6.2f ms  (n=%d)", lc.name, ms(l.pct(0.5)), ms(l.pct(0.95)), ms(l.pct(1)), len(l))
			}
		})
		r := rand.New(rand.NewPCG(1, 2))
		b.Run("status_change", func(b *testing.B) {
			ops := []func(id string) triage.Op{
				func(string) triage.Op { return triage.Op{Name: "acknowledge"} },
				func(string) triage.Op { return triage.Op{Name: "assign", AssigneeID: &users[r.IntN(len(users))]} },
				func(string) triage.Op { u := now.Add(4 * time.Hour); return triage.Op{Name: "snooze", Until: &u} },
				func(string) triage.Op { return triage.Op{Name: "resolve", Reason: "fixed"} },
			}
			var all latencies
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := caseIDs[r.IntN(len(caseIDs))]
				op := ops[i%len(ops)](id)
				t0 := time.Now()
				_, err := svc.Apply(mgr, id, op)
				all = append(all, time.Since(t0))
				if err != nil && !isConflict(err) {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			all.report(b)
		})
		b.Run("bulk_ack_5000", func(b *testing.B) {
			var all latencies
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				var ids []string
				if err := d.NewSelect().Table("triage_cases").Column("id").Where("state = 'open'").
					OrderExpr("id").Offset(int64(r.IntN(1000))).Limit(5000).Scan(ctx, &ids); err != nil {
					b.Fatal(err)
				}
				if len(ids) < 5000 {
					b.Skipf("only %d open cases left", len(ids))
				}
				b.StartTimer()
				t0 := time.Now()
				res, err := svc.Bulk(mgr, triage.BulkInput{Op: triage.Op{Name: "acknowledge"}, IDs: ids})
				all = append(all, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				if res.Changed != 5000 {
					b.Fatalf("bulk acknowledge changed %d of 5000", res.Changed)
				}
			}
			all.report(b)
		})
	}
	b.Run("sqlite", func(b *testing.B) { run(b, testenv.SQLite(b)) })
	b.Run("postgres", func(b *testing.B) { run(b, testenv.Postgres(b)) })
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func isConflict(err error) bool {
	return err != nil && (containsAny(err.Error(), "conflict", "cannot "))
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if len(s) >= len(x) {
			for i := 0; i+len(x) <= len(s); i++ {
				if s[i:i+len(x)] == x {
					return true
				}
			}
		}
	}
	return false
}
