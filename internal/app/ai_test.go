package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/app"
	"github.com/yardmaster/yardmaster/internal/app/apptest"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/config"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/triage/ai"
)

// waitFor polls cond against the app's database until it holds or 20 s pass.
func waitFor(t *testing.T, d *db.DB, what string, cond func(ctx context.Context, d *db.DB) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond(context.Background(), d) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The anomaly sweep is scheduled at start and saves the detector's state.
func TestAnomalySweepRunsAsPeriodicJob(t *testing.T) {
	eachBackend(t, func(t *testing.T, cfg config.Config) {
		r := apptest.Start(t, cfg)
		waitFor(t, r.DB, "the anomaly sweep job", func(ctx context.Context, d *db.DB) bool {
			var n int
			err := d.Read.NewSelect().Table("outbox").ColumnExpr("COUNT(*)").
				Where("task_type = ? AND done_at IS NOT NULL", ai.TaskAnomalySweep).Scan(ctx, &n)
			return err == nil && n > 0
		})
		var snapshot string
		if err := r.DB.Read.NewSelect().Table("ai_anomaly_state").Column("snapshot").Where("id = 'default'").Scan(context.Background(), &snapshot); err != nil {
			t.Fatalf("anomaly state not saved: %v", err)
		}
		if !strings.Contains(snapshot, `"version":1`) {
			t.Errorf("snapshot %.80s", snapshot)
		}
	})
}

// oneCase is a CaseSource with a single shipment case.
type oneCase struct{}

func (oneCase) CaseFacts(_ context.Context, id string) (ai.Facts, error) {
	if id != "01JAPPCASE" {
		return ai.Facts{}, apperr.NotFound("case "+id, nil)
	}
	return ai.Facts{
		Case: ai.CaseFacts{ID: id, Kind: ai.KindShipment, Title: "Parcel for Grete Lindqvist delayed", Severity: "medium",
			OpenedAt: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC), Carrier: "ups", TrackingNumber: "1Z999AA10123456784"},
		Odoo: &ai.OdooContext{OrderRef: "S01234", PickingRef: "WH/OUT/01234", Customer: ai.Contact{Name: "Grete Lindqvist", Email: "grete@example.se"}},
	}, nil
}

type proposalLog struct {
	mu    sync.Mutex
	steps []ai.ProposedAction
}

func (p *proposalLog) ProposeFromSummary(_ context.Context, _ bun.IDB, _ string, step ai.ProposedAction, _ ai.Summary) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.steps = append(p.steps, step)
	return nil
}

// A case:summarize job goes through the outbox and the queue to the LLM
// configured by environment, and the summary and its proposal are stored;
// the request carries no personal data.
func TestCaseSummaryJobWithConfiguredLLM(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	llm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer k-test" {
			http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
			return
		}
		answer := `{"summary":"UPS reports a delay for [TRACKING]; no new date yet.","likely_cause":"delayed","cause_confidence":"medium",` +
			`"evidence":[],"next_step":{"action":"post_note","rationale":"Keep the order team informed.","scheduled_date":null,` +
			`"summary":null,"body":"UPS delay on [TRACKING].","due_in_days":null},"customer_message":"Hello [CUSTOMER], your parcel is delayed."}`
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "x", "object": "chat.completion", "model": "tiny",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": answer}}},
			"usage":   map[string]any{"prompt_tokens": 900, "completion_tokens": 80, "total_tokens": 980},
		})
	}))
	defer llm.Close()
	cfg := apptest.TestConfig(t)
	cfg.LLMBaseURL, cfg.LLMModel, cfg.LLMAPIKey = llm.URL+"/v1", "tiny", "k-test"
	props := &proposalLog{}
	r := apptest.Start(t, cfg, func(a *app.App) { a.WireAIService(oneCase{}, props, nil, nil) })
	err := r.DB.InTx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
		return r.AI.Service.EnqueueSummarize(ctx, tx, "01JAPPCASE", time.Now().Add(-ai.SummarizeDebounce))
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Queue.Kick()
	waitFor(t, r.DB, "the stored summary", func(ctx context.Context, d *db.DB) bool {
		_, err := r.AI.Store.Summary(ctx, nil, "01JAPPCASE")
		return err == nil
	})
	s, _ := r.AI.Store.Summary(context.Background(), nil, "01JAPPCASE")
	if s.GeneratedBy != ai.GeneratedByLLM || s.Model != "tiny" || !strings.Contains(s.Text, "1Z999AA10123456784") || !strings.HasPrefix(s.CustomerMessage, "Hello Grete Lindqvist,") {
		t.Fatalf("summary %+v", s)
	}
	props.mu.Lock()
	n := len(props.steps)
	props.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d proposals, want 1", n)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, b := range bodies {
		for _, pii := range []string{"Grete", "Lindqvist", "grete@example.se", "1Z999AA10123456784"} {
			if strings.Contains(b, pii) {
				t.Errorf("LLM request contains %q", pii)
			}
		}
	}
}
