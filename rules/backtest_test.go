package rules

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/secretbox"
	"github.com/yardmaster/yardmaster/internal/testenv"
)

// The backtester reports no change for identical rulesets and the exact
// changes for a modified candidate.
func TestBacktester(t *testing.T) {
	inputs := syntheticInputs(2000, 5)
	base := mustCompile(t, syntheticRuleset(200, 1))
	same := NewBacktester(base, base, 5, nil)
	for _, in := range inputs {
		if err := same.Add(in); err != nil {
			t.Fatal(err)
		}
	}
	if rep := same.Report(); rep.Changed != 0 || rep.PrimaryChanged != 0 || len(rep.Transitions) != 0 || rep.Events != 2000 {
		t.Fatalf("identical rulesets: %+v", rep)
	}

	// Candidate: the first rule that is ever primary is disabled; a new
	// catch-all rule with the lowest priority classifies everything else.
	cand := syntheticRuleset(200, 1)
	var disabled string
	e := NewEvaluator(EvalOptions{Deadline: -1})
	for _, in := range inputs {
		rec, _ := e.Evaluate(base, in)
		if rec.Outcome != nil {
			disabled = rec.Outcome.RuleID
			break
		}
	}
	for i := range cand.Rules {
		if cand.Rules[i].ID == disabled {
			cand.Rules[i].Mode = ModeDisabled
		}
	}
	cand.Rules = append(cand.Rules, Rule{ID: "catch_all", Name: "Catch all", Priority: 10000, EventTypes: []string{"*"}, When: "true",
		Category: "other", Severity: SeverityInfo})
	cc := mustCompile(t, cand)
	bt := NewBacktester(base, cc, 3, nil)
	wantChanged := int64(0)
	eb, ec := NewEvaluator(EvalOptions{Deadline: -1}), NewEvaluator(EvalOptions{Deadline: -1})
	for _, in := range inputs {
		if err := bt.Add(in); err != nil {
			t.Fatal(err)
		}
		rb, _ := eb.Evaluate(base, in)
		rc, _ := ec.Evaluate(cc, in)
		if classOf(rb).Category != classOf(rc).Category || classOf(rb).Severity != classOf(rc).Severity {
			wantChanged++
		}
	}
	// The candidate's records reuse the baseline's results for identical
	// rules; they must be byte-identical to independent evaluation.
	pair := bt.newPair()
	for _, in := range inputs[:500] {
		_, rc, err := pair.eval(bt, in)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := ec.Evaluate(cc, in)
		a, _ := rc.Marshal()
		w, _ := want.Marshal()
		if string(a) != string(w) {
			t.Fatalf("memoised candidate record differs:\n%s\n%s", a, w)
		}
	}
	rep := bt.Report()
	if rep.Changed != wantChanged || wantChanged == 0 {
		t.Fatalf("changed = %d, want %d", rep.Changed, wantChanged)
	}
	if len(rep.Examples) != 3 {
		t.Errorf("examples = %d, want 3", len(rep.Examples))
	}
	var toOther int64
	for _, tr := range rep.Transitions {
		if tr.From == Unclassified && tr.To == "other" {
			toOther = tr.Count
		}
	}
	if toOther == 0 {
		t.Errorf("no unclassified → other transition: %+v", rep.Transitions)
	}
	for _, r := range rep.Rules {
		if r.RuleID == disabled && (r.Baseline.Primary == 0 || r.Candidate.Matched != 0) {
			t.Errorf("disabled rule stats: %+v %+v", r.Baseline, r.Candidate)
		}
		if r.RuleID == "catch_all" && (r.Baseline != nil || r.Candidate.Matched != 2000) {
			t.Errorf("catch_all stats: %+v %+v", r.Baseline, r.Candidate)
		}
	}
	masked := false
	for _, n := range rep.NeverWin {
		masked = masked || strings.Contains(n.Reason, "masked")
	}
	if len(rep.NeverWin) == 0 || !masked {
		t.Errorf("never win = %+v", rep.NeverWin)
	}
	if len(rep.Overlaps) == 0 || rep.Overlaps[0].Count < rep.Overlaps[len(rep.Overlaps)-1].Count {
		t.Errorf("overlaps = %+v", rep.Overlaps)
	}
}

