package ai

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/yardmaster/yardmaster/internal/metrics"
)

// Outcomes of one Summarize call as counted in yardmaster_llm_calls_total.
const (
	OutcomeOK            = "ok"
	OutcomeRepaired      = "repaired" // valid after the one repair request
	OutcomeCached        = "cached"
	OutcomeInvalid       = "invalid_answer"
	OutcomeTimeout       = "timeout"
	OutcomeRateLimited   = "rate_limited"
	OutcomeUpstreamError = "upstream_error"
	OutcomeBudget        = "budget_exhausted"
	OutcomeNotConfigured = "not_configured"
)

// Collectors live in the process registry, labelled by model so a change
// of model shows in the graphs. The number of models is bounded by
// configuration, so the label is safe.
var (
	mCalls = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_llm_calls_total",
		Help: "Case summary requests by model and outcome (ok, repaired, cached, invalid_answer, timeout, rate_limited, upstream_error, budget_exhausted, not_configured).",
	}, []string{"model", "outcome"})
	mRequests = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_llm_http_requests_total",
		Help: "HTTP requests to the LLM endpoint by model and status code (0: no response).",
	}, []string{"model", "code"})
	mTokens = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_llm_tokens_total",
		Help: "Tokens reported by the LLM endpoint, by model and direction (in: prompt, out: completion).",
	}, []string{"model", "direction"})
	mCost = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_llm_cost_usd_total",
		Help: "Estimated LLM spend in USD from the configured prices per 1000 tokens, by model.",
	}, []string{"model"})
	mLatency = promauto.With(metrics.Registry).NewHistogramVec(prometheus.HistogramOpts{
		Name:    "yardmaster_llm_request_duration_seconds",
		Help:    "Duration of one chat completion call including retries, by model.",
		Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120},
	}, []string{"model"})
	mSummaries = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_ai_summaries_total",
		Help: "Case summaries produced, by generator (llm or deterministic).",
	}, []string{"generated_by"})
	mBudgetLeft = promauto.With(metrics.Registry).NewGaugeVec(prometheus.GaugeOpts{
		Name: "yardmaster_llm_budget_remaining_calls",
		Help: "Calls left in the current hour's LLM budget, by model.",
	}, []string{"model"})
	mSweepBuckets = promauto.With(metrics.Registry).NewCounter(prometheus.CounterOpts{
		Name: "yardmaster_anomaly_buckets_swept_total",
		Help: "Time buckets of stored events evaluated by the anomaly sweep.",
	})
)
