package rules

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/config"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newService(t *testing.T, d *db.DB, clk *testClock, opts Options) *Service {
	t.Helper()
	opts.Now = clk.Now
	s := New(d, opts)
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); s.Close() })
	return s
}

// as returns a context acting as a user.
func as(user string, role auth.Role) context.Context {
	p := auth.Principal{Kind: "user", ID: user, Name: strings.ToUpper(user[:1]) + user[1:], Role: role}
	ctx := auth.WithPrincipal(context.Background(), p)
	return audit.WithActor(ctx, audit.Actor{Type: "user", ID: user, Name: p.Name})
}

// starterBatch returns the starter fixtures as pipeline items.
func starterBatch(t *testing.T) []*intake.Processed {
	t.Helper()
	rs, err := Starter()
	if err != nil {
		t.Fatal(err)
	}
	var out []*intake.Processed
	for _, r := range rs.Rules {
		for _, tc := range r.Tests {
			in := tc.Input
			out = append(out, &intake.Processed{Event: in.Event, Shipment: in.Shipment, Source: in.Event.Source})
		}
	}
	return out
}

// eachDBPair runs fn on SQLite and PostgreSQL with two connection pools on
// the same database, as two processes would have.
func eachDBPair(t *testing.T, fn func(t *testing.T, d1, d2 *db.DB)) {
	t.Helper()
	open := func(t *testing.T, dialect config.Dialect, dsn string) *db.DB {
		d, err := db.Open(context.Background(), dialect, dsn, db.Options{MaxOpenConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.Close() })
		return d
	}
	t.Run("sqlite", func(t *testing.T) {
		d1 := testenv.SQLite(t)
		fn(t, d1, open(t, config.SQLite, d1.Path))
	})
	t.Run("postgres", func(t *testing.T) {
		url := testenv.PostgresURL(t)
		d1 := open(t, config.Postgres, url)
		if _, err := d1.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		fn(t, d1, open(t, config.Postgres, url))
	})
}

func TestStarterInstalledOnce(t *testing.T) {
	eachDBPair(t, func(t *testing.T, d, d2 *db.DB) {
		clk := &testClock{t: ts("2026-03-10T09:00:00Z")}
		s := newService(t, d, clk, Options{})
		c := s.Active()
		if c == nil || c.Version != 1 || len(c.Ruleset.Rules) < 18 {
			t.Fatalf("active = %+v", c)
		}
		// A second process starting later does not install it again.
		s2 := newService(t, d2, clk, Options{})
		if s2.Active().Hash != c.Hash {
			t.Fatal("second process sees another ruleset")
		}
		vs, err := s.Versions(context.Background(), 0)
		if err != nil || len(vs) != 1 || !vs[0].Active {
			t.Fatalf("versions = %+v, %v", vs, err)
		}
		drafts, err := s.ListRules(context.Background())
		if err != nil || len(drafts) != len(c.Ruleset.Rules) || drafts[0].Published != 1 {
			t.Fatalf("drafts: %d, %v", len(drafts), err)
		}
		entries, err := audit.ForSubject(context.Background(), d, "ruleset", "1")
		if err != nil || len(entries) != 1 || entries[0].Action != "ruleset.published" {
			t.Fatalf("audit: %+v %v", entries, err)
		}
	})
}

