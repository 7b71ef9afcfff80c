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

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/queue"
	"github.com/yardmaster/yardmaster/internal/testenv"
)

func fixtureDigest() DigestFacts {
	return DigestFacts{
		DigestID:    "01JDIGEST",
		Recipient:   Contact{Name: "Sofia Martínez", Email: "sofia.martinez@yardmaster-demo.com"},
		Accounts:    []Contact{{Name: "Jürgen Müller", Email: "juergen.mueller@example.de", Phone: "+49 30 1234567"}},
		PeriodStart: t0.Add(-24 * time.Hour), PeriodEnd: t0, Language: "de_DE",
		Counts: DigestCounts{Opened: 4, Updated: 9, Resolved: 2, SLABreached: 1, SLAAtRisk: 2, PendingApprovals: 3, ActionsExecuted: 1},
		Cases: []DigestCase{
			{CaseID: "01JCASE1", Title: "Delivery failed for Jürgen Müller (S00042)", Severity: "high", Status: "open", Carrier: "dhl",
				TrackingNumber: "JD014600003828391234", OrderRef: "S00042", LikelyCause: "recipient_unavailable", SLABreached: true,
				Summary: "DHL could not deliver JD014600003828391234; call MUELLER on 030 1234567.", Customer: Contact{Name: "Jürgen Müller"}},
			{CaseID: "01JCASE2", Title: "Customs hold S00051", Severity: "medium", Status: "acknowledged", Carrier: "ups",
				LikelyCause: "customs_hold", SLADueAt: tp(t0.Add(6 * time.Hour)), Summary: "Awaiting invoice from Li Wu (li.wu@example.cn).",
				Customer: Contact{Name: "Li Wu", Email: "li.wu@example.cn"}},
		},
	}
}

const validDigestAnswer = `{
 "summary": "Hallo [RECIPIENT], in den letzten 24 Stunden wurden 4 Fälle eröffnet und 2 gelöst; 1 SLA ist verletzt und 3 Aktionen warten auf Ihre Freigabe.",
 "highlights": [
  {"case_ref": "C1", "text": "Zustellung an [CONTACT_1] gescheitert, SLA verletzt: bitte Kontakt aufnehmen."},
  {"case_ref": "C2", "text": "Zollhalt: Rechnung fehlt noch."}
 ]
}`

func TestSummarizeDigestWithLLM(t *testing.T) {
	fake := newFakeLLM(t, fakeReply{content: validDigestAnswer})
	c := &clock{t: t0}
	s := NewSummarizer(Options{Client: newTestClient(t, fake, c, &sleeps{}, nil), Now: c.now})
	d, err := s.SummarizeDigest(context.Background(), fixtureDigest())
	if err != nil {
		t.Fatal(err)
	}
	reqs := fake.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	rf := requestOf(t, reqs[0])["response_format"].(map[string]any)
	if js := rf["json_schema"].(map[string]any); js["name"] != DigestSchemaName || js["strict"] != true {
		t.Errorf("json_schema %v", js["name"])
	}
	for _, text := range []string{string(reqs[0]), messagesText(t, reqs[0])} {
		if leak := findPersonalData(text); leak != "" {
			t.Errorf("digest request contains %q", leak)
		}
		if strings.Contains(text, "JD014600003828391234") {
			t.Errorf("digest request contains a tracking number")
		}
	}
	if d.GeneratedBy != GeneratedByLLM || !strings.HasPrefix(d.Text, "Hallo Sofia Martínez,") || d.Language != "de" {
		t.Errorf("digest %q %q %q", d.GeneratedBy, d.Text, d.Language)
	}
	want := []DigestHighlight{
		{CaseID: "01JCASE1", Text: "Zustellung an Jürgen Müller gescheitert, SLA verletzt: bitte Kontakt aufnehmen."},
		{CaseID: "01JCASE2", Text: "Zollhalt: Rechnung fehlt noch."},
	}
	if len(d.Highlights) != 2 || d.Highlights[0] != want[0] || d.Highlights[1] != want[1] {
		t.Errorf("highlights %+v", d.Highlights)
	}
}

func TestSummarizeDigestFallsBack(t *testing.T) {
	bad := strings.Replace(validDigestAnswer, `"C2"`, `"C9"`, 1)
	fake := newFakeLLM(t, fakeReply{content: bad})
	c := &clock{t: t0}
	s := NewSummarizer(Options{Client: newTestClient(t, fake, c, &sleeps{}, nil), Now: c.now})
	d, err := s.SummarizeDigest(context.Background(), fixtureDigest())
	if err != nil {
		t.Fatal(err)
	}
	if d.GeneratedBy != GeneratedByDeterministic || d.FallbackReason != FallbackInvalidAnswer || len(fake.requests()) != 2 {
		t.Fatalf("digest %q %q after %d requests", d.GeneratedBy, d.FallbackReason, len(fake.requests()))
	}
	if !strings.Contains(messagesText(t, fake.requests()[1]), "C9 is not a case ref") {
		t.Errorf("repair request does not name the bad ref")
	}
}

