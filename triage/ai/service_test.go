package ai

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/queue"
	"github.com/yardmaster/yardmaster/internal/testenv"
)

// cases is a CaseSource over a map.
type cases struct {
	mu sync.Mutex
	m  map[string]Facts
}

func (c *cases) CaseFacts(_ context.Context, id string) (Facts, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.m[id]
	if !ok {
		return Facts{}, apperr.NotFound("case "+id, nil)
	}
	return f, nil
}

// proposals records proposals and checks that the summary is visible in
// the same transaction.
type proposals struct {
	mu    sync.Mutex
	steps []ProposedAction
	seen  []string // generated_by of the summary row seen inside the tx
}

func (p *proposals) ProposeFromSummary(ctx context.Context, tx bun.IDB, caseID string, step ProposedAction, s Summary) error {
	var by string
	if err := tx.NewSelect().Table("ai_case_summaries").Column("generated_by").Where("case_id = ?", caseID).Scan(ctx, &by); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.steps = append(p.steps, step)
	p.seen = append(p.seen, by)
	return nil
}

func outboxKeys(t *testing.T, d *db.DB, typ string) []string {
	t.Helper()
	var keys []string
	if err := d.NewSelect().Table("outbox").Column("id").Where("task_type = ?", typ).OrderExpr("id").Scan(context.Background(), &keys); err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestServiceSummarizesStoresAndProposesOnce(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		fake := newFakeLLM(t, fakeReply{content: validAnswer})
		c := &clock{t: t0}
		src := &cases{m: map[string]Facts{"01JCASE": fixtureFacts()}}
		prop := &proposals{}
		store := NewStore(d)
		svc := NewService(ServiceOptions{DB: d, Store: store, Cases: src, Proposer: prop,
			Summarizer: NewSummarizer(Options{Client: newTestClient(t, fake, c, &sleeps{}, nil), Store: store, Now: c.now})})

		sum, err := svc.SummarizeCase(ctx, "01JCASE")
		if err != nil {
			t.Fatal(err)
		}
		if sum.GeneratedBy != GeneratedByLLM || len(prop.steps) != 1 || prop.steps[0].Type != ActionScheduleActivity || prop.seen[0] != GeneratedByLLM {
			t.Fatalf("summary %q, proposals %+v seen %v", sum.GeneratedBy, prop.steps, prop.seen)
		}
		stored, err := store.Summary(ctx, nil, "01JCASE")
		if err != nil || stored.Text != sum.Text {
			t.Fatalf("stored summary: %v %q", err, stored.Text)
		}

		// Same facts: no model call, no second proposal.
		if _, err := svc.SummarizeCase(ctx, "01JCASE"); err != nil {
			t.Fatal(err)
		}
		if n := len(fake.requests()); n != 1 || len(prop.steps) != 1 {
			t.Fatalf("unchanged case: %d requests, %d proposals", n, len(prop.steps))
		}

		// Changed facts, same recommended step: summary updated, no new proposal.
		f := fixtureFacts()
		f.Case.Priority = 90
		src.m["01JCASE"] = f
		if _, err := svc.SummarizeCase(ctx, "01JCASE"); err != nil {
			t.Fatal(err)
		}
		if n := len(fake.requests()); n != 2 || len(prop.steps) != 1 {
			t.Fatalf("changed case, same step: %d requests, %d proposals", n, len(prop.steps))
		}
	})
}

func TestServiceWithoutLLMStoresDeterministicSummary(t *testing.T) {
	d := testenv.DB(t)
	ctx := context.Background()
	src := &cases{m: map[string]Facts{"01JCASE": fixtureFacts()}}
	prop := &proposals{}
	store := NewStore(d)
	svc := NewService(ServiceOptions{DB: d, Store: store, Cases: src, Proposer: prop,
		Summarizer: NewSummarizer(Options{Now: func() time.Time { return t0 }})})
	payload, _ := json.Marshal(summarizePayload{CaseID: "01JCASE"})
	if err := svc.HandleSummarize(ctx, queue.Delivery{Type: TaskCaseSummarize, Payload: payload}); err != nil {
		t.Fatal(err)
	}
	s, err := store.Summary(ctx, nil, "01JCASE")
	if err != nil {
		t.Fatal(err)
	}
	if s.GeneratedBy != GeneratedByDeterministic || s.FallbackReason != FallbackNotConfigured || len(prop.steps) != 1 {
		t.Fatalf("summary %q/%q, %d proposals", s.GeneratedBy, s.FallbackReason, len(prop.steps))
	}
	// Not configured is not transient: no retry job.
	if keys := outboxKeys(t, d, TaskCaseSummarize); len(keys) != 0 {
		t.Errorf("retry jobs without an LLM: %v", keys)
	}
	// Running the job again changes nothing.
	if err := svc.HandleSummarize(ctx, queue.Delivery{Type: TaskCaseSummarize, Payload: payload}); err != nil || len(prop.steps) != 1 {
		t.Fatalf("rerun: %v, %d proposals", err, len(prop.steps))
	}
}