// intakeEnv runs the real intake pipeline with the rules stage.
type intakeEnv struct {
	d     *db.DB
	clk   *testClock
	rules *Service
	in    *intake.Service
	src   *intake.Source
}

func newIntakeEnv(t *testing.T, d *db.DB, lookup ContextLookup) *intakeEnv {
	t.Helper()
	clk := &testClock{t: ts("2026-03-10T09:00:00Z")}
	box, err := secretbox.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	reg := intake.NewRegistry(d, box, clk.Now)
	in := intake.NewService(d, reg, intake.ServiceOptions{Now: clk.Now, DefaultRate: 1e9,
		Pipeline: intake.PipelineOptions{MaxBatch: 256, MaxWait: 2 * time.Millisecond}})
	t.Cleanup(in.Close)
	rules := newService(t, d, clk, Options{Lookup: lookup})
	in.Pipeline.AddStage(rules.Stage(nil))
	if _, err := reg.Add(context.Background(), intake.AddSource{Name: "import", Kind: intake.KindCanonical}); err != nil {
		t.Fatal(err)
	}
	src, err := reg.Get(context.Background(), "import")
	if err != nil {
		t.Fatal(err)
	}
	return &intakeEnv{d: d, clk: clk, rules: rules, in: in, src: src}
}

// submit sends n events (a few per shipment) through the pipeline.
func (e *intakeEnv) submit(t testing.TB, n int) {
	t.Helper()
	var evs []*intake.Event
	flush := func() {
		if len(evs) == 0 {
			return
		}
		if _, err := e.in.SubmitImported(context.Background(), e.src, nil, evs); err != nil {
			t.Fatal(err)
		}
		evs = nil
	}
	statuses := []intake.Status{intake.StatusInfoReceived, intake.StatusPickedUp, intake.StatusInTransit, intake.StatusDeliveryAttempted, intake.StatusDeliveryAttempted}
	for i := 0; i < n; i++ {
		ship, step := i/5, i%5
		ev := &intake.Event{
			Source: "import", SourceEventID: fmt.Sprintf("bt-%d", i), Carrier: []string{"ups", "fedex"}[ship%2],
			TrackingNumber: fmt.Sprintf("TRK%07d", ship), Status: statuses[step],
			OccurredAt: e.clk.Now().Add(-time.Duration(48-step*6) * time.Hour), TZKnown: true,
			ReceivedAt: e.clk.Now().Add(-time.Duration(47-step*6) * time.Hour),
		}
		if step >= 3 {
			ev.Exception = &intake.Exception{Reason: "recipient_unavailable"}
		}
		evs = append(evs, ev)
		if len(evs) == 200 {
			flush()
		}
	}
	flush()
}

