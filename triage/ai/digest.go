package ai

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/yardmaster/yardmaster/internal/apperr"
)

// DigestSchemaName is the json_schema name of digest introductions.
const DigestSchemaName = "digest_summary_v1"

//go:embed digest_schema.json
var digestSchemaJSON []byte

var digestSchema = newResponseSchema(DigestSchemaName, "Digest introduction with highlighted cases", digestSchemaJSON)

const phRecipient = "[RECIPIENT]"

// MaxDigestCases is the number of cases a digest prompt describes; the
// digest builder passes them most important first.
const MaxDigestCases = 30

// DigestFacts is what a digest introduction may say. The digest builder
// (triage/digest) fills it; personal data in it is redacted before any of
// it is sent.
type DigestFacts struct {
	DigestID    string
	Recipient   Contact   // who receives the digest
	Accounts    []Contact // the customers the digest covers
	PeriodStart time.Time
	PeriodEnd   time.Time
	Language    string // Odoo lang or BCP 47 tag; empty: English
	Counts      DigestCounts
	Cases       []DigestCase // most important first
}

// DigestCounts are the period's totals.
type DigestCounts struct {
	Opened           int `json:"opened"`
	Updated          int `json:"updated"`
	Resolved         int `json:"resolved"`
	SLABreached      int `json:"sla_breached"`
	SLAAtRisk        int `json:"sla_at_risk"`
	PendingApprovals int `json:"pending_approvals"`
	ActionsExecuted  int `json:"actions_executed"`
}

// DigestCase is one case in a digest.
type DigestCase struct {
	CaseID         string
	Title          string
	Severity       string
	Status         string
	Carrier        string
	TrackingNumber string
	OrderRef       string
	LikelyCause    string
	SLADueAt       *time.Time
	SLABreached    bool
	Summary        string  // the case's current summary text
	Customer       Contact // redacted like every contact
}

// DigestSummary is the introduction of a digest.
type DigestSummary struct {
	DigestID       string            `json:"digest_id"`
	GeneratedBy    string            `json:"generated_by"` // "llm" or "deterministic"
	Model          string            `json:"model,omitempty"`
	Text           string            `json:"summary"`
	Highlights     []DigestHighlight `json:"highlights"`
	Language       string            `json:"language"`
	FactsHash      string            `json:"facts_hash"`
	Cached         bool              `json:"cached,omitempty"`
	FallbackReason string            `json:"fallback_reason,omitempty"`
	PromptTokens   int               `json:"prompt_tokens,omitempty"`
	OutputTokens   int               `json:"output_tokens,omitempty"`
	GeneratedAt    time.Time         `json:"generated_at"`
}

// DigestHighlight points at one case worth attention.
type DigestHighlight struct {
	CaseID string `json:"case_id"`
	Text   string `json:"text"`
}

// Validate reports digest facts an introduction cannot be built from.
func (f DigestFacts) Validate() error {
	var fe []apperr.FieldError
	if strings.TrimSpace(f.DigestID) == "" {
		fe = append(fe, apperr.FieldError{Field: "digest_id", Message: "required"})
	}
	if f.PeriodStart.IsZero() || f.PeriodEnd.IsZero() || !f.PeriodEnd.After(f.PeriodStart) {
		fe = append(fe, apperr.FieldError{Field: "period", Message: "start and end are required, end after start"})
	}
	for i, c := range f.Cases {
		if c.CaseID == "" {
			fe = append(fe, apperr.FieldError{Field: fmt.Sprintf("cases[%d].case_id", i), Message: "required"})
		}
	}
	if len(fe) > 0 {
		return apperr.Invalid("digest facts are incomplete", fe...)
	}
	return nil
}

// digestPrompt is the redacted request for one digest.
type digestPrompt struct {
	System, User string
	Refs         map[string]string // "C2" → case id
	Language     string
	redactor     *Redactor
}

