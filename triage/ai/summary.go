package ai

import (
	"time"
)

// Who produced a summary.
const (
	GeneratedByLLM           = "llm"
	GeneratedByDeterministic = "deterministic"
)

// Why a summary is deterministic (Summary.FallbackReason).
const (
	FallbackNotConfigured = "llm_not_configured"
	FallbackBudget        = "budget_exhausted"
	FallbackTimeout       = "timeout"
	FallbackRateLimited   = "rate_limited"
	FallbackUpstream      = "upstream_error"
	FallbackInvalidAnswer = "invalid_answer"
)

// Summary is what triage stores and shows on the case. Text fields carry the
// real names (placeholders are restored locally); what was sent to the
// model never did.
type Summary struct {
	CaseID          string          `json:"case_id"`
	GeneratedBy     string          `json:"generated_by"` // "llm" or "deterministic"
	Model           string          `json:"model,omitempty"`
	Text            string          `json:"summary"`
	LikelyCause     string          `json:"likely_cause"` // canonical reason code or "unknown"
	CauseConfidence string          `json:"cause_confidence"`
	Evidence        []string        `json:"evidence,omitempty"` // canonical event ids supporting the summary
	NextStep        *ProposedAction `json:"next_step,omitempty"`
	CustomerMessage string          `json:"customer_message"`
	Language        string          `json:"language"`
	FactsHash       string          `json:"facts_hash"` // hash of the redacted prompt: equal facts, equal hash
	Cached          bool            `json:"cached,omitempty"`
	FallbackReason  string          `json:"fallback_reason,omitempty"`
	PromptTokens    int             `json:"prompt_tokens,omitempty"`
	OutputTokens    int             `json:"output_tokens,omitempty"`
	GeneratedAt     time.Time       `json:"generated_at"`
}

// ProposedAction is the recommended next step. It is only a proposal: triage
// turns it into an action in state "proposed" that a person must approve
// before anything is written to Odoo.
//
// Params by type:
//
//	reschedule_picking  scheduled_date (YYYY-MM-DD)
//	post_note           body
//	schedule_activity   summary, note, date_deadline (YYYY-MM-DD)
//	create_ticket       title, description
type ProposedAction struct {
	Type      string            `json:"type"`
	Params    map[string]string `json:"params"`
	Rationale string            `json:"rationale"`
}
