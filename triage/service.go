package triage

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/logx"
	"github.com/yardmaster/yardmaster/internal/queue"
	"github.com/yardmaster/yardmaster/internal/secretbox"
	"github.com/yardmaster/yardmaster/rules"
)

// EventSubmitter takes synthetic events into the intake pipeline (the
// sweeps' way in). intake.Pipeline implements it.
type EventSubmitter interface {
	SubmitEvents(ctx context.Context, source string, evs []*intake.Event) (*intake.Result, error)
}

// SummaryScheduler gives the debounced outbox job that summarises a case
// (triage/ai's Service implements it); the changeset writes it with the
// case, together with the batch's other jobs in one statement.
type SummaryScheduler interface {
	SummarizeJob(caseID string, now time.Time) (queue.Job, error)
}

// ETAScheduler gives the debounced outbox job that scores a case's ETA
// risk, written like SummaryScheduler's. QueueETA is the implementation for
// a handler of TaskCaseETARisk.
type ETAScheduler interface {
	ETARiskJob(caseID string, now time.Time) queue.Job
}

// Kicker wakes the outbox dispatcher after a commit (internal/queue).
type Kicker interface{ Kick() }

// Options configure a Service.
type Options struct {
	DB     *db.DB
	Policy Policy
	Now    func() time.Time
	Log    *slog.Logger
	// Queue is kicked after commits that added jobs (nil in store tests).
	Queue Kicker
	// Box seals outbound webhook secrets.
	Box *secretbox.Box
	// Evaluations reads the rule evaluations of a batch (default: the
	// records the rules stage stored in rule_evaluations).
	Evaluations EvaluationSource
	// Executor runs approved actions (nil: approved actions wait).
	Executor Executor
	// Events receives sweep events (nil: sweeps are off).
	Events EventSubmitter
	// HTTPClient sends outbound webhooks (default: 10 s timeout).
	HTTPClient *http.Client
	// ActionMaxAttempts bounds automatic execution attempts of an action
	// before it is marked failed for a person to retry (default 8).
	ActionMaxAttempts int
	// WebhookMaxAttempts bounds delivery attempts before dead-lettering
	// (default 12, about 45 minutes with the queue's backoff).
	WebhookMaxAttempts int
}

// Service is the triage feature: the intake stage that turns evaluations
// into cases, the case lifecycle, actions and their execution, SLA and
// time sweeps, disruptions and outbound case events. Web handlers, the
// console and other features call its methods; each mutation is one
// transaction that also writes the case timeline, the audit entries and
// the outbox jobs it causes.
type Service struct {
	db       *db.DB
	policy   Policy
	calendar *Calendar
	now      func() time.Time
	log      *slog.Logger
	queue    Kicker
	box      *secretbox.Box
	evals    EvaluationSource
	events   EventSubmitter
	http     *http.Client
	opts     Options

	hookMu    sync.RWMutex
	executor  Executor
	summaries SummaryScheduler
	eta       ETAScheduler

	pendingMu sync.Mutex
	pending   map[*intake.Processed]pendingAfter
}

// New returns a Service. The policy must be valid (LoadPolicy validates).
func New(opts Options) (*Service, error) {
	if opts.DB == nil {
		return nil, fmt.Errorf("triage: a database is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = logx.Discard()
	}
	if opts.Policy.SLA == nil {
		opts.Policy = DefaultPolicy()
	}
	if err := opts.Policy.Validate(); err != nil {
		return nil, err
	}
	if opts.Evaluations == nil {
		opts.Evaluations = StoredEvaluations{}
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.ActionMaxAttempts <= 0 {
		opts.ActionMaxAttempts = 8
	}
	if opts.WebhookMaxAttempts <= 0 {
		opts.WebhookMaxAttempts = 12
	}
	s := &Service{db: opts.DB, policy: opts.Policy, now: opts.Now, log: opts.Log.With("component", "triage"), queue: opts.Queue,
		box: opts.Box, evals: opts.Evaluations, events: opts.Events, http: opts.HTTPClient, opts: opts,
		executor: opts.Executor, pending: map[*intake.Processed]pendingAfter{}}
	if opts.Policy.Calendar != nil {
		cal, err := opts.Policy.Calendar.Build()
		if err != nil {
			return nil, fmt.Errorf("triage policy calendar: %w", err)
		}
		s.calendar = cal
	}
	return s, nil
}

// Policy returns the policy in force.
func (s *Service) Policy() Policy { return s.policy }

// DB returns the database.
func (s *Service) DB() *db.DB { return s.db }

// SetExecutor installs the action executor (the Odoo connector, wired by
// internal/app when Odoo is configured).
func (s *Service) SetExecutor(e Executor) {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	s.executor = e
}

// SetSummaries installs the AI summary scheduler.
func (s *Service) SetSummaries(x SummaryScheduler) {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	s.summaries = x
}

// SetETA installs the ETA-risk scheduler.
func (s *Service) SetETA(x ETAScheduler) {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	s.eta = x
}

func (s *Service) hooks() (Executor, SummaryScheduler, ETAScheduler) {
	s.hookMu.RLock()
	defer s.hookMu.RUnlock()
	return s.executor, s.summaries, s.eta
}

func (s *Service) kick() {
	if s.queue != nil {
		s.queue.Kick()
	}
}

// inTx runs fn in a write transaction with a fresh changeset and flushes
// the changeset before commit; after commit it kicks the outbox and runs
// the changeset's after-commit work (metrics).
func (s *Service) inTx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx, ch *changes) error) error {
	var ch *changes
	err := s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		ch = s.newChanges(ctx, s.now())
		ctx = withTracker(ctx, ch)
		if err := fn(ctx, tx, ch); err != nil {
			return err
		}
		return ch.flush(ctx, tx)
	})
	if err != nil {
		return err
	}
	ch.committed()
	return nil
}

// actorOf returns the audit actor of ctx.
func actorOf(ctx context.Context) audit.Actor { return audit.ActorFrom(ctx) }

// identity is who acts, for four-eyes comparisons: the user behind a
// session or token, else the token, else the system actor.
func identity(ctx context.Context) string { return rules.Identity(ctx) }

// principal returns the caller, or the system principal for background
// work.
func principal(ctx context.Context) auth.Principal {
	if p, ok := auth.From(ctx); ok {
		return p
	}
	return auth.SystemPrincipal
}