// Events flow through the intake pipeline into rules (records stored,
// Odoo context looked up); a backtest over the stored events replays
// exactly what rules saw and finds what a candidate changes.
func TestBacktestOverStoredEvents(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		lookup := ContextLookupFunc(func(ctx context.Context, idb bun.IDB, ev *intake.Event, sh *intake.Shipment) (*Order, *Customer, error) {
			if ev.Carrier != "ups" {
				return nil, nil, nil
			}
			return &Order{Known: true, Ref: "S-" + ev.TrackingNumber, Amount: 2500, Currency: "EUR"}, &Customer{Known: true, Name: "Acme", Tier: "gold"}, nil
		})
		env := newIntakeEnv(t, d, lookup)
		env.submit(t, 500)

		// Stored evaluations name the active version and keep the context.
		var n int
		if err := d.NewSelect().Model((*evaluationRow)(nil)).ColumnExpr("COUNT(*)").Scan(context.Background(), &n); err != nil || n != 500 {
			t.Fatalf("stored evaluations = %d, %v", n, err)
		}
		var withCtx int
		if err := d.NewSelect().Model((*evaluationRow)(nil)).ColumnExpr("COUNT(*)").Where("context <> ''").Scan(context.Background(), &withCtx); err != nil || withCtx != 250 {
			t.Fatalf("evaluations with context = %d, %v", withCtx, err)
		}

		// Candidate: a high-value rule that needs the replayed Odoo context.
		ann := as("ann", auth.RoleAnalyst)
		r := Rule{ID: "high_value_attempt", Name: "High-value attempt", Priority: 5, EventTypes: []string{"status:delivery_attempted"},
			When: `order.known && order.amount > 1000`, Category: "high_value_attempt", Severity: SeverityCritical}
		if _, err := env.rules.CreateRule(ann, r); err != nil {
			t.Fatal(err)
		}
		var calls int
		rep, err := env.rules.BacktestNow(context.Background(), BacktestRequest{Candidate: "draft", MaxExamples: 5},
			func(int64, time.Time) error { calls++; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if rep.Events != 500 || calls == 0 {
			t.Fatalf("events = %d, progress calls %d", rep.Events, calls)
		}
		// 50 ups shipments × 2 attempt events each.
		if rep.Changed != 100 || rep.Candidate.Hash == rep.Baseline.Hash {
			t.Fatalf("changed = %d (%+v)", rep.Changed, rep.Transitions)
		}
		for _, ex := range rep.Examples {
			if ex.After.Rule != "high_value_attempt" {
				t.Errorf("example %+v", ex)
			}
		}
		// The baseline replay matches what was stored live, event by event.
		base := env.rules.Active()
		e := NewEvaluator(EvalOptions{Deadline: -1})
		err = intake.Store{}.StreamEvents(context.Background(), d.Read, intake.StreamFilter{}, func(se *intake.StoredEvent) error {
			stored, err := env.rules.Evaluation(context.Background(), se.Event.ID)
			if err != nil {
				return err
			}
			in := &Input{Event: se.Event, Shipment: se.Shipment}
			if stored.Context != nil {
				in.Order, in.Customer = stored.Context.Order, stored.Context.Customer
			}
			rec, err := e.Evaluate(base, in)
			if err != nil {
				return err
			}
			b, _ := rec.Marshal()
			if string(b) != string(stored.Record) {
				return fmt.Errorf("replay of %s differs:\n%s\n%s", se.Event.ID, b, stored.Record)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// A stored backtest runs (here in a goroutine: no queue), reports progress
// and can be cancelled.
func TestStoredBacktest(t *testing.T) {
	d := testenv.SQLite(t)
	env := newIntakeEnv(t, d, nil)
	env.submit(t, 300)
	ann := as("ann", auth.RoleAnalyst)
	run, err := env.rules.StartBacktest(ann, nil, BacktestRequest{Candidate: "active"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := env.rules.GetBacktest(context.Background(), run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == BacktestDone {
			if got.Report == nil || got.Report.Events != 300 || got.Report.Changed != 0 || got.Processed != 300 {
				t.Fatalf("report = %+v", got.Report)
			}
			break
		}
		if got.Status == BacktestFailed || time.Now().After(deadline) {
			t.Fatalf("backtest %s: %s", got.Status, got.Error)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := env.rules.CancelBacktest(ann, run.ID); err == nil {
		t.Fatal("cancelling a finished backtest must conflict")
	}
	// A cancellation requested before the run starts is honoured.
	run2, err := env.rules.StartBacktest(ann, nil, BacktestRequest{Candidate: "draft", From: ts("2026-03-01T00:00:00Z"), To: ts("2026-03-20T00:00:00Z")})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = env.rules.CancelBacktest(ann, run2.ID)
	for {
		got, err := env.rules.GetBacktest(context.Background(), run2.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == BacktestCancelled || got.Status == BacktestDone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backtest %s still %s", run2.ID, got.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	list, err := env.rules.ListBacktests(context.Background(), 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("list = %d, %v", len(list), err)
	}
	// An empty range is refused.
	if _, err := env.rules.StartBacktest(ann, nil, BacktestRequest{From: ts("2026-03-02T00:00:00Z"), To: ts("2026-03-01T00:00:00Z")}); err == nil {
		t.Fatal("want an error for to before from")
	}
}