func (p *digestPrompt) key(model string) string {
	h := sha256.New()
	for _, s := range []string{model, DigestSchemaName, PromptVersion, p.System, p.User} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func buildDigestPrompt(f DigestFacts) (*digestPrompt, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	r := newRedactor()
	// The recipient gets its own placeholder, so the model can address them.
	r.addContact(f.Recipient, phRecipient)
	for _, a := range f.Accounts {
		r.addContact(a, "")
	}
	cases := f.Cases
	if len(cases) > MaxDigestCases {
		cases = cases[:MaxDigestCases]
	}
	for _, c := range cases {
		r.addContact(c.Customer, "")
		r.addTracking(c.TrackingNumber)
		r.protect(c.OrderRef)
	}
	r.ready()
	lang := languageCode(f.Language)
	type dcase struct {
		Ref         string `json:"ref"`
		Title       string `json:"title,omitempty"`
		Severity    string `json:"severity,omitempty"`
		Status      string `json:"status,omitempty"`
		Carrier     string `json:"carrier,omitempty"`
		Order       string `json:"order_ref,omitempty"`
		Customer    string `json:"customer,omitempty"`
		LikelyCause string `json:"likely_cause,omitempty"`
		SLADueAt    string `json:"sla_due_at,omitempty"`
		SLABreached bool   `json:"sla_breached,omitempty"`
		Summary     string `json:"summary,omitempty"`
	}
	doc := struct {
		From      string       `json:"period_from"`
		To        string       `json:"period_to"`
		Language  string       `json:"language"`
		Recipient string       `json:"recipient,omitempty"`
		Accounts  []string     `json:"accounts,omitempty"`
		Counts    DigestCounts `json:"counts"`
		Cases     []dcase      `json:"cases"`
		More      int          `json:"more_cases_not_listed,omitempty"`
	}{From: stamp(&f.PeriodStart), To: stamp(&f.PeriodEnd), Language: languageName(lang), Counts: f.Counts, More: len(f.Cases) - len(cases)}
	if f.Recipient.Name != "" {
		doc.Recipient = phRecipient
	}
	for _, a := range f.Accounts {
		doc.Accounts = append(doc.Accounts, r.Redact(a.Name))
	}
	refs := map[string]string{}
	for i, c := range cases {
		ref := fmt.Sprintf("C%d", i+1)
		refs[ref] = c.CaseID
		doc.Cases = append(doc.Cases, dcase{
			Ref: ref, Title: r.Redact(truncate(c.Title, 160)), Severity: c.Severity, Status: c.Status, Carrier: c.Carrier,
			Order: c.OrderRef, Customer: r.Redact(c.Customer.Name), LikelyCause: c.LikelyCause, SLADueAt: stamp(c.SLADueAt),
			SLABreached: c.SLABreached, Summary: r.Redact(truncate(c.Summary, maxFieldRunes)),
		})
	}
	body, err := json.MarshalIndent(doc, "", " ")
	if err != nil {
		return nil, fmt.Errorf("encode digest facts: %w", err)
	}
	return &digestPrompt{System: digestSystemPrompt, User: "Digest facts (JSON):\n" + string(body), Refs: refs, Language: lang, redactor: r}, nil
}

const digestSystemPrompt = `You write the introduction of an escalation digest for a logistics exception desk whose orders are managed in Odoo.
You receive the digest's facts as JSON and answer with one JSON object that matches the given schema.

Rules:
- Use only the facts given. Never invent numbers, dates, causes or people; the counts are exact, repeat them only as given.
- Personal data has been replaced by placeholders in square brackets such as [RECIPIENT], [CONTACT_1], [TRACKING_1]. Use them exactly as written when you need them; never guess what they stand for.
- summary: at most 5 plain sentences for the recipient, in the language given: what changed in the period, what is at risk, what waits for their approval.
- highlights: up to 5 cases most worth attention (breached or at-risk SLAs and critical severity first), each with its ref (C1, C2, ...) and one sentence saying what is wrong and what is needed.`

// parseDigestAnswer validates a digest answer against the schema and the facts.
func parseDigestAnswer(content string, p *digestPrompt) (digestAnswer, error) {
	raw := []byte(stripFences(content))
	if err := digestSchema.validate(raw); err != nil {
		var se *SchemaError
		if errors.As(err, &se) {
			return digestAnswer{}, &InvalidAnswerError{Problems: se.Problems}
		}
		return digestAnswer{}, err
	}
	var a digestAnswer
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return digestAnswer{}, &InvalidAnswerError{Problems: []string{"does not decode: " + err.Error()}}
	}
	var probs []string
	if strings.TrimSpace(a.Summary) == "" {
		probs = append(probs, "/summary: must not be blank")
	}
	seen := map[string]bool{}
	for i, h := range a.Highlights {
		if _, ok := p.Refs[h.CaseRef]; !ok {
			probs = append(probs, fmt.Sprintf("/highlights/%d/case_ref: %s is not a case ref (the digest has C1 to C%d)", i, h.CaseRef, len(p.Refs)))
		}
		if seen[h.CaseRef] {
			probs = append(probs, fmt.Sprintf("/highlights/%d/case_ref: %s is highlighted twice", i, h.CaseRef))
		}
		seen[h.CaseRef] = true
	}
	texts := []string{a.Summary}
	for _, h := range a.Highlights {
		texts = append(texts, h.Text)
	}
	for _, t := range texts {
		for _, ph := range anyPlaceholderRE.FindAllString(t, -1) {
			if _, ok := p.redactor.values[ph]; !ok {
				probs = append(probs, fmt.Sprintf("%s is not one of the placeholders in the facts", ph))
			}
		}
	}
	if len(probs) > 0 {
		return digestAnswer{}, &InvalidAnswerError{Problems: probs}
	}
	return a, nil
}

