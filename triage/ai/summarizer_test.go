package ai

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/yardmaster/yardmaster/internal/apperr"
)

// validAnswer is a schema-conforming answer for fixtureFacts, written with
// the placeholders the model sees.
const validAnswer = `{
 "summary": "DHL tried to deliver on 2026-11-26 but nobody was at home; the promised date 2026-11-26 has passed and the carrier now expects 2026-11-28.",
 "likely_cause": "recipient_unavailable",
 "cause_confidence": "high",
 "evidence": ["E4", "E3"],
 "next_step": {
  "action": "schedule_activity",
  "rationale": "Delivery needs [CUSTOMER] to be home; [SALESPERSON] should agree a time today.",
  "scheduled_date": null,
  "summary": "Call [CUSTOMER] about the missed delivery",
  "body": "Reach [CUSTOMER] on [PHONE_1] and agree a delivery time for [TRACKING].",
  "due_in_days": 1
 },
 "customer_message": "Hallo [CUSTOMER],\n\nDHL konnte Ihre Sendung [TRACKING] heute nicht zustellen. Bitte teilen Sie uns mit, wann Sie erreichbar sind.\n\nViele Grüße"
}`

func requestOf(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("request is not JSON: %v", err)
	}
	return m
}

// messagesText concatenates the decoded contents of a request's messages.
func messagesText(t *testing.T, body []byte) string {
	t.Helper()
	var req struct {
		Messages []struct{ Role, Content string } `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("decode request: %v", err)
	}
	var b strings.Builder
	for _, m := range req.Messages {
		b.WriteString(m.Content)
		b.WriteString("\n")
	}
	return b.String()
}

func TestSummarizeSendsSchemaModelAndNoPersonalData(t *testing.T) {
	fake := newFakeLLM(t, fakeReply{content: validAnswer})
	c := &clock{t: t0}
	cl := newTestClient(t, fake, c, &sleeps{}, nil)
	s := NewSummarizer(Options{Client: cl, Now: c.now})

	sum, err := s.Summarize(context.Background(), testFacts(t))
	if err != nil {
		t.Fatalf("Summarize: %v", err)
	}
	reqs := fake.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	req := requestOf(t, reqs[0])
	if req["model"] != "fake-model" {
		t.Errorf("model = %v", req["model"])
	}
	if req["max_tokens"] != float64(700) || req["max_completion_tokens"] != nil {
		t.Errorf("token cap: max_tokens=%v max_completion_tokens=%v", req["max_tokens"], req["max_completion_tokens"])
	}
	if tmp, _ := req["temperature"].(float64); tmp <= 0 || tmp > 0.2 {
		t.Errorf("temperature = %v, want a small positive value", req["temperature"])
	}
	rf, _ := req["response_format"].(map[string]any)
	if rf["type"] != "json_schema" {
		t.Fatalf("response_format.type = %v", rf["type"])
	}
	js, _ := rf["json_schema"].(map[string]any)
	if js["name"] != SchemaName || js["strict"] != true {
		t.Errorf("json_schema name/strict = %v/%v", js["name"], js["strict"])
	}
	sent, _ := json.Marshal(js["schema"])
	var want any
	_ = json.Unmarshal(boundedWireSchema, &want)
	wantB, _ := json.Marshal(want)
	if string(sent) != string(wantB) {
		t.Errorf("schema sent differs from the bounded wire schema")
	}
	if !strings.Contains(string(sent), `"maxLength":700`) {
		t.Errorf("schema sent has no length bound on summary")
	}

	// No personal datum in any spelling, in the raw body or in the decoded
	// message texts.
	for _, text := range []string{string(reqs[0]), messagesText(t, reqs[0])} {
		if leak := findPersonalData(text); leak != "" {
			t.Errorf("request contains personal data %q", leak)
		}
		if strings.Contains(text, "JD014600003828391234") {
			t.Errorf("request contains the tracking number")
		}
	}

	if sum.GeneratedBy != GeneratedByLLM || sum.Model != "fake-model" || sum.FallbackReason != "" {
		t.Errorf("generated_by=%q model=%q fallback=%q", sum.GeneratedBy, sum.Model, sum.FallbackReason)
	}
	if sum.LikelyCause != "recipient_unavailable" || sum.CauseConfidence != "high" {
		t.Errorf("cause = %s/%s", sum.LikelyCause, sum.CauseConfidence)
	}
	if diff := cmp.Diff([]string{"01JEV03", "01JEV04"}, sum.Evidence); diff != "" {
		t.Errorf("evidence (-want +got):\n%s", diff)
	}
	wantStep := &ProposedAction{
		Type: ActionScheduleActivity,
		Params: map[string]string{
			"summary":       "Call Jürgen Müller about the missed delivery",
			"note":          "Reach Jürgen Müller on +49 30 1234567 and agree a delivery time for JD014600003828391234.",
			"date_deadline": "2026-11-28",
		},
		Rationale: "Delivery needs Jürgen Müller to be home; Sofia Martínez should agree a time today.",
	}
	if diff := cmp.Diff(wantStep, sum.NextStep); diff != "" {
		t.Errorf("next step (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(sum.CustomerMessage, "Hallo Jürgen Müller,") || !strings.Contains(sum.CustomerMessage, "JD014600003828391234") {
		t.Errorf("customer message not restored: %q", sum.CustomerMessage)
	}
	if sum.Language != "de" || sum.PromptTokens != 1200 || sum.OutputTokens != 180 || sum.FactsHash == "" {
		t.Errorf("language=%q tokens=%d/%d hash=%q", sum.Language, sum.PromptTokens, sum.OutputTokens, sum.FactsHash)
	}
}

func TestSummarizeCachesByContent(t *testing.T) {
	fake := newFakeLLM(t, fakeReply{content: validAnswer})
	c := &clock{t: t0}
	store := &memStore{m: map[string]CachedAnswer{}}
	s := NewSummarizer(Options{Client: newTestClient(t, fake, c, &sleeps{}, nil), Store: store, Now: c.now})
	ctx := context.Background()
	first, err := s.Summarize(ctx, testFacts(t))
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.Summarize(ctx, testFacts(t))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(fake.requests()); n != 1 {
		t.Fatalf("%d requests for equal facts, want 1", n)
	}
	if first.Cached || !second.Cached || second.FactsHash != first.FactsHash {
		t.Errorf("cached flags %v/%v, hashes equal %v", first.Cached, second.Cached, second.FactsHash == first.FactsHash)
	}
	if second.Text != first.Text || second.CustomerMessage != first.CustomerMessage {
		t.Errorf("cached summary differs")
	}
	// The stored answer holds placeholders, not personal data.
	for _, a := range store.m {
		if leak := findPersonalData(string(a.Answer)); leak != "" {
			t.Errorf("cached answer contains %q", leak)
		}
	}
	// A second process with the same store does not call either.
	s2 := NewSummarizer(Options{Client: newTestClient(t, fake, c, &sleeps{}, nil), Store: store, Now: c.now})
	if third, err := s2.Summarize(ctx, testFacts(t)); err != nil || !third.Cached {
		t.Fatalf("store hit: cached=%v err=%v", third.Cached, err)
	}
	// Changed facts miss the cache.
	f := testFacts(t)
	f.Case.Severity = "critical"
	if _, err := s.Summarize(ctx, f); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.requests()); n != 2 {
		t.Fatalf("%d requests after a change, want 2", n)
	}
}

// memStore is an in-memory CacheStore for tests of the summarizer's use of
// a store (the SQL store has its own tests against real databases).
type memStore struct {
	mu sync.Mutex
	m  map[string]CachedAnswer
}

func (s *memStore) GetAnswer(_ context.Context, key string) (CachedAnswer, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.m[key]
	return a, ok, nil
}

func (s *memStore) PutAnswer(_ context.Context, a CachedAnswer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[a.Key] = a
	return nil
}

func TestSummarizeRepairsMalformedAnswerOnce(t *testing.T) {
	truncated := validAnswer[:200]
	fake := newFakeLLM(t, fakeReply{content: truncated, finish: "length"}, fakeReply{content: validAnswer})
	c := &clock{t: t0}
	before := testutil.ToFloat64(mCalls.WithLabelValues("fake-model", OutcomeRepaired))
	s := NewSummarizer(Options{Client: newTestClient(t, fake, c, &sleeps{}, nil), Now: c.now})
	sum, err := s.Summarize(context.Background(), testFacts(t))
	if err != nil {
		t.Fatal(err)
	}
	reqs := fake.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	repair := messagesText(t, reqs[1])
	if !strings.Contains(repair, "Your answer was rejected") || !strings.Contains(repair, "cut off at the token limit") || !strings.Contains(repair, truncated[:100]) {
		t.Errorf("repair request lacks the problems or the previous answer:\n%s", repair[len(repair)-600:])
	}
	if sum.GeneratedBy != GeneratedByLLM || sum.PromptTokens != 2400 {
		t.Errorf("generated_by=%q prompt tokens=%d", sum.GeneratedBy, sum.PromptTokens)
	}
	if got := testutil.ToFloat64(mCalls.WithLabelValues("fake-model", OutcomeRepaired)) - before; got != 1 {
		t.Errorf("repaired counter +%v, want +1", got)
	}
}

func TestSummarizeFallsBackAfterSecondMalformedAnswer(t *testing.T) {
	tests := []struct {
		name    string
		content string
	}{
		{"not json", "Sure! Here is the summary you asked for."},
		{"wrong cause", strings.Replace(validAnswer, `"recipient_unavailable"`, `"alien_abduction"`, 1)},
		{"missing field", strings.Replace(validAnswer, `"cause_confidence": "high",`, ``, 1)},
		{"unknown evidence ref", strings.Replace(validAnswer, `"E4"`, `"E9"`, 1)},
		{"invented placeholder", strings.Replace(validAnswer, "Hallo [CUSTOMER]", "Hallo [CUSTOMER_NAME]", 1)},
		{"activity without due date", strings.Replace(validAnswer, `"due_in_days": 1`, `"due_in_days": null`, 1)},
		{"reschedule into the past", strings.Replace(strings.Replace(validAnswer, `"schedule_activity"`, `"reschedule_picking"`, 1), `"scheduled_date": null`, `"scheduled_date": "2026-11-01"`, 1)},
		{"summary too long", strings.Replace(validAnswer, `"summary": "DHL`, `"summary": "`+strings.Repeat("x", 800)+` DHL`, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeLLM(t, fakeReply{content: tt.content})
			c := &clock{t: t0}
			s := NewSummarizer(Options{Client: newTestClient(t, fake, c, &sleeps{}, nil), Now: c.now})
			sum, err := s.Summarize(context.Background(), testFacts(t))
			if err != nil {
				t.Fatal(err)
			}
			if n := len(fake.requests()); n != 2 {
				t.Errorf("%d requests, want 2 (one repair at most)", n)
			}
			if sum.GeneratedBy != GeneratedByDeterministic || sum.FallbackReason != FallbackInvalidAnswer {
				t.Errorf("generated_by=%q fallback=%q", sum.GeneratedBy, sum.FallbackReason)
			}
		})
	}
}

func TestSummarizeTimeoutFallsBack(t *testing.T) {
	fake := newFakeLLM(t, fakeReply{block: true})
	c := &clock{t: t0}
	cl := newTestClient(t, fake, c, &sleeps{}, func(cfg *LLMConfig) { cfg.Timeout = 50 * time.Millisecond })
	s := NewSummarizer(Options{Client: cl, Now: c.now})
	sum, err := s.Summarize(context.Background(), testFacts(t))
	if err != nil {
		t.Fatal(err)
	}
	if sum.GeneratedBy != GeneratedByDeterministic || sum.FallbackReason != FallbackTimeout {
		t.Errorf("generated_by=%q fallback=%q", sum.GeneratedBy, sum.FallbackReason)
	}
	if n := len(fake.requests()); n != 1 {
		t.Errorf("%d requests: a timeout must not be retried", n)
	}
}

func TestSummarizeCallerCancelIsAnError(t *testing.T) {
	fake := newFakeLLM(t, fakeReply{block: true})
	c := &clock{t: t0}
	s := NewSummarizer(Options{Client: newTestClient(t, fake, c, &sleeps{}, nil), Now: c.now})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for len(fake.requests()) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if _, err := s.Summarize(ctx, testFacts(t)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestSummarizeRetriesHonouringRetryAfter(t *testing.T) {
	tests := []struct {
		name      string
		replies   []fakeReply
		wantWaits []time.Duration
		wantBy    string
		wantFall  string
		wantReqs  int
	}{
		{
			name:      "429 with Retry-After seconds",
			replies:   []fakeReply{{status: 429, header: map[string]string{"Retry-After": "3"}}, {content: validAnswer}},
			wantWaits: []time.Duration{3 * time.Second}, wantBy: GeneratedByLLM, wantReqs: 2,
		},
		{
			name:      "429 with Retry-After HTTP date",
			replies:   []fakeReply{{status: 429, header: map[string]string{"Retry-After": t0.Add(7 * time.Second).Format(http.TimeFormat)}}, {content: validAnswer}},
			wantWaits: []time.Duration{7 * time.Second}, wantBy: GeneratedByLLM, wantReqs: 2,
		},
		{
			name:      "503 then 502 then ok with retry-after-ms",
			replies:   []fakeReply{{status: 503, header: map[string]string{"Retry-After-Ms": "250"}}, {status: 502, header: map[string]string{"Retry-After": "1"}}, {content: validAnswer}},
			wantWaits: []time.Duration{250 * time.Millisecond, time.Second}, wantBy: GeneratedByLLM, wantReqs: 3,
		},
		{
			name:    "429 asking for an hour gives up at once",
			replies: []fakeReply{{status: 429, header: map[string]string{"Retry-After": "3600"}}},
			wantBy:  GeneratedByDeterministic, wantFall: FallbackRateLimited, wantReqs: 1,
		},
		{
			name:      "429 three times exhausts the retries",
			replies:   []fakeReply{{status: 429, header: map[string]string{"Retry-After": "1"}}},
			wantWaits: []time.Duration{time.Second, time.Second}, wantBy: GeneratedByDeterministic, wantFall: FallbackRateLimited, wantReqs: 3,
		},
		{
			name:    "400 is not retried",
			replies: []fakeReply{{status: 400, body: `{"error":{"message":"unknown model","type":"invalid_request_error"}}`}},
			wantBy:  GeneratedByDeterministic, wantFall: FallbackUpstream, wantReqs: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeLLM(t, tt.replies...)
			c := &clock{t: t0}
			sl := &sleeps{}
			s := NewSummarizer(Options{Client: newTestClient(t, fake, c, sl, nil), Now: c.now})
			sum, err := s.Summarize(context.Background(), testFacts(t))
			if err != nil {
				t.Fatal(err)
			}
			if sum.GeneratedBy != tt.wantBy || sum.FallbackReason != tt.wantFall {
				t.Errorf("generated_by=%q fallback=%q, want %q/%q", sum.GeneratedBy, sum.FallbackReason, tt.wantBy, tt.wantFall)
			}
			if n := len(fake.requests()); n != tt.wantReqs {
				t.Errorf("%d requests, want %d", n, tt.wantReqs)
			}
			if diff := cmp.Diff(tt.wantWaits, sl.all()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			// Every retry resends the same body.
			reqs := fake.requests()
			for i := 1; i < len(reqs); i++ {
				if string(reqs[i]) != string(reqs[0]) {
					t.Errorf("retry %d sent a different body", i)
				}
			}
		})
	}
}

func TestSummarizeBackoffWithoutRetryAfter(t *testing.T) {
	fake := newFakeLLM(t, fakeReply{status: 500}, fakeReply{content: validAnswer})
	c := &clock{t: t0}
	sl := &sleeps{}
	s := NewSummarizer(Options{Client: newTestClient(t, fake, c, sl, nil), Now: c.now})
	if sum, err := s.Summarize(context.Background(), testFacts(t)); err != nil || sum.GeneratedBy != GeneratedByLLM {
		t.Fatalf("sum=%+v err=%v", sum, err)
	}
	w := sl.all()
	if len(w) != 1 || w[0] < 500*time.Millisecond || w[0] > 750*time.Millisecond {
		t.Errorf("backoff waits %v, want one in [500ms, 750ms]", w)
	}
}

func TestSummarizeWithoutLLMIsDeterministic(t *testing.T) {
	s := NewSummarizer(Options{Now: func() time.Time { return t0 }})
	sum, err := s.Summarize(context.Background(), testFacts(t))
	if err != nil {
		t.Fatal(err)
	}
	if sum.GeneratedBy != GeneratedByDeterministic || sum.FallbackReason != FallbackNotConfigured || sum.Text == "" || sum.CustomerMessage == "" {
		t.Fatalf("summary %+v", sum)
	}
	b, _ := json.Marshal(sum)
	if !strings.Contains(string(b), `"generated_by":"deterministic"`) {
		t.Errorf("JSON lacks the deterministic label: %s", b)
	}
}

func TestSummarizeRejectsInvalidFacts(t *testing.T) {
	s := NewSummarizer(Options{Now: func() time.Time { return t0 }})
	_, err := s.Summarize(context.Background(), Facts{Case: CaseFacts{Kind: "parcel"}})
	e, ok := apperr.As(err)
	if !ok || e.Kind != apperr.KindInvalid || len(e.Fields) != 3 {
		t.Fatalf("err = %v, want invalid with 3 field errors", err)
	}
}

func TestSummarizeBudgetPerHour(t *testing.T) {
	fake := newFakeLLM(t, fakeReply{content: validAnswer})
	c := &clock{t: t0}
	s := NewSummarizer(Options{Client: newTestClient(t, fake, c, &sleeps{}, func(cfg *LLMConfig) { cfg.CallsPerHour = 1 }), Now: c.now})
	ctx := context.Background()
	f := testFacts(t)
	if sum, _ := s.Summarize(ctx, f); sum.GeneratedBy != GeneratedByLLM {
		t.Fatalf("first call: %q %q", sum.GeneratedBy, sum.FallbackReason)
	}
	f.Case.Priority = 80 // different facts: no cache hit
	if sum, _ := s.Summarize(ctx, f); sum.FallbackReason != FallbackBudget {
		t.Fatalf("second call within the hour: %q %q", sum.GeneratedBy, sum.FallbackReason)
	}
	c.add(61 * time.Minute)
	f.Case.Priority = 81
	if sum, _ := s.Summarize(ctx, f); sum.GeneratedBy != GeneratedByLLM {
		t.Fatalf("after the hour: %q %q", sum.GeneratedBy, sum.FallbackReason)
	}
	if n := len(fake.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestSchemaRejectionDowngradesResponseFormat(t *testing.T) {
	fake := newFakeLLM(t,
		fakeReply{status: 400, body: `{"error":{"message":"Invalid schema for response_format 'case_summary_v1': 'maxLength' is not permitted.","type":"invalid_request_error"}}`},
		fakeReply{status: 400, body: `{"error":{"message":"response_format json_schema is not supported","type":"invalid_request_error"}}`},
		fakeReply{content: validAnswer},
	)
	c := &clock{t: t0}
	cl := newTestClient(t, fake, c, &sleeps{}, nil)
	s := NewSummarizer(Options{Client: cl, Now: c.now})
	sum, err := s.Summarize(context.Background(), testFacts(t))
	if err != nil || sum.GeneratedBy != GeneratedByLLM {
		t.Fatalf("sum=%q/%q err=%v", sum.GeneratedBy, sum.FallbackReason, err)
	}
	reqs := fake.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	if !strings.Contains(string(reqs[0]), "maxLength") || strings.Contains(string(reqs[1]), "maxLength") {
		t.Errorf("second request should carry the portable schema without bounds")
	}
	third := requestOf(t, reqs[2])
	if rf := third["response_format"].(map[string]any); rf["type"] != "json_object" {
		t.Errorf("third request response_format = %v", rf)
	}
	if !strings.Contains(messagesText(t, reqs[2]), `"likely_cause"`) {
		t.Errorf("json_object mode must put the schema in the prompt")
	}
	// The downgrade sticks for the process.
	f := testFacts(t)
	f.Case.Priority = 1
	if _, err := s.Summarize(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if rf := requestOf(t, fake.requests()[3])["response_format"].(map[string]any); rf["type"] != "json_object" {
		t.Errorf("mode did not stick: %v", rf)
	}
}

func TestOnlyNoneWithoutOdooOrder(t *testing.T) {
	f := testFacts(t)
	f.Odoo = nil
	none := strings.Replace(validAnswer, `"action": "schedule_activity"`, `"action": "none"`, 1)
	none = strings.NewReplacer("[PHONE_1]", "the phone", "[SALESPERSON]", "the team", "[CUSTOMER]", "the customer").Replace(none)
	fake := newFakeLLM(t, fakeReply{content: validAnswer}, fakeReply{content: none})
	c := &clock{t: t0}
	s := NewSummarizer(Options{Client: newTestClient(t, fake, c, &sleeps{}, nil), Now: c.now})
	sum, err := s.Summarize(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if sum.GeneratedBy != GeneratedByLLM || sum.NextStep != nil {
		t.Fatalf("generated_by=%q fallback=%q next=%+v", sum.GeneratedBy, sum.FallbackReason, sum.NextStep)
	}
	if !strings.Contains(messagesText(t, fake.requests()[1]), "no Odoo order") {
		t.Errorf("repair request does not explain the action problem")
	}
}

func TestTokenParamForOpenAIHosts(t *testing.T) {
	tests := []struct{ url, param, want string }{
		{"http://127.0.0.1:11434/v1", "", "max_tokens"},
		{"https://api.openai.com/v1", "", "max_completion_tokens"},
		{"https://acme.openai.azure.com/openai/v1", "auto", "max_completion_tokens"},
		{"https://api.openai.com/v1", "max_tokens", "max_tokens"},
	}
	for _, tt := range tests {
		cl, err := NewClient(LLMConfig{BaseURL: tt.url, Model: "m", TokenParam: tt.param})
		if err != nil {
			t.Fatal(err)
		}
		if cl.cfg.TokenParam != tt.want {
			t.Errorf("%s %q: %s, want %s", tt.url, tt.param, cl.cfg.TokenParam, tt.want)
		}
	}
	for _, bad := range []LLMConfig{{BaseURL: "ftp://x/v1", Model: "m"}, {BaseURL: "http://x/v1"}, {BaseURL: "http://x/v1", Model: "m", TokenParam: "tokens"}} {
		if _, err := NewClient(bad); err == nil {
			t.Errorf("NewClient(%+v) accepted", bad)
		}
	}
	if _, err := NewClient(LLMConfig{}); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("empty config: %v", err)
	}
}

func TestMetricsCountTokensAndCost(t *testing.T) {
	fake := newFakeLLM(t, fakeReply{content: validAnswer})
	c := &clock{t: t0}
	model := "fake-model"
	inBefore := testutil.ToFloat64(mTokens.WithLabelValues(model, "in"))
	costBefore := testutil.ToFloat64(mCost.WithLabelValues(model))
	s := NewSummarizer(Options{Client: newTestClient(t, fake, c, &sleeps{}, nil), Now: c.now})
	f := testFacts(t)
	f.Case.Title = "metrics test"
	if _, err := s.Summarize(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(mTokens.WithLabelValues(model, "in")) - inBefore; got != 1200 {
		t.Errorf("tokens in +%v, want +1200", got)
	}
	// 1200/1000*0.15 + 180/1000*0.6 = 0.288
	if got := testutil.ToFloat64(mCost.WithLabelValues(model)) - costBefore; got < 0.2879 || got > 0.2881 {
		t.Errorf("cost +%v, want +0.288", got)
	}
}

func TestReasoningModelRequest(t *testing.T) {
	fake := newFakeLLM(t, fakeReply{content: validAnswer})
	c := &clock{t: t0}
	cl := newTestClient(t, fake, c, &sleeps{}, func(cfg *LLMConfig) { cfg.Model = "gpt-5-mini" })
	s := NewSummarizer(Options{Client: cl, Now: c.now})
	sum, err := s.Summarize(context.Background(), testFacts(t))
	if err != nil || sum.GeneratedBy != GeneratedByLLM {
		t.Fatalf("sum %q/%q err %v", sum.GeneratedBy, sum.FallbackReason, err)
	}
	req := requestOf(t, fake.requests()[0])
	if _, ok := req["temperature"]; ok {
		t.Errorf("temperature sent to a reasoning model: %v", req["temperature"])
	}
	if req["max_completion_tokens"] != float64(700) || req["max_tokens"] != nil {
		t.Errorf("token field: %v / %v", req["max_completion_tokens"], req["max_tokens"])
	}
}
