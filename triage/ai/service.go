package ai

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/queue"
)

// TaskCaseSummarize summarizes one case (payload {"case_id": "..."}).
const TaskCaseSummarize = "case:summarize"

// RetryAfterFallback is when a case whose summary fell back to the
// deterministic one for a passing reason (timeout, rate limit, upstream
// error, budget) is summarized again, once.
const RetryAfterFallback = 15 * time.Minute

var transientFallback = map[string]bool{FallbackTimeout: true, FallbackRateLimited: true, FallbackUpstream: true, FallbackBudget: true}

// SummarizeDebounce is the window in which changes of one case share one
// summary job.
const SummarizeDebounce = 2 * time.Minute

// CaseSource loads the facts of a case. Triage implements it; an unknown
// case is an apperr not-found (the job then stops for good).
type CaseSource interface {
	CaseFacts(ctx context.Context, caseID string) (Facts, error)
}

// Proposer records the summary's recommended next step as an action that a
// person must approve. Triage implements it. It is called inside the
// transaction that stores the summary, and only when the step differs from
// the one proposed by the previous summary of the case.
type Proposer interface {
	ProposeFromSummary(ctx context.Context, tx bun.IDB, caseID string, step ProposedAction, s Summary) error
}

// TaskDigestSummarize writes the introduction of a digest (payload
// {"digest_id": "..."}).
const TaskDigestSummarize = "digest:summarize"

// DigestSource loads the facts of a digest; triage/digest implements it.
// An unknown digest is an apperr not-found.
type DigestSource interface {
	DigestFacts(ctx context.Context, digestID string) (DigestFacts, error)
}

// DigestSink stores a digest's introduction; triage/digest implements it.
// It must be idempotent (a job may run twice).
type DigestSink interface {
	SaveDigestSummary(ctx context.Context, digestID string, s DigestSummary) error
}

// ServiceOptions configure a Service.
type ServiceOptions struct {
	DB         *db.DB
	Summarizer *Summarizer
	Store      *Store
	Cases      CaseSource
	Proposer   Proposer // nil: summaries only
	// Digests and DigestSink serve digest:summarize; both nil: not served.
	Digests    DigestSource
	DigestSink DigestSink
	// JobTimeout bounds one case:summarize job (default 5m; set it above
	// the LLM timeout times its attempts).
	JobTimeout time.Duration
	Logger     *slog.Logger
}

// Service runs case summaries as background jobs.
type Service struct {
	opts ServiceOptions
}

// NewService returns a service.
func NewService(opts ServiceOptions) *Service {
	if opts.JobTimeout <= 0 {
		opts.JobTimeout = 5 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{opts: opts}
}

// JobTimeout is a job timeout that covers the worst case of cfg: two
// requests (the answer and its repair), each with its retries and their
// longest waits, plus a margin.
func JobTimeout(cfg LLMConfig) time.Duration {
	t, r, w := cfg.Timeout, cfg.MaxRetries, cfg.MaxRetryWait
	if t <= 0 {
		t = 60 * time.Second
	}
	if r <= 0 {
		r = 2
	}
	if w <= 0 {
		w = 20 * time.Second
	}
	return 2*(t*time.Duration(r+1)+w*time.Duration(r)) + 30*time.Second
}

// CacheRetention is how long cached answers are kept.
const CacheRetention = 30 * 24 * time.Hour

// RegisterHandlers registers the case:summarize and digest:summarize
// handlers on q. A digest job arriving while digests are not wired fails
// permanently with a clear error.
func (s *Service) RegisterHandlers(q *queue.Queue) {
	q.Handle(TaskCaseSummarize, s.HandleSummarize)
	q.Handle(TaskDigestSummarize, s.HandleDigestSummarize)
}

type summarizePayload struct {
	CaseID string `json:"case_id"`
}

// EnqueueSummarize schedules a summary of caseID in the caller's
// transaction. Calls within one SummarizeDebounce window share one job,
// which runs at the end of the window, so a burst of events on a case costs
// one summary. Triage calls it when a case opens or changes materially.
func (s *Service) EnqueueSummarize(ctx context.Context, tx bun.IDB, caseID string, now time.Time) error {
	j, err := s.SummarizeJob(caseID, now)
	if err != nil {
		return err
	}
	return queue.Add(ctx, tx, j)
}

// SummarizeJob is the outbox job EnqueueSummarize adds, for a caller that
// writes it together with other jobs (triage's changeset: one statement
// for all of a batch's jobs).
func (s *Service) SummarizeJob(caseID string, now time.Time) (queue.Job, error) {
	if strings.TrimSpace(caseID) == "" {
		return queue.Job{}, apperr.Invalid("case id is required", apperr.FieldError{Field: "case_id", Message: "required"})
	}
	slot := now.UTC().Truncate(SummarizeDebounce)
	return queue.Job{
		Key:     TaskCaseSummarize + ":" + caseID + ":" + slot.Format("20060102T150405"),
		Type:    TaskCaseSummarize,
		Payload: summarizePayload{CaseID: caseID},
		Queue:   queue.QueueLow,
		RunAt:   slot.Add(SummarizeDebounce),
		// The summary falls back to the deterministic one by itself; retries
		// only cover a database or a shutdown in the middle.
		MaxRetry: 5,
		Timeout:  s.opts.JobTimeout,
	}, nil
}

// HandleSummarize is the queue handler of TaskCaseSummarize.
func (s *Service) HandleSummarize(ctx context.Context, d queue.Delivery) error {
	var p summarizePayload
	if err := d.Decode(&p); err != nil {
		return err
	}
	if strings.TrimSpace(p.CaseID) == "" {
		return queue.Permanent(errors.New("case:summarize payload has no case_id"))
	}
	_, err := s.SummarizeCase(ctx, p.CaseID)
	if k := apperr.KindOf(err); k == apperr.KindNotFound || k == apperr.KindInvalid {
		return queue.Permanent(err)
	}
	return err
}

// SummarizeCase builds, stores and returns the summary of a case, and
// records its next step as a proposal when it is new. It is idempotent: when
// the stored summary was made from the same facts by the same generator, it
// is returned without another model call.
func (s *Service) SummarizeCase(ctx context.Context, caseID string) (Summary, error) {
	f, err := s.opts.Cases.CaseFacts(ctx, caseID)
	if err != nil {
		return Summary{}, fmt.Errorf("load facts of case %s: %w", caseID, err)
	}
	if f.Case.ID != caseID {
		return Summary{}, fmt.Errorf("facts of case %s name case %q", caseID, f.Case.ID)
	}
	prev, err := s.opts.Store.Summary(ctx, nil, caseID)
	hasPrev := err == nil
	if err != nil && !errors.Is(err, apperr.ErrNotFound) {
		return Summary{}, err
	}
	if hasPrev {
		hash, herr := s.opts.Summarizer.FactsHash(f)
		if herr != nil {
			return Summary{}, herr
		}
		if prev.FactsHash == hash && prev.GeneratedBy == s.opts.Summarizer.preferred() {
			return prev, nil
		}
	}
	sum, err := s.opts.Summarizer.Summarize(ctx, f)
	if err != nil {
		return Summary{}, err
	}
	err = s.opts.DB.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := s.opts.Store.SaveSummary(ctx, tx, sum); err != nil {
			return err
		}
		if transientFallback[sum.FallbackReason] {
			// Try the model once more later for these facts; the key makes
			// it once per facts hash, so a dead endpoint costs one job.
			err := queue.Add(ctx, tx, queue.Job{
				Key:  TaskCaseSummarize + ":" + caseID + ":retry:" + sum.FactsHash[:16],
				Type: TaskCaseSummarize, Payload: summarizePayload{CaseID: caseID}, Queue: queue.QueueLow,
				RunAt: sum.GeneratedAt.Add(RetryAfterFallback), MaxRetry: 5, Timeout: s.opts.JobTimeout,
			})
			if err != nil {
				return err
			}
		}
		if s.opts.Proposer == nil || sum.NextStep == nil || (hasPrev && sameStep(prev.NextStep, sum.NextStep)) {
			return nil
		}
		return s.opts.Proposer.ProposeFromSummary(ctx, tx, caseID, *sum.NextStep, sum)
	})
	if err != nil {
		return Summary{}, err
	}
	return sum, nil
}