// Acceptance 1: the same event and ruleset version give a byte-identical
// stored record on SQLite and PostgreSQL, and again a week later.
func TestEvaluateBatchByteIdentical(t *testing.T) {
	stored := map[string]map[string]string{}
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		clk := &testClock{t: ts("2026-03-10T09:00:00Z")}
		s := newService(t, d, clk, Options{})
		batch := starterBatch(t)
		var recs []*Record
		err := d.InTx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
			var err error
			recs, err = s.EvaluateBatch(ctx, tx, batch)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for i, p := range batch {
			se, err := s.Evaluation(context.Background(), p.Event.ID)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := recs[i].Marshal()
			if string(se.Record) != string(b) {
				t.Fatalf("stored record differs from the returned one:\n%s\n%s", se.Record, b)
			}
			got[p.Event.ID] = string(se.Record)
		}
		stored[t.Name()] = got

		// A week later, on a fresh database: the same bytes.
		clk2 := &testClock{t: clk.Now().Add(7 * 24 * time.Hour)}
		s2 := newService(t, testenv.SQLite(t), clk2, Options{Clock: clk2.Now})
		e := s2.evaluator()
		for _, p := range batch {
			rec, err := e.Evaluate(s2.Active(), &Input{Event: p.Event, Shipment: p.Shipment})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := rec.Marshal()
			if string(b) != got[p.Event.ID] {
				t.Fatalf("a week later the record differs:\n%s\n%s", b, got[p.Event.ID])
			}
		}
	})
	if len(stored) == 2 {
		var sides []map[string]string
		for _, m := range stored {
			sides = append(sides, m)
		}
		for id, b := range sides[0] {
			if sides[1][id] != b {
				t.Errorf("event %s: SQLite and PostgreSQL records differ:\n%s\n%s", id, b, sides[1][id])
			}
		}
	}
}

func TestHitCounts(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		clk := &testClock{t: ts("2026-03-10T09:00:00Z")}
		s := newService(t, d, clk, Options{})
		batch := starterBatch(t)
		for round := 0; round < 2; round++ {
			b := make([]*intake.Processed, len(batch))
			for i, p := range batch {
				ev := *p.Event
				ev.ID = fmt.Sprintf("%s-%d", ev.ID, round)
				b[i] = &intake.Processed{Event: &ev, Shipment: p.Shipment}
			}
			if err := d.InTx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
				_, err := s.EvaluateBatch(ctx, tx, b)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		hits, err := s.Hits(context.Background(), "", 30)
		if err != nil {
			t.Fatal(err)
		}
		byRule := map[string]Hits{}
		for _, h := range hits {
			sum := byRule[h.RuleID]
			sum.RuleID, sum.Day = h.RuleID, h.Day
			sum.Matched += h.Matched
			sum.PrimaryHits += h.PrimaryHits
			sum.Suppressed += h.Suppressed
			sum.Shadow += h.Shadow
			sum.Errors += h.Errors
			if sum.LastHitAt == nil || (h.LastHitAt != nil && h.LastHitAt.After(*sum.LastHitAt)) {
				sum.LastHitAt = h.LastHitAt
			}
			byRule[h.RuleID] = sum
		}
		// unmapped_code is shadow: counted, never primary.
		um := byRule["unmapped_code"]
		if um.Shadow != 2 || um.PrimaryHits != 0 || um.LastHitAt == nil || !um.LastHitAt.Equal(ts("2026-03-04T10:05:00Z")) {
			t.Errorf("unmapped_code hits = %+v", um)
		}
		// late_delivery: matched by 3 fixtures per round, one suppressed (weather).
		ld := byRule["late_delivery"]
		if ld.Matched != 6 || ld.Suppressed != 2 || ld.PrimaryHits != 4 {
			t.Errorf("late_delivery hits = %+v", ld)
		}
		sum, err := s.store.HitSummaries(context.Background(), d.Read, ts("2026-01-01T00:00:00Z"))
		if err != nil {
			t.Fatal(err)
		}
		if sum["late_delivery"].Matched != 6 || sum["late_delivery"].LastHitAt == nil || !sum["late_delivery"].LastHitAt.Equal(ts("2026-03-08T10:05:00Z")) {
			t.Errorf("summary = %+v", sum["late_delivery"])
		}
	})
}

func newRule(id string, prio int, when string) Rule {
	return Rule{ID: id, Name: "Rule " + id, Priority: prio, EventTypes: []string{"status:in_transit"}, When: when,
		Category: id, Severity: SeverityHigh,
		Tests: []TestCase{
			{Name: "hit", Input: *baseInput(), Expect: Expectation{Match: boolp(true)}},
			{Name: "miss", Input: func() Input {
				in := *baseInput()
				ev := *in.Event
				ev.Status = intake.StatusDelivered
				in.Event = &ev
				return in
			}(), Expect: Expectation{Match: boolp(false)}},
		}}
}

