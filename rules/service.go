package rules

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/logx"
	"github.com/yardmaster/yardmaster/internal/metrics"
)

// ContextLookup gives rules the Odoo context of an event (sale order and
// customer) from the local Odoo mirror, inside the pipeline transaction.
// internal/app plugs the mirror in; rules never calls Odoo. Returning nil
// for either means "not known" (order.known / customer.known are false).
type ContextLookup interface {
	Lookup(ctx context.Context, idb bun.IDB, ev *intake.Event, sh *intake.Shipment) (*Order, *Customer, error)
}

// ContextLookupFunc adapts a function to ContextLookup.
type ContextLookupFunc func(ctx context.Context, idb bun.IDB, ev *intake.Event, sh *intake.Shipment) (*Order, *Customer, error)

// Lookup calls f.
func (f ContextLookupFunc) Lookup(ctx context.Context, idb bun.IDB, ev *intake.Event, sh *intake.Shipment) (*Order, *Customer, error) {
	return f(ctx, idb, ev, sh)
}

// EventSource streams stored events with the shipment state as of each, in
// processing order (intake.Store implements it). Backtests read it.
type EventSource interface {
	StreamEvents(ctx context.Context, idb bun.IDB, f intake.StreamFilter, fn func(*intake.StoredEvent) error) error
}

// Options configure a Service.
type Options struct {
	Now    func() time.Time
	Log    *slog.Logger
	Lookup ContextLookup
	// Events is where backtests read stored events (intake.Store{}).
	Events EventSource
	// FourEyes makes publishing wait for approval by someone else.
	FourEyes bool
	// AllowUntested publishes rules without a matching and a non-matching
	// test case (the default requires both for active and shadow rules).
	AllowUntested bool
	// PollInterval is how often the active version row is checked for a
	// version published by another process (default 1s; the guarantee is
	// a switch within 5s).
	PollInterval time.Duration
	// Deadline per event (0: DefaultDeadline).
	Deadline time.Duration
	// Clock is read for deadlines and durations only (default time.Now).
	Clock func() time.Time
}

// Service is the rules feature of one process: drafts and versions in the
// database, the active compiled ruleset in memory (swapped atomically when
// any process publishes), evaluation inside the intake pipeline, hit
// counts and backtests.
type Service struct {
	db    *db.DB
	store Store
	opts  Options
	log   *slog.Logger

	active atomic.Pointer[Compiled]
	pool   sync.Pool // *Evaluator
	lookup atomic.Pointer[ContextLookup]
	next   atomic.Pointer[NextStage]

	mu       sync.Mutex // serializes refreshes
	cacheMu  sync.Mutex
	cache    map[string]*Compiled // compiled rulesets by hash (backtests, drafts)
	cacheOrd []string

	stop chan struct{}
	done chan struct{}
}

var (
	evalSeconds = promauto.With(metrics.Registry).NewHistogram(prometheus.HistogramOpts{
		Name: "yardmaster_rules_evaluation_seconds", Help: "Engine time per event (environment, candidate rules, outputs).",
		Buckets: []float64{5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2},
	})
	evalEvents = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_rules_events_total", Help: "Events evaluated, by result (classified, unclassified).",
	}, []string{"result"})
	evalErrors = promauto.With(metrics.Registry).NewCounter(prometheus.CounterOpts{
		Name: "yardmaster_rules_rule_errors_total", Help: "Rule run-time errors (the rule counted as not matching).",
	})
	evalDeadlines = promauto.With(metrics.Registry).NewCounter(prometheus.CounterOpts{
		Name: "yardmaster_rules_deadline_exceeded_total", Help: "Events whose evaluation stopped at the per-event deadline.",
	})
	activeVersion = promauto.With(metrics.Registry).NewGauge(prometheus.GaugeOpts{
		Name: "yardmaster_rules_active_version", Help: "The ruleset version this process evaluates with.",
	})
)

