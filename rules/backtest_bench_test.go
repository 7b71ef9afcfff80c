package rules

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/config"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/secretbox"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// peakRSSMB reads the process's peak resident set size (VmHWM).
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// benchCandidate is the baseline with every tenth rule narrowed.
func benchCandidate(base *Ruleset) *Ruleset {
	c := base.Clone()
	for i := range c.Rules {
		if i%10 == 0 {
			c.Rules[i].When = "(" + c.Rules[i].When + ") && shipment.eventCount > 2"
		}
	}
	return c
}

// seedStoredEvents sends n events through the real intake pipeline with
// the rules stage (baseline active, Odoo context for half the orders), as
// production would have stored them.
func seedStoredEvents(tb testing.TB, d *db.DB, svc *Service, n int) {
	tb.Helper()
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &testClock{t: start}
	box, err := secretbox.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		tb.Fatal(err)
	}
	reg := intake.NewRegistry(d, box, clk.Now)
	in := intake.NewService(d, reg, intake.ServiceOptions{Now: clk.Now, DefaultRate: 1e9,
		Pipeline: intake.PipelineOptions{MaxBatch: 512, MaxWait: time.Millisecond, Now: clk.Now}})
	defer in.Close()
	in.Pipeline.AddStage(svc.Stage(nil))
	if _, err := reg.Add(ctx, intake.AddSource{Name: "bench", Kind: intake.KindCanonical}); err != nil && !strings.Contains(err.Error(), "exists") {
		tb.Fatal(err)
	}
	src, err := reg.Get(ctx, "bench")
	if err != nil {
		tb.Fatal(err)
	}
	r := rand.New(rand.NewSource(99))
	statuses := []intake.Status{intake.StatusInfoReceived, intake.StatusPickedUp, intake.StatusInTransit, intake.StatusInTransit,
		intake.StatusOutForDelivery, intake.StatusDeliveryAttempted, intake.StatusDelivered}
	var evs []*intake.Event
	begin := time.Now()
	for i := 0; i < n; i++ {
		ship, step := i/len(statuses), i%len(statuses)
		at := clk.Now()
		ev := &intake.Event{
			Source: "bench", SourceEventID: fmt.Sprintf("b%d", i), Carrier: synthCarriers[ship%len(synthCarriers)],
			TrackingNumber: fmt.Sprintf("BT%09d", ship), Status: statuses[step], RawCode: fmt.Sprintf("E%02d", r.Intn(100)),
			OccurredAt: at.Add(-time.Duration(r.Intn(600)) * time.Minute), ReceivedAt: at, TZKnown: true,
			Location: &intake.Location{Country: []string{"DE", "US", "FR", "CN"}[r.Intn(4)]},
		}
		if r.Intn(10) < 3 {
			ev.Exception = &intake.Exception{Reason: intake.Reason(synthReasons[r.Intn(len(synthReasons))])}
		}
		if step == 0 {
			p := at.Add(time.Duration(48+r.Intn(96)) * time.Hour)
			ev.PromisedDelivery = &p
			ev.OrderRef = fmt.Sprintf("S%07d", ship)
		}
		evs = append(evs, ev)
		if len(evs) == 512 {
			if _, err := in.SubmitImported(ctx, src, nil, evs); err != nil {
				tb.Fatal(err)
			}
			evs = nil
			clk.Add(37 * time.Second)
		}
		if i > 0 && i%100000 == 0 {
			tb.Logf("seeded %d events (%.0f/s)", i, float64(i)/time.Since(begin).Seconds())
		}
	}
	if len(evs) > 0 {
		if _, err := in.SubmitImported(ctx, src, nil, evs); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkBacktestStored replays stored events through two 1,000-rule
// rulesets (acceptance 4). The events are seeded once through the intake
// pipeline; set YARDMASTER_BACKTEST_DB to keep and reuse the seeded SQLite
// file and YARDMASTER_BACKTEST_EVENTS for the count (default 100,000; the
// acceptance run uses 1,000,000). Reports events/s and the process's peak
// RSS; seed and measure in separate runs to read the backtest's own peak.
func BenchmarkBacktestStored(b *testing.B) {
	n := envInt("YARDMASTER_BACKTEST_EVENTS", 100000)
	path := os.Getenv("YARDMASTER_BACKTEST_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "backtest.db")
	}
	ctx := context.Background()
	d, err := db.Open(ctx, config.SQLite, path, db.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	lookup := ContextLookupFunc(func(ctx context.Context, idb bun.IDB, ev *intake.Event, sh *intake.Shipment) (*Order, *Customer, error) {
		if sh == nil || sh.OrderRef == "" || len(sh.OrderRef) < 2 || (sh.OrderRef[len(sh.OrderRef)-1]-'0')%2 == 1 {
			return nil, nil, nil
		}
		return &Order{Known: true, Ref: sh.OrderRef, Amount: float64(len(sh.TrackingNumber) * 97), Currency: "EUR"}, &Customer{Known: true, Name: "Acme", Tier: "gold"}, nil
	})
	svc := New(d, Options{AllowUntested: true, Lookup: lookup, Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }})
	if err := svc.Init(ctx); err != nil {
		b.Fatal(err)
	}
	baseRS := syntheticRuleset(1000, 42)
	actx := as("bench", auth.RoleAdmin)
	if a := svc.Active(); a == nil || len(a.Ruleset.Rules) != 1000 {
		if _, err := svc.Import(actx, baseRS, true); err != nil {
			b.Fatal(err)
		}
		if _, err := svc.Publish(actx, "benchmark baseline"); err != nil {
			b.Fatal(err)
		}
	}
	var stored int
	if err := d.NewSelect().TableExpr("intake_events").ColumnExpr("COUNT(*)").Scan(ctx, &stored); err != nil {
		b.Fatal(err)
	}
	if stored < n {
		t0 := time.Now()
		seedStoredEvents(b, d, svc, n-stored)
		b.Logf("seeded %d events in %s", n-stored, time.Since(t0).Round(time.Second))
	}
	cand := benchCandidate(svc.Active().Ruleset)
	runtime.GC()
	b.ResetTimer()
	var rep *BacktestReport
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		rep, err = svc.BacktestNow(ctx, BacktestRequest{Ruleset: cand, MaxExamples: 20}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(rep.Events)/time.Since(t0).Seconds(), "events/s")
	}
	b.StopTimer()
	b.ReportMetric(float64(rep.Events), "events")
	b.ReportMetric(float64(rep.Changed), "changed")
	b.ReportMetric(peakRSSMB(), "peak-rss-MB")
}

// BenchmarkPublish1000 publishes 1,000 drafted rules on SQLite: read the
// drafts, compile with lint, run 2,000 test cases, hash, store the version
// and activate it (the import that changes one rule between iterations is
// not timed).
func BenchmarkPublish1000(b *testing.B) {
	ctx := context.Background()
	d, err := db.Open(ctx, config.SQLite, filepath.Join(b.TempDir(), "publish.db"), db.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	svc := New(d, Options{})
	if err := svc.Init(ctx); err != nil {
		b.Fatal(err)
	}
	rs := withTests(syntheticRuleset(1000, 42), syntheticInputs(2000, 9))
	actx := as("bench", auth.RoleAdmin)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		rs.Rules[0].Description = fmt.Sprintf("revision %d", i)
		if _, err := svc.Import(actx, rs, true); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := svc.Publish(actx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Report.Tests) < 1500 {
			b.Fatalf("only %d tests ran", len(res.Report.Tests))
		}
	}
}
