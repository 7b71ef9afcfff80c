package app

import (
	"context"
	"fmt"
	"time"

	"github.com/yardmaster/yardmaster/internal/queue"
	"github.com/yardmaster/yardmaster/triage/ai"
)

// AI is the AI feature of the process. Summarizer works with or without an
// LLM (deterministic summaries when none is configured); Sweeper runs the
// anomaly detection every quarter bucket. Triage wires the rest with
// WireAIService and Sweeper.SetSink.
type AI struct {
	LLM        ai.LLMConfig
	Summarizer *ai.Summarizer
	Store      *ai.Store
	Sweeper    *ai.Sweeper
	// Service is set once triage provides its case source (WireAIService).
	Service *ai.Service
}

// wireAI builds the LLM client from the configuration, the summarizer with
// its answer cache, and the anomaly sweep; it registers the sweep task and
// the cache pruning.
func (a *App) wireAI(ctx context.Context) error {
	cfg := ai.LLMConfig{
		BaseURL: a.Config.LLMBaseURL, Model: a.Config.LLMModel, APIKey: a.Config.LLMAPIKey,
		Timeout: a.Config.LLMTimeout, MaxTokens: a.Config.LLMMaxTokens, TokenParam: a.Config.LLMTokenParam,
		CallsPerHour: a.Config.LLMCallsPerHour, CostPer1KInput: a.Config.LLMCostPer1KInput,
		CostPer1KOutput: a.Config.LLMCostPer1KOutput, Logger: a.Log,
	}
	var client *ai.Client
	if cfg.BaseURL != "" {
		var err error
		if client, err = ai.NewClient(cfg); err != nil {
			return fmt.Errorf("YARDMASTER_LLM_BASE_URL: %w", err)
		}
	}
	store := ai.NewStore(a.DB)
	a.AI = &AI{
		LLM:        cfg,
		Store:      store,
		Summarizer: ai.NewSummarizer(ai.Options{Client: client, Store: store, Now: a.Now, Logger: a.Log}),
		Sweeper:    ai.NewSweeper(ai.SweeperOptions{DB: a.DB, Now: a.Now, Logger: a.Log}),
	}
	a.Queue.Handle(ai.TaskAnomalySweep, func(ctx context.Context, _ queue.Delivery) error {
		_, err := a.AI.Sweeper.Sweep(ctx)
		return err
	})
	a.Queue.Every(ai.TaskAnomalySweep, a.AI.Sweeper.Interval(), queue.QueueDefault)
	a.AddPruner(Pruner{Name: "ai_answer_cache", Fn: func(ctx context.Context, now time.Time) (int, error) {
		return store.PruneAnswers(ctx, now.Add(-ai.CacheRetention))
	}})
	if client == nil {
		a.Log.Info("no LLM configured: case summaries are deterministic", "set", "YARDMASTER_LLM_BASE_URL")
	}
	return nil
}

// WireAIService builds the case and digest summary service over triage's
// implementations and registers its job handlers. digests and sink may be
// nil while digests are not built.
func (a *App) WireAIService(cases ai.CaseSource, proposer ai.Proposer, digests ai.DigestSource, sink ai.DigestSink) *ai.Service {
	svc := ai.NewService(ai.ServiceOptions{
		DB: a.DB, Summarizer: a.AI.Summarizer, Store: a.AI.Store, Cases: cases, Proposer: proposer,
		Digests: digests, DigestSink: sink, JobTimeout: ai.JobTimeout(a.AI.LLM), Logger: a.Log,
	})
	if a.AI.Service != nil {
		// Wired already (wireTriage does it during Open; digests or a test
		// may wire again before Run): swap the sources in place, so the
		// handlers registered the first time use them.
		*a.AI.Service = *svc
		return a.AI.Service
	}
	a.AI.Service = svc
	a.AI.Service.RegisterHandlers(a.Queue)
	return a.AI.Service
}