type digestAnswer struct {
	Summary    string `json:"summary"`
	Highlights []struct {
		CaseRef string `json:"case_ref"`
		Text    string `json:"text"`
	} `json:"highlights"`
}

// SummarizeDigest writes the introduction of a digest, from the LLM when
// configured and well behaved, else deterministically (GeneratedBy
// "deterministic"). Errors: invalid facts, or ctx ended.
func (s *Summarizer) SummarizeDigest(ctx context.Context, f DigestFacts) (DigestSummary, error) {
	now := s.now().UTC()
	p, err := buildDigestPrompt(f)
	if err != nil {
		return DigestSummary{}, err
	}
	model := ""
	if s.client != nil {
		model = s.client.Model()
	}
	key := p.key(model)
	fallback := func(reason string, in, out int) (DigestSummary, error) {
		d, err := DeterministicDigest(f, now)
		d.FallbackReason, d.FactsHash, d.PromptTokens, d.OutputTokens = reason, key, in, out
		mSummaries.WithLabelValues(GeneratedByDeterministic).Inc()
		return d, err
	}
	if s.client == nil {
		mCalls.WithLabelValues("", OutcomeNotConfigured).Inc()
		return fallback(FallbackNotConfigured, 0, 0)
	}
	check := func(content string) error { _, err := parseDigestAnswer(content, p); return err }
	res, err := s.ask(ctx, digestSchema, key, p.System, p.User, check, slog.String("digest_id", f.DigestID))
	if err != nil {
		return DigestSummary{}, err
	}
	if res.fallback != "" {
		return fallback(res.fallback, res.in, res.out)
	}
	a, err := parseDigestAnswer(res.content, p)
	if err != nil {
		return DigestSummary{}, fmt.Errorf("checked digest answer no longer parses: %w", err)
	}
	d := DigestSummary{
		DigestID: f.DigestID, GeneratedBy: GeneratedByLLM, Model: model, Text: p.redactor.Restore(strings.TrimSpace(a.Summary)),
		Language: p.Language, FactsHash: key, Cached: res.cached, PromptTokens: res.in, OutputTokens: res.out, GeneratedAt: now,
	}
	for _, h := range a.Highlights {
		d.Highlights = append(d.Highlights, DigestHighlight{CaseID: p.Refs[h.CaseRef], Text: p.redactor.Restore(strings.TrimSpace(h.Text))})
	}
	mSummaries.WithLabelValues(GeneratedByLLM).Inc()
	return d, nil
}

// DeterministicDigest writes the introduction from the counts and the first
// cases alone (English).
func DeterministicDigest(f DigestFacts, now time.Time) (DigestSummary, error) {
	if err := f.Validate(); err != nil {
		return DigestSummary{}, err
	}
	c := f.Counts
	var parts []string
	parts = append(parts, fmt.Sprintf("From %s to %s: %s opened, %d updated, %d resolved.",
		stamp(&f.PeriodStart), stamp(&f.PeriodEnd), plural(c.Opened, "case", "cases"), c.Updated, c.Resolved))
	if c.SLABreached > 0 || c.SLAAtRisk > 0 {
		parts = append(parts, fmt.Sprintf("SLA breached on %s, at risk on %d.", plural(c.SLABreached, "case", "cases"), c.SLAAtRisk))
	}
	if c.PendingApprovals > 0 {
		parts = append(parts, plural(c.PendingApprovals, "action waits", "actions wait")+" for approval.")
	}
	if c.ActionsExecuted > 0 {
		parts = append(parts, plural(c.ActionsExecuted, "action was", "actions were")+" executed in Odoo.")
	}
	d := DigestSummary{DigestID: f.DigestID, GeneratedBy: GeneratedByDeterministic, Text: strings.Join(parts, " "), Language: "en", GeneratedAt: now.UTC()}
	for i, dc := range f.Cases {
		if i == 5 {
			break
		}
		t := strings.TrimSpace(dc.Title)
		if t == "" {
			t = "Case " + dc.CaseID
		}
		var bits []string
		if dc.Severity != "" {
			bits = append(bits, dc.Severity)
		}
		if dc.LikelyCause != "" && dc.LikelyCause != CauseUnknown {
			bits = append(bits, humanReason(dc.LikelyCause))
		}
		switch {
		case dc.SLABreached:
			bits = append(bits, "SLA breached")
		case dc.SLADueAt != nil:
			bits = append(bits, "SLA due "+stamp(dc.SLADueAt))
		}
		if len(bits) > 0 {
			t += " (" + strings.Join(bits, ", ") + ")"
		}
		d.Highlights = append(d.Highlights, DigestHighlight{CaseID: dc.CaseID, Text: t})
	}
	return d, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
