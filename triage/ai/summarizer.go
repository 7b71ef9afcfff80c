package ai

import (
	"context"
	"errors"
	"fmt"
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
	check := func(content string) error { _, err := parseAnswer(content, p); return err }
	res, err := s.ask(ctx, caseSchema, key, p.System, p.User, check, slog.String("case_id", f.Case.ID))
	if err != nil {
		return Summary{}, err
	}
	if res.fallback != "" {
		sum, err := s.fallback(f, p, model, now, res.fallback)
		sum.PromptTokens, sum.OutputTokens = res.in, res.out
		return sum, err
	}
	a, err := parseAnswer(res.content, p)
	if err != nil {
		return Summary{}, fmt.Errorf("checked answer no longer parses: %w", err)
	}
	sum := a.toSummary(p)
	sum.CaseID = f.Case.ID
	sum.Model = model
	sum.FactsHash = key
	sum.Cached = res.cached
	sum.PromptTokens, sum.OutputTokens = res.in, res.out
	sum.GeneratedAt = now
	mSummaries.WithLabelValues(GeneratedByLLM).Inc()
	return sum, nil
}

// askResult is a validated answer, or the reason there is none.
type askResult struct {
	content  string // the validated answer (fences stripped)
	cached   bool
	in, out  int    // tokens spent, repair included
	fallback string // set when there is no usable answer
}

// ask gets a validated answer for one prompt: from the cache, or from the
// model with at most one repair request. check validates an answer against
// the schema and the facts (returning *InvalidAnswerError for answers worth
// a repair). Only the end of ctx is an error; every other failure is a
// fallback reason.
func (s *Summarizer) ask(ctx context.Context, rs *responseSchema, key, system, user string, check func(string) error, subject slog.Attr) (askResult, error) {
	model := s.client.Model()
	if c, ok := s.cached(ctx, key); ok {
		if check(string(c.Answer)) == nil {
			mCalls.WithLabelValues(model, OutcomeCached).Inc()
			return askResult{content: string(c.Answer), cached: true}, nil
		}
		// An answer cached under an equal prompt is always valid for it;
		// if it is not (a check got stricter), ask again.
	}
	msgs := []Message{{Role: "system", Content: system}, {Role: "user", Content: user}}
	comp, err := s.client.Complete(ctx, rs, msgs)
	if err != nil {
		return s.failed(ctx, model, err, 0, 0, subject)
	}
	res := askResult{in: comp.PromptTokens, out: comp.OutputTokens}
	perr := check(comp.Content)
	outcome := OutcomeOK
	var inv *InvalidAnswerError
	if errors.As(perr, &inv) {
		probs := inv.Problems
		if comp.FinishReason == "length" {
			probs = append(probs, "the answer was cut off at the token limit: keep every text shorter")
		}
		s.log.InfoContext(ctx, "llm answer invalid; asking once for a repair", subject, slog.Any("problems", probs))
		msgs = append(msgs, Message{Role: "assistant", Content: truncate(comp.Content, 4000)}, Message{Role: "user", Content: repairMessage(probs)})
		comp, err = s.client.Complete(ctx, rs, msgs)
		if err != nil {
			return s.failed(ctx, model, err, res.in, res.out, subject)
		}
		res.in, res.out = res.in+comp.PromptTokens, res.out+comp.OutputTokens
		perr = check(comp.Content)
		outcome = OutcomeRepaired
	}
	if perr != nil {
		mCalls.WithLabelValues(model, OutcomeInvalid).Inc()
		s.log.WarnContext(ctx, "llm answer invalid after repair; using the deterministic result", subject, slog.String("err", perr.Error()))
		res.fallback = FallbackInvalidAnswer
		return res, nil
	}
	res.content = stripFences(comp.Content)
	if err := s.remember(ctx, CachedAnswer{Key: key, Model: model, Answer: []byte(res.content), PromptTokens: res.in, OutputTokens: res.out, CreatedAt: s.now().UTC()}); err != nil {
		// The answer is good; a cache failure only costs a later call.
		s.log.WarnContext(ctx, "store llm answer in cache", slog.String("err", err.Error()))
	}
	mCalls.WithLabelValues(model, outcome).Inc()
	return res, nil
}

// failed turns a call error into a fallback reason, unless the caller's
// context ended: then the job should stop (and be retried later).
func (s *Summarizer) failed(ctx context.Context, model string, err error, in, out int, subject slog.Attr) (askResult, error) {
	if ctx.Err() != nil {
		return askResult{}, ctx.Err()
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
	s.log.WarnContext(ctx, "llm call failed; using the deterministic result", subject, slog.String("reason", reason), slog.String("err", err.Error()))
	return askResult{fallback: reason, in: in, out: out}, nil
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