// Acceptance 3: a ruleset whose test case fails cannot be published;
// publish, diff and rollback work and are audited.
func TestLifecycle(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		clk := &testClock{t: ts("2026-03-10T09:00:00Z")}
		s := newService(t, d, clk, Options{})
		ann := as("ann", auth.RoleAnalyst)
		v1 := s.Active()

		r := newRule("ups_watch", 5, `event.trackingNumber == "nope"`) // the "hit" test fails
		res, err := s.CreateRule(ann, r)
		if err != nil {
			t.Fatal(err)
		}
		if res.Rule.Rule.Version != 1 || res.Rule.CreatedBy != "user:ann" {
			t.Fatalf("created %+v", res.Rule)
		}
		_, err = s.Publish(ann, "watch ups")
		var pe *PublishError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), "ups_watch/hit") {
			t.Fatalf("publish with a failing test: %v", err)
		}
		if s.Active().Version != v1.Version {
			t.Fatal("a failed publish changed the active version")
		}

		// Fix the rule (optimistic locking: a stale version conflicts).
		r.When = `event.trackingNumber == "1Z1"`
		if _, err := s.UpdateRule(ann, r.ID, 7, r); apperr.KindOf(err) != apperr.KindConflict {
			t.Fatalf("stale update: %v", err)
		}
		if _, err := s.UpdateRule(ann, r.ID, 1, r); err != nil {
			t.Fatal(err)
		}
		// Invalid rules and duplicate priorities are refused at save.
		bad := newRule("bad", 6, `event.statuss == "x"`)
		if _, err := s.CreateRule(ann, bad); apperr.KindOf(err) != apperr.KindInvalid || !strings.Contains(fmt.Sprint(err.(*apperr.Error).Fields), "did you mean event.status") {
			t.Fatalf("invalid rule: %v", err)
		}
		dup := newRule("dup", 5, `true`)
		if _, err := s.CreateRule(ann, dup); apperr.KindOf(err) != apperr.KindInvalid {
			t.Fatalf("duplicate priority: %v", err)
		}

		pub, err := s.Publish(ann, "watch ups")
		if err != nil {
			t.Fatal(err)
		}
		if pub.Version.Version != 2 || pub.Version.Status != StatusPublished || s.Active().Version != 2 {
			t.Fatalf("published %+v active %d", pub.Version, s.Active().Version)
		}
		if rr, ok := s.Active().Rule("ups_watch"); !ok || rr.Version != 2 {
			t.Fatalf("active rule version: %+v", rr)
		}
		if _, err := s.Publish(ann, "again"); apperr.KindOf(err) != apperr.KindConflict {
			t.Fatalf("publishing unchanged drafts: %v", err)
		}

		diff, err := s.Diff(context.Background(), "1", "active")
		if err != nil {
			t.Fatal(err)
		}
		if len(diff.Added) != 1 || diff.Added[0].ID != "ups_watch" || len(diff.Removed) != 0 || len(diff.Changed) != 0 {
			t.Fatalf("diff = %+v", diff)
		}

		// Rollback republishes version 1 as version 3.
		rb, err := s.Rollback(ann, 1, "", false)
		if err != nil {
			t.Fatal(err)
		}
		if rb.Version != 3 || rb.RollbackOf != 1 || rb.Hash != v1.Hash || s.Active().Version != 3 || s.Active().Hash != v1.Hash {
			t.Fatalf("rollback = %+v, active %d %s", rb, s.Active().Version, s.Active().Hash)
		}
		if _, ok := s.Active().Rule("ups_watch"); ok {
			t.Fatal("rolled-back ruleset still has the new rule")
		}
		// The drafts still hold the new rule, so publishing again works.
		if _, err := s.Publish(ann, "again"); err != nil {
			t.Fatalf("republish after rollback: %v", err)
		}

		hist, err := s.RuleHistory(context.Background(), "ups_watch")
		if err != nil || len(hist) != 2 || hist[0].Version != 2 || hist[1].Change != "created" {
			t.Fatalf("history = %+v %v", hist, err)
		}
		entries, err := audit.List(context.Background(), d, audit.Filter{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range entries {
			actions = append(actions, e.Action)
		}
		for _, want := range []string{"rule.created", "rule.updated", "ruleset.published", "ruleset.rolled_back"} {
			if !strings.Contains(strings.Join(actions, ","), want) {
				t.Errorf("audit has no %s: %v", want, actions)
			}
		}
		if err := s.DeleteRule(ann, "ups_watch", 1); apperr.KindOf(err) != apperr.KindConflict {
			t.Fatalf("stale delete: %v", err)
		}
		if err := s.DeleteRule(ann, "ups_watch", 2); err != nil {
			t.Fatal(err)
		}
	})
}

