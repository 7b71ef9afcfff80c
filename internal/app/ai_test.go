package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/intake"
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

// Acceptance (issue 8, item 5): a synthetic spike of one carrier's delays
// opens a disruption case in the first anomaly sweep after its hour closes,
// and a day of normal variation before it opens none. Events go through the
// real pipeline (rules and triage stages included); the triage policy's own
// count-based disruption grouping is off so only the detector can open one.
func TestAnomalySpikeOpensDisruptionCase(t *testing.T) {
	if testing.Short() {
		t.Skip("long: 28 hours of events through the whole pipeline")
	}
	eachBackend(t, func(t *testing.T, cfg config.Config) {
		ctx := context.Background()
		policy := filepath.Join(t.TempDir(), "triage.yaml")
		if err := os.WriteFile(policy, []byte("disruption:\n  enabled: false\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.TriagePolicy = policy
		t0 := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
		clk := &testClock{t: t0}
		r := apptest.StartWith(t, cfg, app.Options{Now: clk.now})
		// Let the sweep scheduled at start finish before time moves.
		waitFor(t, r.DB, "the start-up anomaly sweep", func(ctx context.Context, d *db.DB) bool {
			var n int
			err := d.Read.NewSelect().Table("ai_anomaly_state").ColumnExpr("COUNT(*)").Scan(ctx, &n)
			return err == nil && n == 1
		})
		rng := rand.New(rand.NewPCG(8, 9))
		seq := 0
		hour := func(h int, spiking string, rate float64) {
			start := t0.Add(time.Duration(h) * time.Hour)
			clk.set(start.Add(30 * time.Minute))
			var evs []*intake.Event
			for _, c := range []string{"dhl", "ups"} {
				for _, lane := range [][2]string{{"NL", "DE"}, {"DE", "FR"}} {
					for i := 0; i < 35+rng.IntN(10); i++ {
						seq++
						ev := &intake.Event{Carrier: c, TrackingNumber: fmt.Sprintf("%s%07d", strings.ToUpper(c), seq%400), SourceEventID: fmt.Sprintf("e%07d", seq),
							Status: intake.StatusInTransit, OccurredAt: start.Add(time.Duration(i) * time.Minute), TZKnown: true,
							OriginCountry: lane[0], DestinationCountry: lane[1]}
						p := 0.05
						if c == spiking {
							p = rate
						}
						if rng.Float64() < p {
							ev.Exception = &intake.Exception{Reason: "delayed", Category: "carrier", Severity: intake.SeverityWarning}
						}
						evs = append(evs, ev)
					}
				}
			}
			if _, err := r.Intake.Pipeline.SubmitEvents(ctx, "loadgen", evs); err != nil {
				t.Fatalf("hour %d: %v", h, err)
			}
		}
		anomalyDisruptions := func() int {
			var n int
			if err := r.DB.Read.NewSelect().Table("triage_cases").ColumnExpr("COUNT(*)").
				Where("kind = 'disruption' AND source = 'anomaly'").Scan(ctx, &n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for h := 0; h < 27; h++ {
			hour(h, "", 0)
		}
		clk.set(t0.Add(27*time.Hour + 5*time.Minute))
		if spikes, err := r.AI.Sweeper.Sweep(ctx); err != nil || len(spikes) != 0 || anomalyDisruptions() != 0 {
			t.Fatalf("normal traffic: %d spikes, %d disruptions, err %v", len(spikes), anomalyDisruptions(), err)
		}
		hour(27, "dhl", 0.5)
		clk.set(t0.Add(28*time.Hour + 5*time.Minute)) // one sweep interval after the hour closed
		spikes, err := r.AI.Sweeper.Sweep(ctx)
		if err != nil || len(spikes) != 1 {
			t.Fatalf("spike hour: %+v, %v", spikes, err)
		}
		var d struct {
			ID, Carrier, Fingerprint, Detail string
		}
		if err := r.DB.Read.NewSelect().Table("triage_cases").Column("id", "carrier", "fingerprint", "detail").
			Where("kind = 'disruption' AND source = 'anomaly'").Scan(ctx, &d.ID, &d.Carrier, &d.Fingerprint, &d.Detail); err != nil {
			t.Fatalf("no disruption case: %v", err)
		}
		if d.Carrier != intake.NormalizeCarrier("dhl") || !strings.Contains(d.Fingerprint, "|*|delayed") || !strings.Contains(d.Detail, "exception rate") {
			t.Errorf("disruption %+v", d)
		}
	})
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Acceptance (issue 8, items 1 and 2): a case opened by the pipeline gets
// an LLM summary through its case:summarize job, and the model's next step
// appears on the case as an action proposed by the AI, waiting for
// approval. Without an LLM the same case gets the deterministic summary.
func TestPipelineCaseGetsSummaryAndAIProposal(t *testing.T) {
	for _, withLLM := range []bool{true, false} {
		t.Run(map[bool]string{true: "llm", false: "no llm"}[withLLM], func(t *testing.T) {
			ctx := context.Background()
			cfg := apptest.TestConfig(t)
			if withLLM {
				llm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					answer := `{"summary":"UPS is researching [TRACKING]; no scan since pickup, so the parcel may be lost.","likely_cause":"lost",` +
						`"cause_confidence":"medium","evidence":["E1"],"next_step":{"action":"post_note","rationale":"The order team should know a trace is running.",` +
						`"scheduled_date":null,"summary":null,"body":"UPS opened a trace for [TRACKING].","due_in_days":null},` +
						`"customer_message":"Hello, the carrier is looking for your parcel; we will update you within a day."}`
					_ = json.NewEncoder(w).Encode(map[string]any{"id": "x", "object": "chat.completion", "model": "tiny",
						"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": answer}}},
						"usage":   map[string]any{"prompt_tokens": 700, "completion_tokens": 90, "total_tokens": 790}})
				}))
				t.Cleanup(llm.Close)
				cfg.LLMBaseURL, cfg.LLMModel = llm.URL+"/v1", "tiny"
			}
			// In the past, so the debounced job's run time has already come.
			clk := &testClock{t: time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Hour)}
			r := apptest.StartWith(t, cfg, app.Options{Now: clk.now})
			_, err := r.Intake.Pipeline.SubmitEvents(ctx, "loadgen", []*intake.Event{{
				Carrier: "ups", TrackingNumber: "1Z999AA10123456784", SourceEventID: "trace-1", Status: intake.StatusInTransit,
				RawText: "Package is being researched by UPS", OccurredAt: clk.now().Add(-time.Hour), TZKnown: true, OrderRef: "S00042",
			}})
			if err != nil {
				t.Fatal(err)
			}
			var caseID string
			waitFor(t, r.DB, "the case", func(ctx context.Context, d *db.DB) bool {
				return d.Read.NewSelect().Table("triage_cases").Column("id").Where("tracking_number = ?", "1Z999AA10123456784").Scan(ctx, &caseID) == nil
			})
			r.Queue.Kick()
			waitFor(t, r.DB, "the summary", func(ctx context.Context, d *db.DB) bool {
				_, err := r.AI.Store.Summary(ctx, nil, caseID)
				return err == nil
			})
			s, _ := r.AI.Store.Summary(ctx, nil, caseID)
			if !withLLM {
				if s.GeneratedBy != ai.GeneratedByDeterministic || s.FallbackReason != ai.FallbackNotConfigured || s.Text == "" {
					t.Fatalf("summary %+v", s)
				}
				return
			}
			if s.GeneratedBy != ai.GeneratedByLLM || s.LikelyCause != "lost" || !strings.Contains(s.Text, "1Z999AA10123456784") {
				t.Fatalf("summary %+v", s)
			}
			var act struct{ Type, State, Params string }
			waitFor(t, r.DB, "the AI proposal", func(ctx context.Context, d *db.DB) bool {
				return d.Read.NewSelect().Table("triage_actions").Column("type", "state", "params").
					Where("case_id = ? AND origin = 'ai'", caseID).Scan(ctx, &act.Type, &act.State, &act.Params) == nil
			})
			if act.Type != "post_note" || act.State != "proposed" || !strings.Contains(act.Params, "UPS opened a trace for 1Z999AA10123456784") {
				t.Errorf("AI action %+v", act)
			}
		})
	}
}
