package app

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

	"github.com/yardmaster/yardmaster/internal/logx"
	"github.com/yardmaster/yardmaster/triage/ai"
	"github.com/yardmaster/yardmaster/triage/digest"
)

// chatEndpoint is an OpenAI-compatible chat completions endpoint answering
// with a fixed assistant content (or a status), recording the prompts.
func chatEndpoint(t *testing.T, status int, content string) (*httptest.Server, *[]string) {
	t.Helper()
	var mu sync.Mutex
	var prompts []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		prompts = append(prompts, string(b))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if status != http.StatusOK {
			w.WriteHeader(status)
			_, _ = io.WriteString(w, `{"error":{"message":"down","type":"server_error"}}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"id": "x", "object": "chat.completion", "created": 1, "model": "test-model",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": content}}},
			"usage":   map[string]any{"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150}})
	}))
	t.Cleanup(srv.Close)
	return srv, &prompts
}

func overviewDigest() *digest.Digest {
	t0 := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	return &digest.Digest{Version: 1, RunID: "01RUN", Kind: digest.RunScheduled, PeriodStart: t0, PeriodEnd: t0.Add(24 * time.Hour),
		TimeZone: "Europe/Berlin", Subscription: digest.SubscriptionRef{ID: "S", Name: "n", Audience: "Ada Account"},
		Totals: digest.Totals{Cases: 1, Open: 1, Breached: 1},
		Customers: []digest.CustomerSection{{ID: "42", Name: "Acme Retail", Cases: []digest.CaseLine{{ID: "01CASE", Title: "Parcel lost: DHL JD0142",
			Severity: digest.SeverityCritical, State: "open", SLA: "breached", Flags: []string{digest.FlagBreached}, Carrier: "dhl", TrackingNumber: "JD0142"}}}}}
}

func TestAIOverview(t *testing.T) {
	answer := `{"summary":"One critical case breached its SLA for one of your customers; it needs a call to the carrier today.","highlights":[{"case_ref":"C1","text":"Lost parcel, SLA breached: call the carrier."}]}`
	srv, prompts := chatEndpoint(t, http.StatusOK, answer)
	client, err := ai.NewClient(ai.LLMConfig{BaseURL: srv.URL + "/v1", Model: "test-model", Logger: logx.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	o := aiOverview{s: ai.NewSummarizer(ai.Options{Client: client, Logger: logx.Discard()})}
	ov, err := o.DigestOverview(context.Background(), overviewDigest())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ov.Text, "One critical case") || ov.GeneratedBy != "AI (test-model)" || len(ov.Highlights) != 1 || ov.Highlights[0].CaseID != "01CASE" {
		t.Fatalf("overview = %+v", ov)
	}
	if len(*prompts) != 1 || strings.Contains((*prompts)[0], "JD0142") {
		t.Fatalf("prompt sent %d times; tracking number redacted: %v", len(*prompts), !strings.Contains((*prompts)[0], "JD0142"))
	}

	// A failing endpoint is an error: the digest then uses its
	// deterministic overview.
	down, _ := chatEndpoint(t, http.StatusBadRequest, "")
	client, _ = ai.NewClient(ai.LLMConfig{BaseURL: down.URL + "/v1", Model: "test-model", Logger: logx.Discard()})
	o = aiOverview{s: ai.NewSummarizer(ai.Options{Client: client, Logger: logx.Discard()})}
	if _, err := o.DigestOverview(context.Background(), overviewDigest()); err == nil {
		t.Fatal("a failed model call must not pass for an AI overview")
	}
}
