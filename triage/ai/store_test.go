package ai

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
)

func TestStoreAnswerCache(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := NewStore(d)
		if _, ok, err := s.GetAnswer(ctx, "k1"); ok || err != nil {
			t.Fatalf("empty cache: ok=%v err=%v", ok, err)
		}
		a := CachedAnswer{Key: "k1", Model: "m", Answer: []byte(validAnswer), PromptTokens: 10, OutputTokens: 5, CreatedAt: t0}
		if err := s.PutAnswer(ctx, a); err != nil {
			t.Fatal(err)
		}
		b := a
		b.Answer = []byte(`{"other":true}`)
		if err := s.PutAnswer(ctx, b); err != nil {
			t.Fatalf("second put: %v", err)
		}
		got, ok, err := s.GetAnswer(ctx, "k1")
		if err != nil || !ok {
			t.Fatalf("get: ok=%v err=%v", ok, err)
		}
		if diff := cmp.Diff(a, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
		if err := s.PutAnswer(ctx, CachedAnswer{Key: "k2", Model: "m", Answer: []byte("{}"), CreatedAt: t0.Add(48 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		n, err := s.PruneAnswers(ctx, t0.Add(time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("prune: n=%d err=%v", n, err)
		}
		if _, ok, _ := s.GetAnswer(ctx, "k2"); !ok {
			t.Errorf("recent answer pruned")
		}
	})
}

func TestStoreSummaries(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := NewStore(d)
		if _, err := s.Summary(ctx, nil, "01JCASE"); !errors.Is(err, apperr.ErrNotFound) {
			t.Fatalf("missing summary: %v", err)
		}
		first, err := Deterministic(fixtureFacts(), t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SaveSummary(ctx, d, first); err != nil {
			t.Fatal(err)
		}
		second := first
		second.GeneratedBy, second.Model, second.Text, second.GeneratedAt = GeneratedByLLM, "m", "newer", t0.Add(time.Hour)
		err = d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error { return s.SaveSummary(ctx, tx, second) })
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Summary(ctx, nil, "01JCASE")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(second, got); diff != "" {
			t.Errorf("latest summary (-want +got):\n%s", diff)
		}
		var createdAt, updatedAt time.Time
		if err := d.NewSelect().Table("ai_case_summaries").Column("created_at", "updated_at").Where("case_id = ?", "01JCASE").Scan(ctx, &createdAt, &updatedAt); err != nil {
			t.Fatal(err)
		}
		if !createdAt.Equal(t0) || !updatedAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("created %v updated %v", createdAt, updatedAt)
		}
		if err := s.SaveSummary(ctx, d, Summary{}); !errors.Is(err, apperr.ErrInvalid) {
			t.Errorf("summary without case id: %v", err)
		}
	})
}