// New returns a Service. Call Start before evaluating.
func New(d *db.DB, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Log == nil {
		opts.Log = logx.Discard()
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.Events == nil {
		opts.Events = intake.Store{}
	}
	s := &Service{db: d, opts: opts, log: opts.Log.With("component", "rules"), cache: map[string]*Compiled{}}
	if opts.Lookup != nil {
		s.SetLookup(opts.Lookup)
	}
	s.pool.New = func() any { return NewEvaluator(EvalOptions{Deadline: opts.Deadline, Clock: opts.Clock}) }
	return s
}

// Store returns the service's store (for read APIs).
func (s *Service) Store() Store { return s.store }

// FourEyes reports whether publishing needs a second person.
func (s *Service) FourEyes() bool { return s.opts.FourEyes }

// Start is Init followed by StartPolling.
func (s *Service) Start(ctx context.Context) error {
	if err := s.Init(ctx); err != nil {
		return err
	}
	s.StartPolling(ctx)
	return nil
}

// Init installs the starter ruleset on first start and loads the active
// version, so the pipeline stage can evaluate.
func (s *Service) Init(ctx context.Context) error {
	if err := s.InstallStarter(ctx); err != nil {
		return err
	}
	return s.Refresh(ctx)
}

// StartPolling keeps the active version current (another process may
// publish) until ctx ends or Close is called.
func (s *Service) StartPolling(ctx context.Context) {
	if s.stop != nil {
		return
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.pollLoop(ctx)
}

// SetLookup plugs in the Odoo context lookup (internal/app, once the Odoo
// mirror exists); it may be called at any time.
func (s *Service) SetLookup(l ContextLookup) { s.lookup.Store(&l) }

// SetNext sets what runs after rules in the pipeline stage (triage's case
// upsert); it may be called at any time.
func (s *Service) SetNext(n NextStage) { s.next.Store(&n) }

// Close stops the poll loop.
func (s *Service) Close() {
	if s.stop == nil {
		return
	}
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

func (s *Service) pollLoop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.stop:
			return
		case <-t.C:
			if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("refresh active ruleset", "err", err)
			}
		}
	}
}

// Active returns the compiled active ruleset, or nil before one exists.
func (s *Service) Active() *Compiled { return s.active.Load() }

// Refresh reads the active version row (one indexed row, cheap enough to
// poll every second) and, when another process published, loads, compiles
// and swaps in the new version. Evaluations in flight finish with the
// version they started with.
func (s *Service) Refresh(ctx context.Context) error {
	version, hash, err := s.store.Active(ctx, s.db.Read)
	if err != nil {
		return err
	}
	if cur := s.active.Load(); version == 0 || (cur != nil && cur.Version == version && cur.Hash == hash) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.active.Load(); cur != nil && cur.Version == version {
		return nil
	}
	v, err := s.store.GetVersion(ctx, s.db.Read, version)
	if err != nil {
		return err
	}
	c, err := s.compileVersion(v)
	if err != nil {
		return err
	}
	s.swap(c)
	return nil
}

func (s *Service) swap(c *Compiled) {
	for {
		cur := s.active.Load()
		if cur != nil && cur.Version >= c.Version {
			return // never go back to an older version
		}
		if s.active.CompareAndSwap(cur, c) {
			activeVersion.Set(float64(c.Version))
			s.log.Info("active ruleset switched", "version", c.Version, "hash", c.Hash, "rules", len(c.rules))
			return
		}
	}
}

// compileVersion compiles a stored version (validated when it was
// published, so without lint).
func (s *Service) compileVersion(v *Version) (*Compiled, error) {
	c, rep := Compile(v.Content, CompileOptions{})
	if c == nil {
		return nil, fmt.Errorf("compile ruleset version %d: %w", v.Version, rep.Err())
	}
	if c.Hash != v.Hash {
		// The engine changed how content hashes (e.g. an expr upgrade):
		// the record must name what was published, so keep the stored hash.
		s.log.Warn("ruleset hash differs from the stored one; the engine version changed", "version", v.Version, "stored", v.Hash, "computed", c.Hash)
		c.Hash = v.Hash
	}
	c.Version = v.Version
	return c, nil
}

// compiled returns a compiled (not versioned) ruleset from the cache.
func (s *Service) compiled(rs *Ruleset, opts CompileOptions) (*Compiled, *Report) {
	n := rs.Clone()
	n.Normalize()
	key := n.Hash()
	if !opts.Lint && !opts.RequireTests {
		s.cacheMu.Lock()
		c := s.cache[key]
		s.cacheMu.Unlock()
		if c != nil {
			return c, &Report{OK: true, Hash: key, Errors: []Diagnostic{}, Warnings: []Diagnostic{}}
		}
	}
	c, rep := Compile(n, opts)
	if c != nil {
		s.cacheMu.Lock()
		if _, ok := s.cache[key]; !ok {
			s.cache[key] = c
			s.cacheOrd = append(s.cacheOrd, key)
			if len(s.cacheOrd) > 8 {
				delete(s.cache, s.cacheOrd[0])
				s.cacheOrd = s.cacheOrd[1:]
			}
		}
		s.cacheMu.Unlock()
	}
	return c, rep
}