// Four-eyes: the author cannot approve; another analyst can, and a second
// process switches to the approved version (acceptance 3).
func TestFourEyesAndTwoProcesses(t *testing.T) {
	eachDBPair(t, func(t *testing.T, d, d2 *db.DB) {
		clk := &testClock{t: ts("2026-03-10T09:00:00Z")}
		s := newService(t, d, clk, Options{FourEyes: true})
		other := newService(t, d2, clk, Options{FourEyes: true})
		ann, bob := as("ann", auth.RoleAnalyst), as("bob", auth.RoleAnalyst)
		if _, err := s.CreateRule(ann, newRule("ups_watch", 5, `event.trackingNumber == "1Z1"`)); err != nil {
			t.Fatal(err)
		}
		pub, err := s.Publish(ann, "please review")
		if err != nil {
			t.Fatal(err)
		}
		if pub.Version.Status != StatusPending || s.Active().Version != 1 {
			t.Fatalf("with four-eyes the version must wait: %+v", pub.Version)
		}
		if _, err := s.Approve(ann, 2, ""); apperr.KindOf(err) != apperr.KindForbidden {
			t.Fatalf("author approving: %v", err)
		}
		if _, err := other.Approve(bob, 2, "looks good"); err != nil {
			t.Fatal(err)
		}
		if other.Active().Version != 2 {
			t.Fatal("the approving process did not switch")
		}
		if err := s.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		if s.Active().Version != 2 {
			t.Fatal("the other process did not switch on refresh")
		}
		// A pending version based on an older active one cannot be approved.
		if _, err := s.UpdateRule(ann, "ups_watch", 1, newRule("ups_watch", 5, `event.trackingNumber in ["1Z1", "1Z2"]`)); err != nil {
			t.Fatal(err)
		}
		p3, err := s.Publish(ann, "more carriers")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rollback(bob, 1, "incident", false); err != nil {
			t.Fatal(err)
		}
		if _, err := other.Approve(bob, p3.Version.Version, ""); apperr.KindOf(err) != apperr.KindConflict {
			t.Fatalf("approving a stale request: %v", err)
		}
		if _, err := s.Reject(ann, p3.Version.Version, "superseded"); err != nil {
			t.Fatal(err)
		}
	})
}