type digestPayload struct {
	DigestID string `json:"digest_id"`
}

// EnqueueDigestSummarize schedules the introduction of a digest in the
// caller's transaction; one job per digest.
func (s *Service) EnqueueDigestSummarize(ctx context.Context, tx bun.IDB, digestID string) error {
	if strings.TrimSpace(digestID) == "" {
		return apperr.Invalid("digest id is required", apperr.FieldError{Field: "digest_id", Message: "required"})
	}
	return queue.Add(ctx, tx, queue.Job{
		Key: TaskDigestSummarize + ":" + digestID, Type: TaskDigestSummarize, Payload: digestPayload{DigestID: digestID},
		Queue: queue.QueueLow, MaxRetry: 5, Timeout: s.opts.JobTimeout,
	})
}

// HandleDigestSummarize is the queue handler of TaskDigestSummarize.
func (s *Service) HandleDigestSummarize(ctx context.Context, d queue.Delivery) error {
	var p digestPayload
	if err := d.Decode(&p); err != nil {
		return err
	}
	if strings.TrimSpace(p.DigestID) == "" {
		return queue.Permanent(errors.New("digest:summarize payload has no digest_id"))
	}
	if s.opts.Digests == nil || s.opts.DigestSink == nil {
		return queue.Permanent(errors.New("digest summaries are not wired"))
	}
	f, err := s.opts.Digests.DigestFacts(ctx, p.DigestID)
	if err == nil && f.DigestID != p.DigestID {
		err = apperr.Invalid(fmt.Sprintf("facts of digest %s name digest %q", p.DigestID, f.DigestID))
	}
	var sum DigestSummary
	if err == nil {
		sum, err = s.opts.Summarizer.SummarizeDigest(ctx, f)
	}
	if err == nil {
		err = s.opts.DigestSink.SaveDigestSummary(ctx, p.DigestID, sum)
	}
	if k := apperr.KindOf(err); err != nil && (k == apperr.KindNotFound || k == apperr.KindInvalid) {
		return queue.Permanent(err)
	}
	return err
}

// sameStep reports whether two proposals ask for the same change (the
// rationale may be worded differently).
func sameStep(a, b *ProposedAction) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Type == b.Type && maps.Equal(a.Params, b.Params)
}

// FactsHash returns the hash a summary of f would carry, without calling
// anything: callers compare it with a stored summary to skip unchanged
// cases.
func (s *Summarizer) FactsHash(f Facts) (string, error) {
	p, err := BuildPrompt(f, s.now())
	if err != nil {
		return "", err
	}
	model := ""
	if s.client != nil {
		model = s.client.Model()
	}
	return p.Key(model), nil
}

// preferred is the generator a summary should come from when all goes well.
func (s *Summarizer) preferred() string {
	if s.client != nil {
		return GeneratedByLLM
	}
	return GeneratedByDeterministic
}