func (s *Service) evaluator() *Evaluator { return s.pool.Get().(*Evaluator) }
func (s *Service) release(e *Evaluator)  { s.pool.Put(e) }
func (s *Service) requireTests() bool    { return !s.opts.AllowUntested }
func (s *Service) now() time.Time        { return s.opts.Now().UTC() }
func (s *Service) auditNow() time.Time   { return s.opts.Now() }
func withTx(ctx context.Context, d *db.DB, fn func(ctx context.Context, tx bun.Tx) error) error {
	return d.InTx(ctx, fn)
}

// Identity is who acts, as stored in created_by/updated_by and compared
// for four-eyes: the user behind a session or a user's token, else the
// token, else the audit actor (system).
func Identity(ctx context.Context) string {
	if p, ok := auth.From(ctx); ok {
		switch {
		case p.UserID != "":
			return "user:" + p.UserID
		case p.Kind == "user":
			return "user:" + p.ID
		default:
			return p.Kind + ":" + p.ID
		}
	}
	a := audit.ActorFrom(ctx)
	return a.Type + ":" + a.ID
}

// InstallStarter imports and publishes the starter ruleset when the
// database has no ruleset version and no draft rule yet (first start).
// Several processes starting at once install it once.
func (s *Service) InstallStarter(ctx context.Context) error {
	version, _, err := s.store.Active(ctx, s.db.Read)
	if err != nil {
		return err
	}
	if version > 0 {
		return nil
	}
	rs, err := Starter()
	if err != nil {
		return err
	}
	c, rep := Compile(rs, CompileOptions{RequireTests: true})
	if c == nil {
		return fmt.Errorf("starter ruleset: %w", rep.Err())
	}
	e := s.evaluator()
	defer s.release(e)
	for _, r := range c.RunTests(e) {
		if !r.Passed {
			return fmt.Errorf("starter ruleset: test %s/%s fails: %v", r.Rule, r.Test, r.Failures)
		}
	}
	ctx = audit.WithActor(ctx, audit.System)
	err = withTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		if v, _, err := s.store.Active(ctx, tx); err != nil || v > 0 {
			return err
		}
		var n int
		if err := tx.NewSelect().Model((*draftRow)(nil)).ColumnExpr("COUNT(*)").Scan(ctx, &n); err != nil {
			return fmt.Errorf("count draft rules: %w", err)
		}
		if n > 0 {
			return nil // someone is editing drafts; do not publish over them
		}
		now := s.now()
		content := c.Ruleset.Clone()
		for i := range content.Rules {
			r := &content.Rules[i]
			if err := s.store.SaveDraft(ctx, tx, r, 0, "imported", "system:system", now); err != nil {
				return err
			}
		}
		for name, vals := range content.Lists {
			if err := s.store.PutList(ctx, tx, name, vals, "system:system", now); err != nil {
				return err
			}
		}
		content.Normalize()
		hash := content.Hash()
		v := &Version{Version: 1, Hash: hash, Status: StatusPublished, RuleCount: len(content.Rules),
			Note: "starter ruleset", CreatedBy: "system:system", CreatedAt: now, DecidedBy: "system:system",
			DecidedAt: &now, PublishedAt: &now}
		if err := s.store.InsertVersion(ctx, tx, v, content); err != nil {
			return err
		}
		if err := s.store.SetActive(ctx, tx, 1, hash, now); err != nil {
			return err
		}
		_, err := audit.Append(ctx, tx, s.auditNow(), audit.Record{
			Action: "ruleset.published", SubjectType: "ruleset", SubjectID: "1",
			After: map[string]any{"version": 1, "hash": hash, "rules": len(content.Rules)}, Detail: "starter ruleset installed on first start",
		})
		return err
	})
	if err != nil {
		// Another process installing at the same moment wins the race
		// (unique versions and rule ids); that is success for us too.
		if v, _, aerr := s.store.Active(ctx, s.db.Read); aerr == nil && v > 0 {
			return nil
		}
		return fmt.Errorf("install starter ruleset: %w", err)
	}
	return nil
}