func TestDeterministicDigestGolden(t *testing.T) {
	s := NewSummarizer(Options{Now: func() time.Time { return t0 }})
	d, err := s.SummarizeDigest(context.Background(), fixtureDigest())
	if err != nil {
		t.Fatal(err)
	}
	if d.GeneratedBy != GeneratedByDeterministic || d.FallbackReason != FallbackNotConfigured {
		t.Fatalf("%q %q", d.GeneratedBy, d.FallbackReason)
	}
	b, _ := json.MarshalIndent(d, "", "  ")
	golden(t, "deterministic_digest.golden.json", append(b, '\n'))
	if _, err := s.SummarizeDigest(context.Background(), DigestFacts{DigestID: "x"}); !errors.Is(err, apperr.ErrInvalid) {
		t.Errorf("digest without a period: %v", err)
	}
}

type digestStore struct {
	mu sync.Mutex
	m  map[string]DigestFacts
	// saved records what the sink got.
	saved map[string]DigestSummary
}

func (s *digestStore) DigestFacts(_ context.Context, id string) (DigestFacts, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.m[id]
	if !ok {
		return DigestFacts{}, apperr.NotFound("digest "+id, nil)
	}
	return f, nil
}

func (s *digestStore) SaveDigestSummary(_ context.Context, id string, d DigestSummary) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saved[id] = d
	return nil
}

func TestHandleDigestSummarize(t *testing.T) {
	d := testenv.DB(t)
	ds := &digestStore{m: map[string]DigestFacts{"01JDIGEST": fixtureDigest()}, saved: map[string]DigestSummary{}}
	svc := NewService(ServiceOptions{DB: d, Store: NewStore(d), Digests: ds, DigestSink: ds,
		Summarizer: NewSummarizer(Options{Now: func() time.Time { return t0 }})})
	ctx := context.Background()
	if err := svc.HandleDigestSummarize(ctx, queue.Delivery{Payload: []byte(`{"digest_id":"01JDIGEST"}`)}); err != nil {
		t.Fatal(err)
	}
	if got := ds.saved["01JDIGEST"]; got.GeneratedBy != GeneratedByDeterministic || len(got.Highlights) != 2 {
		t.Errorf("saved %+v", got)
	}
	for name, payload := range map[string]string{"not json": `[`, "no id": `{}`, "unknown": `{"digest_id":"01JNONE"}`} {
		if err := svc.HandleDigestSummarize(ctx, queue.Delivery{Payload: []byte(payload)}); !errors.Is(err, asynq.SkipRetry) {
			t.Errorf("%s: %v, want permanent", name, err)
		}
	}
	unwired := NewService(ServiceOptions{DB: d})
	if err := unwired.HandleDigestSummarize(ctx, queue.Delivery{Payload: []byte(`{"digest_id":"01JDIGEST"}`)}); !errors.Is(err, asynq.SkipRetry) {
		t.Errorf("unwired: %v", err)
	}
	if err := svc.EnqueueDigestSummarize(ctx, d, "01JDIGEST"); err != nil {
		t.Fatal(err)
	}
	if err := svc.EnqueueDigestSummarize(ctx, d, "01JDIGEST"); err != nil {
		t.Fatal(err)
	}
	if keys := outboxKeys(t, d, TaskDigestSummarize); len(keys) != 1 {
		t.Errorf("digest jobs %v, want one", keys)
	}
}

func FuzzParseDigestAnswer(f *testing.F) {
	f.Add(validDigestAnswer)
	f.Add(strings.Replace(validDigestAnswer, `"C2"`, `"C1"`, 1))
	f.Add(`{"summary":"x","highlights":[]}`)
	p, err := buildDigestPrompt(fixtureDigest())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, content string) {
		a, err := parseDigestAnswer(content, p)
		if err != nil {
			return
		}
		if len(a.Highlights) > 5 {
			t.Fatalf("accepted %d highlights", len(a.Highlights))
		}
		for _, h := range a.Highlights {
			if p.Refs[h.CaseRef] == "" {
				t.Fatalf("accepted ref %q", h.CaseRef)
			}
		}
	})
}
