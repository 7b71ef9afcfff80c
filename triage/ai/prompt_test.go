package ai

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/intake"
)

func TestPromptGolden(t *testing.T) {
	p, err := BuildPrompt(testFacts(t), t0)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "prompt_user.golden.txt", []byte(p.User))
	golden(t, "prompt_system.golden.txt", []byte(p.System))
	if leak := findPersonalData(p.System + p.User); leak != "" {
		t.Errorf("prompt contains %q", leak)
	}
	if want := map[string]string{"E1": "01JEV01", "E2": "01JEV02", "E3": "01JEV03", "E4": "01JEV04"}; len(p.Refs) != 4 || p.Refs["E4"] != want["E4"] || p.Refs["E1"] != want["E1"] {
		t.Errorf("refs = %v", p.Refs)
	}
}

func TestPromptIsDeterministicAndKeyTracksFacts(t *testing.T) {
	f := testFacts(t)
	a, _ := BuildPrompt(f, t0)
	// Shuffled timeline and notes give the same prompt.
	g := testFacts(t)
	g.Timeline[0], g.Timeline[3] = g.Timeline[3], g.Timeline[0]
	b, _ := BuildPrompt(g, t0.Add(3*time.Hour))
	if a.Key("m") != b.Key("m") {
		t.Errorf("equal facts on the same day give different keys")
	}
	if a.Key("m") == a.Key("other-model") {
		t.Errorf("the model is not part of the key")
	}
	c, _ := BuildPrompt(f, t0.Add(24*time.Hour))
	if c.Key("m") == a.Key("m") {
		t.Errorf("a new day must give a new key (today is in the prompt)")
	}
	f.Notes = append(f.Notes, Note{Author: "Anneliese Okafor", Body: "Customer called back", At: t0})
	d, _ := BuildPrompt(f, t0)
	if d.Key("m") == a.Key("m") {
		t.Errorf("a new note does not change the key")
	}
}

func TestPromptTrimsLongHistories(t *testing.T) {
	f := testFacts(t)
	f.Timeline = nil
	for i := 0; i < 100; i++ {
		f.Timeline = append(f.Timeline, intake.Event{
			ID: "EV" + string(rune('A'+i/26)) + string(rune('A'+i%26)), OccurredAt: t0.Add(time.Duration(i-100) * time.Hour),
			Status: intake.StatusInTransit, RawText: strings.Repeat("scan ", 200),
		})
	}
	p, err := BuildPrompt(f, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Refs) != MaxTimelineEvents {
		t.Errorf("%d events in prompt, want %d", len(p.Refs), MaxTimelineEvents)
	}
	if p.Refs["E40"] != f.Timeline[99].ID {
		t.Errorf("the newest event must be last: %s", p.Refs["E40"])
	}
	var doc struct {
		Timeline []struct {
			Text string `json:"carrier_text"`
		} `json:"timeline"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(p.User, "Case facts (JSON):\n")), &doc); err != nil {
		t.Fatal(err)
	}
	if n := len([]rune(doc.Timeline[0].Text)); n > maxFieldRunes {
		t.Errorf("carrier text of %d runes, want <= %d", n, maxFieldRunes)
	}
}

func TestLanguageCode(t *testing.T) {
	for in, want := range map[string]string{"de_DE": "de", "fr-CA": "fr", "": "en", "EN": "en", "x": "en", "12": "en", "pt_BR": "pt", "fil": "fil"} {
		if got := languageCode(in); got != want {
			t.Errorf("languageCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDeterministicGolden(t *testing.T) {
	tests := []struct {
		name  string
		facts func() Facts
	}{
		{"deterministic_recipient.golden.json", fixtureFacts},
		{"deterministic_delay.golden.json", func() Facts {
			f := fixtureFacts()
			f.Shipment.Status = intake.StatusInTransit
			f.Shipment.OpenExceptions = []intake.OpenException{{Reason: "weather", Category: "external", Severity: intake.SeverityWarning, OpenedAt: t0.Add(-5 * time.Hour), SourceEventID: "01JEV03"}}
			return f
		}},
		{"deterministic_damage.golden.json", func() Facts {
			f := fixtureFacts()
			f.Shipment.OpenExceptions = []intake.OpenException{{Reason: "damaged", Category: "carrier", Severity: intake.SeverityCritical, OpenedAt: t0.Add(-1 * time.Hour), SourceEventID: "01JEV04"}}
			return f
		}},
		{"deterministic_no_odoo.golden.json", func() Facts {
			f := fixtureFacts()
			f.Odoo = nil
			f.Shipment.OpenExceptions = nil
			for i := range f.Timeline {
				f.Timeline[i].Exception = nil
			}
			return f
		}},
		{"deterministic_disruption.golden.json", func() Facts {
			return Facts{
				Case: CaseFacts{ID: "01JDISRUPT", Kind: KindDisruption, Title: "DHL delays NL→DE", Severity: "high", Status: "open",
					OpenedAt: t0.Add(-time.Hour), Carrier: "dhl", AffectedShipments: 37},
				Timeline: []intake.Event{{ID: "01JEVX", OccurredAt: t0.Add(-2 * time.Hour), Status: intake.StatusInTransit,
					Exception: &intake.Exception{Reason: "delayed", Category: "carrier", Severity: intake.SeverityWarning}}},
				Evaluation: Evaluation{PrimaryRule: RuleRef{Name: "Exception-rate spike", Severity: "high"}},
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Deterministic(tt.facts(), t0)
			if err != nil {
				t.Fatal(err)
			}
			if s.GeneratedBy != GeneratedByDeterministic {
				t.Fatalf("generated_by = %q", s.GeneratedBy)
			}
			b, _ := json.MarshalIndent(s, "", "  ")
			golden(t, tt.name, append(b, '\n'))
		})
	}
}

func FuzzParseAnswer(f *testing.F) {
	f.Add(validAnswer)
	f.Add("```json\n" + validAnswer + "\n```")
	f.Add(`{"summary":null}`)
	f.Add(strings.Replace(validAnswer, `"E4"`, `"E99"`, 1))
	f.Add("")
	p, err := BuildPrompt(fixtureFacts(), t0)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, content string) {
		a, err := parseAnswer(content, p)
		if err != nil {
			return
		}
		// Whatever passes must be safe to turn into a summary.
		if !IsCause(a.LikelyCause) {
			t.Fatalf("accepted cause %q", a.LikelyCause)
		}
		s := a.toSummary(p)
		if s.NextStep != nil {
			switch s.NextStep.Type {
			case ActionReschedulePicking, ActionPostNote, ActionScheduleActivity, ActionCreateTicket:
			default:
				t.Fatalf("accepted action %q", s.NextStep.Type)
			}
		}
		for _, id := range s.Evidence {
			if !strings.HasPrefix(id, "01JEV") {
				t.Fatalf("evidence %q is not an event of the facts", id)
			}
		}
	})
}
