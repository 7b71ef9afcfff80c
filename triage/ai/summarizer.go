package ai

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Options configure a Summarizer.
type Options struct {
	// Client is the LLM; nil means deterministic summaries only.
	Client *Client
	// Store is the durable answer cache; nil keeps the cache in memory only.
	Store CacheStore
	// CacheSize is the number of answers kept in memory (default 512).
	CacheSize int
	Now       func() time.Time
	Logger    *slog.Logger
}

// Summarizer produces case summaries. It is safe for concurrent use.
type Summarizer struct {
	client *Client
	store  CacheStore
	lru    *lru
	now    func() time.Time
	log    *slog.Logger
}

// NewSummarizer returns a summarizer over opts.
func NewSummarizer(opts Options) *Summarizer {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Summarizer{client: opts.Client, store: opts.Store, lru: newLRU(opts.CacheSize), now: opts.Now, log: opts.Logger}
}

// Configured reports whether an LLM is configured.
func (s *Summarizer) Configured() bool { return s.client != nil }

// Summarize returns the summary of a case. For valid facts it returns a
// summary even when the LLM is not configured, over budget, slow, failing
// or answering nonsense: the deterministic one, with FallbackReason saying
// why. It returns an error only for invalid facts (*apperr.Error, kind
// invalid) and when ctx ends (the job should then be retried).
func (s *Summarizer) Summarize(ctx context.Context, f Facts) (Summary, error) {
	now := s.now().UTC()
	p, err := BuildPrompt(f, now)
	if err != nil {
		return Summary{}, err
	}
	if s.client == nil {
		mCalls.WithLabelValues("", OutcomeNotConfigured).Inc()
		return s.fallback(f, p, "", now, FallbackNotConfigured)
	}
	model := s.client.Model()
	key := p.Key(model)
	if c, ok := s.cached(ctx, key); ok {
		if a, perr := parseAnswer(string(c.Answer), p); perr == nil {
			mCalls.WithLabelValues(model, OutcomeCached).Inc()
			return s.finish(a.toSummary(p), f, p, model, key, now, true, 0, 0), nil
		}
		// An answer cached under an equal prompt is always valid for it;
		// if it is not (a check got stricter), ask again.
	}
	msgs := []Message{{Role: "system", Content: p.System}, {Role: "user", Content: p.User}}
	comp, err := s.client.Complete(ctx, msgs)
	if err != nil {
		return s.failed(ctx, f, p, model, now, err)
	}
	inTok, outTok := comp.PromptTokens, comp.OutputTokens
	a, perr := parseAnswer(comp.Content, p)
	outcome := OutcomeOK
	var inv *InvalidAnswerError
	if errors.As(perr, &inv) {
		probs := inv.Problems
		if comp.FinishReason == "length" {
			probs = append(probs, "the answer was cut off at the token limit: keep every text shorter")
		}
		s.log.InfoContext(ctx, "llm answer invalid; asking once for a repair", slog.String("case_id", f.Case.ID), slog.Any("problems", probs))
		msgs = append(msgs, Message{Role: "assistant", Content: truncate(comp.Content, 4000)}, Message{Role: "user", Content: repairMessage(probs)})
		comp, err = s.client.Complete(ctx, msgs)
		if err != nil {
			return s.failed(ctx, f, p, model, now, err)
		}
		inTok, outTok = inTok+comp.PromptTokens, outTok+comp.OutputTokens
		a, perr = parseAnswer(comp.Content, p)
		outcome = OutcomeRepaired
	}
	if perr != nil {
		mCalls.WithLabelValues(model, OutcomeInvalid).Inc()
		s.log.WarnContext(ctx, "llm answer invalid after repair; using the deterministic summary", slog.String("case_id", f.Case.ID), slog.String("err", perr.Error()))
		sum, err := s.fallback(f, p, model, now, FallbackInvalidAnswer)
		sum.PromptTokens, sum.OutputTokens = inTok, outTok
		return sum, err
	}
	if err := s.remember(ctx, CachedAnswer{Key: key, Model: model, Answer: []byte(stripFences(comp.Content)), PromptTokens: inTok, OutputTokens: outTok, CreatedAt: now}); err != nil {
		// The answer is good; a cache failure only costs a later call.
		s.log.WarnContext(ctx, "store llm answer in cache", slog.String("err", err.Error()))
	}
	mCalls.WithLabelValues(model, outcome).Inc()
	return s.finish(a.toSummary(p), f, p, model, key, now, false, inTok, outTok), nil
}

func (s *Summarizer) finish(sum Summary, f Facts, p *Prompt, model, key string, now time.Time, cached bool, in, out int) Summary {
	sum.CaseID = f.Case.ID
	sum.Model = model
	sum.FactsHash = key
	sum.Cached = cached
	sum.PromptTokens, sum.OutputTokens = in, out
	sum.GeneratedAt = now
	mSummaries.WithLabelValues(GeneratedByLLM).Inc()
	return sum
}

// failed turns a call error into the deterministic summary, unless the
// caller's context ended: then the job should stop (and be retried later).
func (s *Summarizer) failed(ctx context.Context, f Facts, p *Prompt, model string, now time.Time, err error) (Summary, error) {
	if ctx.Err() != nil {
		return Summary{}, ctx.Err()
	}
	reason, outcome := FallbackUpstream, OutcomeUpstreamError
	var se *StatusError
	switch {
	case errors.Is(err, ErrBudget):
		reason, outcome = FallbackBudget, OutcomeBudget
	case errors.Is(err, ErrTimeout):
		reason, outcome = FallbackTimeout, OutcomeTimeout
	case errors.As(err, &se) && se.RateLimited():
		reason, outcome = FallbackRateLimited, OutcomeRateLimited
	}
	mCalls.WithLabelValues(model, outcome).Inc()
	s.log.WarnContext(ctx, "llm call failed; using the deterministic summary", slog.String("case_id", f.Case.ID), slog.String("reason", reason), slog.String("err", err.Error()))
	return s.fallback(f, p, model, now, reason)
}

func (s *Summarizer) fallback(f Facts, p *Prompt, model string, now time.Time, reason string) (Summary, error) {
	sum, err := Deterministic(f, now)
	if err != nil {
		return Summary{}, err
	}
	sum.FallbackReason = reason
	sum.FactsHash = p.Key(model)
	mSummaries.WithLabelValues(GeneratedByDeterministic).Inc()
	return sum, nil
}

// cached looks the key up in memory, then in the store. A store error is
// logged and treated as a miss: the cache saves money, it is not needed for
// a summary.
func (s *Summarizer) cached(ctx context.Context, key string) (CachedAnswer, bool) {
	if c, ok := s.lru.get(key); ok {
		return c, true
	}
	if s.store == nil {
		return CachedAnswer{}, false
	}
	c, ok, err := s.store.GetAnswer(ctx, key)
	if err != nil {
		s.log.WarnContext(ctx, "read llm answer cache", slog.String("err", err.Error()))
		return CachedAnswer{}, false
	}
	if ok {
		s.lru.put(c)
	}
	return c, ok
}

func (s *Summarizer) remember(ctx context.Context, c CachedAnswer) error {
	s.lru.put(c)
	if s.store == nil {
		return nil
	}
	return s.store.PutAnswer(ctx, c)
}