func TestServiceSchedulesOneRetryAfterTransientFailure(t *testing.T) {
	d := testenv.DB(t)
	ctx := context.Background()
	fake := newFakeLLM(t, fakeReply{status: 503, header: map[string]string{"Retry-After": "3600"}})
	c := &clock{t: t0}
	store := NewStore(d)
	svc := NewService(ServiceOptions{DB: d, Store: store, Cases: &cases{m: map[string]Facts{"01JCASE": fixtureFacts()}},
		Summarizer: NewSummarizer(Options{Client: newTestClient(t, fake, c, &sleeps{}, nil), Now: c.now})})
	for i := 0; i < 2; i++ {
		s, err := svc.SummarizeCase(ctx, "01JCASE")
		if err != nil {
			t.Fatal(err)
		}
		if s.FallbackReason != FallbackUpstream {
			t.Fatalf("fallback %q", s.FallbackReason)
		}
	}
	keys := outboxKeys(t, d, TaskCaseSummarize)
	if len(keys) != 1 || !strings.Contains(keys[0], ":retry:") {
		t.Fatalf("retry jobs %v, want exactly one", keys)
	}
	var runAt time.Time
	if err := d.NewSelect().Table("outbox").Column("run_at").Where("id = ?", keys[0]).Scan(ctx, &runAt); err != nil {
		t.Fatal(err)
	}
	if !runAt.Equal(t0.Add(RetryAfterFallback)) {
		t.Errorf("retry at %v, want %v", runAt, t0.Add(RetryAfterFallback))
	}
}

func TestHandleSummarizePermanentErrors(t *testing.T) {
	d := testenv.DB(t)
	svc := NewService(ServiceOptions{DB: d, Store: NewStore(d), Cases: &cases{m: map[string]Facts{}},
		Summarizer: NewSummarizer(Options{Now: func() time.Time { return t0 }})})
	for name, payload := range map[string]string{
		"not json":     `{`,
		"no case id":   `{"case_id":""}`,
		"unknown case": `{"case_id":"01JNOPE"}`,
	} {
		err := svc.HandleSummarize(context.Background(), queue.Delivery{Type: TaskCaseSummarize, Payload: []byte(payload)})
		if !errors.Is(err, asynq.SkipRetry) {
			t.Errorf("%s: %v, want a permanent error", name, err)
		}
	}
}

func TestEnqueueSummarizeDebounces(t *testing.T) {
	d := testenv.DB(t)
	ctx := context.Background()
	svc := NewService(ServiceOptions{DB: d})
	base := t0.Add(10 * time.Second)
	for _, at := range []time.Time{base, base.Add(30 * time.Second), base.Add(SummarizeDebounce)} {
		err := d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error { return svc.EnqueueSummarize(ctx, tx, "01JCASE", at) })
		if err != nil {
			t.Fatal(err)
		}
	}
	keys := outboxKeys(t, d, TaskCaseSummarize)
	if len(keys) != 2 {
		t.Fatalf("jobs %v, want 2 (two windows)", keys)
	}
	var runAt time.Time
	if err := d.NewSelect().Table("outbox").Column("run_at").Where("id = ?", keys[0]).Scan(ctx, &runAt); err != nil {
		t.Fatal(err)
	}
	if want := t0.Truncate(SummarizeDebounce).Add(SummarizeDebounce); !runAt.Equal(want) {
		t.Errorf("first job runs at %v, want the end of its window %v", runAt, want)
	}
	if err := svc.EnqueueSummarize(ctx, d, " ", t0); !errors.Is(err, apperr.ErrInvalid) {
		t.Errorf("blank case id: %v", err)
	}
}