// The poll loop switches a process without an explicit refresh.
func TestPollSwitches(t *testing.T) {
	d := testenv.SQLite(t)
	d2, err := db.Open(context.Background(), config.SQLite, d.Path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	clk := &testClock{t: ts("2026-03-10T09:00:00Z")}
	s := newService(t, d, clk, Options{})
	other := newService(t, d2, clk, Options{PollInterval: 20 * time.Millisecond})
	if _, err := s.CreateRule(as("ann", auth.RoleAnalyst), newRule("ups_watch", 5, `event.trackingNumber == "1Z1"`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish(as("ann", auth.RoleAnalyst), ""); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for other.Active().Version != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the other process did not switch within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestImportExportService(t *testing.T) {
	d := testenv.SQLite(t)
	clk := &testClock{t: ts("2026-03-10T09:00:00Z")}
	s := newService(t, d, clk, Options{})
	ann := as("ann", auth.RoleAnalyst)
	rs, err := s.Export(context.Background(), "active")
	if err != nil {
		t.Fatal(err)
	}
	y, err := MarshalYAML(rs)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseYAML(y)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Import(ann, back, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Unchanged) != len(rs.Rules) || len(res.Created)+len(res.Updated)+len(res.Deleted) != 0 {
		t.Fatalf("re-import of the active ruleset changed drafts: %+v", res)
	}
	// Import a file with one rule changed and one removed, replacing.
	back.Rules[0].Description = "changed in git"
	back.Rules = back.Rules[:len(back.Rules)-1]
	res, err = s.Import(ann, back, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Updated) != 1 || len(res.Deleted) != 1 {
		t.Fatalf("import = %+v", res)
	}
	// A file that does not compile changes nothing.
	broken := back.Clone()
	broken.Rules[1].When = `event.nope`
	if _, err := s.Import(ann, broken, true); apperr.KindOf(err) != apperr.KindInvalid {
		t.Fatalf("broken import: %v", err)
	}
	if _, err := s.Publish(ann, "from git"); err != nil {
		t.Fatal(err)
	}
}

// Several processes starting at once on a fresh database install the
// starter ruleset exactly once and all start.
func TestStarterConcurrentStart(t *testing.T) {
	eachDBPair(t, func(t *testing.T, d1, d2 *db.DB) {
		clk := &testClock{t: ts("2026-03-10T09:00:00Z")}
		errs := make(chan error, 4)
		for i := 0; i < 4; i++ {
			d := d1
			if i%2 == 1 {
				d = d2
			}
			go func() { errs <- New(d, Options{Now: clk.Now}).Init(context.Background()) }()
		}
		for i := 0; i < 4; i++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		var n int
		if err := d1.NewSelect().Model((*rulesetRow)(nil)).ColumnExpr("COUNT(*)").Scan(context.Background(), &n); err != nil || n != 1 {
			t.Fatalf("ruleset versions = %d, %v", n, err)
		}
	})
}

// Pruning runs hourly over a table that grows by every event: each slice
// must come from the evaluated_at index, not a scan of the table.
func TestPruneEvaluationsUsesIndexOnSQLite(t *testing.T) {
	d := testenv.DB(t)
	var plan []struct {
		ID      int    `bun:"id"`
		Parent  int    `bun:"parent"`
		NotUsed int    `bun:"notused"`
		Detail  string `bun:"detail"`
	}
	q := pruneSlice(d, ts("2026-03-05T00:00:00Z"))
	if err := d.NewRaw("EXPLAIN QUERY PLAN "+q.String()).Scan(context.Background(), &plan); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, p := range plan {
		lines = append(lines, p.Detail)
	}
	if got := strings.Join(lines, "\n"); !strings.Contains(got, "USING INDEX rule_evaluations_evaluated (evaluated_at<?)") {
		t.Fatalf("prune slice plan:\n%s", got)
	}
}

func TestPruneEvaluations(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		clk := &testClock{t: ts("2026-03-10T09:00:00Z")}
		s := newService(t, d, clk, Options{})
		batch := starterBatch(t)
		if err := d.InTx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
			_, err := s.EvaluateBatch(ctx, tx, batch)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		// Fixtures were received between 2026-03-03 and 2026-03-10.
		n, err := s.Store().PruneEvaluations(context.Background(), d, ts("2026-03-05T00:00:00Z"))
		if err != nil || n == 0 {
			t.Fatalf("pruned %d, %v", n, err)
		}
		var left int
		if err := d.NewSelect().Model((*evaluationRow)(nil)).ColumnExpr("COUNT(*)").Where("evaluated_at < ?", ts("2026-03-05T00:00:00Z")).Scan(context.Background(), &left); err != nil || left != 0 {
			t.Fatalf("left %d old records, %v", left, err)
		}
	})
}
