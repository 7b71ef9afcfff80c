package ai

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/db"
)

// Store keeps the answer cache and the latest summary of each case.
type Store struct {
	db *db.DB
}

// NewStore returns a store on d.
func NewStore(d *db.DB) *Store { return &Store{db: d} }

type answerRow struct {
	bun.BaseModel `bun:"table:ai_answer_cache"`

	Key          string    `bun:"key,pk"`
	Model        string    `bun:"model"`
	Answer       string    `bun:"answer"`
	PromptTokens int       `bun:"prompt_tokens"`
	OutputTokens int       `bun:"output_tokens"`
	CreatedAt    time.Time `bun:"created_at"`
}

// GetAnswer implements CacheStore.
func (s *Store) GetAnswer(ctx context.Context, key string) (CachedAnswer, bool, error) {
	var r answerRow
	err := s.db.Read.NewSelect().Model(&r).Where("? = ?", bun.Ident("key"), key).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return CachedAnswer{}, false, nil
	}
	if err != nil {
		return CachedAnswer{}, false, fmt.Errorf("read ai answer %s: %w", key, err)
	}
	return CachedAnswer{Key: r.Key, Model: r.Model, Answer: []byte(r.Answer), PromptTokens: r.PromptTokens, OutputTokens: r.OutputTokens, CreatedAt: r.CreatedAt.UTC()}, true, nil
}

// PutAnswer implements CacheStore. The first answer for a key wins: equal
// prompts deserve equal answers.
func (s *Store) PutAnswer(ctx context.Context, a CachedAnswer) error {
	r := answerRow{Key: a.Key, Model: a.Model, Answer: string(a.Answer), PromptTokens: a.PromptTokens, OutputTokens: a.OutputTokens, CreatedAt: a.CreatedAt.UTC()}
	if _, err := s.db.NewInsert().Model(&r).On("CONFLICT (key) DO NOTHING").Exec(ctx); err != nil {
		return fmt.Errorf("store ai answer %s: %w", a.Key, err)
	}
	return nil
}

// PruneAnswers deletes cached answers created before cut.
func (s *Store) PruneAnswers(ctx context.Context, cut time.Time) (int, error) {
	res, err := s.db.NewDelete().Model((*answerRow)(nil)).Where("created_at < ?", cut.UTC()).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("prune ai answers: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

type summaryRow struct {
	bun.BaseModel `bun:"table:ai_case_summaries"`

	CaseID         string    `bun:"case_id,pk"`
	GeneratedBy    string    `bun:"generated_by"`
	Model          string    `bun:"model"`
	FactsHash      string    `bun:"facts_hash"`
	FallbackReason string    `bun:"fallback_reason"`
	LikelyCause    string    `bun:"likely_cause"`
	NextStepType   string    `bun:"next_step_type"`
	Summary        string    `bun:"summary"`
	CreatedAt      time.Time `bun:"created_at"`
	UpdatedAt      time.Time `bun:"updated_at"`
}

// SaveSummary stores sum as the case's current summary, in the caller's
// transaction (so the proposed action triage records lands with it).
func (s *Store) SaveSummary(ctx context.Context, idb bun.IDB, sum Summary) error {
	if sum.CaseID == "" {
		return apperr.Invalid("summary has no case id", apperr.FieldError{Field: "case_id", Message: "required"})
	}
	doc, err := json.Marshal(sum)
	if err != nil {
		return fmt.Errorf("encode summary of case %s: %w", sum.CaseID, err)
	}
	at := sum.GeneratedAt.UTC()
	r := summaryRow{
		CaseID: sum.CaseID, GeneratedBy: sum.GeneratedBy, Model: sum.Model, FactsHash: sum.FactsHash,
		FallbackReason: sum.FallbackReason, LikelyCause: sum.LikelyCause, Summary: string(doc), CreatedAt: at, UpdatedAt: at,
	}
	if sum.NextStep != nil {
		r.NextStepType = sum.NextStep.Type
	}
	_, err = idb.NewInsert().Model(&r).
		On("CONFLICT (case_id) DO UPDATE").
		Set("generated_by = EXCLUDED.generated_by").
		Set("model = EXCLUDED.model").
		Set("facts_hash = EXCLUDED.facts_hash").
		Set("fallback_reason = EXCLUDED.fallback_reason").
		Set("likely_cause = EXCLUDED.likely_cause").
		Set("next_step_type = EXCLUDED.next_step_type").
		Set("summary = EXCLUDED.summary").
		Set("updated_at = EXCLUDED.updated_at").
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("store summary of case %s: %w", sum.CaseID, err)
	}
	return nil
}

// Summary returns the current summary of a case, or an apperr not-found.
func (s *Store) Summary(ctx context.Context, idb bun.IDB, caseID string) (Summary, error) {
	if idb == nil {
		idb = s.db.Read
	}
	var r summaryRow
	err := idb.NewSelect().Model(&r).Where("case_id = ?", caseID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return Summary{}, apperr.NotFound("summary of case "+caseID, err)
	}
	if err != nil {
		return Summary{}, fmt.Errorf("read summary of case %s: %w", caseID, err)
	}
	var sum Summary
	if err := json.Unmarshal([]byte(r.Summary), &sum); err != nil {
		return Summary{}, fmt.Errorf("decode summary of case %s: %w", caseID, err)
	}
	return sum, nil
}
