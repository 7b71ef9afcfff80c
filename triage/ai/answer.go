package ai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// maxRescheduleDays bounds how far ahead a proposed reschedule may go.
const maxRescheduleDays = 180

// answer is the model's JSON document (schema.json).
type answer struct {
	Summary         string   `json:"summary"`
	LikelyCause     string   `json:"likely_cause"`
	CauseConfidence string   `json:"cause_confidence"`
	Evidence        []string `json:"evidence"`
	NextStep        struct {
		Action        string  `json:"action"`
		Rationale     string  `json:"rationale"`
		ScheduledDate *string `json:"scheduled_date"`
		Summary       *string `json:"summary"`
		Body          *string `json:"body"`
		DueInDays     *int    `json:"due_in_days"`
	} `json:"next_step"`
	CustomerMessage string `json:"customer_message"`
}

// InvalidAnswerError is a model answer that is not usable: not JSON, not
// matching the schema, or contradicting the facts. Problems are phrased so
// they can be sent back to the model.
type InvalidAnswerError struct{ Problems []string }

func (e *InvalidAnswerError) Error() string {
	return "invalid model answer: " + strings.Join(e.Problems, "; ")
}

// parseAnswer validates content against the schema and the prompt's facts.
func parseAnswer(content string, p *Prompt) (answer, error) {
	raw := []byte(stripFences(content))
	if err := validateSchema(raw); err != nil {
		var se *SchemaError
		if errors.As(err, &se) {
			return answer{}, &InvalidAnswerError{Problems: se.Problems}
		}
		return answer{}, err
	}
	var a answer
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return answer{}, &InvalidAnswerError{Problems: []string{"does not decode: " + err.Error()}}
	}
	if probs := checkAnswer(a, p); len(probs) > 0 {
		return answer{}, &InvalidAnswerError{Problems: probs}
	}
	return a, nil
}

// stripFences removes a Markdown code fence some servers wrap JSON in.
func stripFences(s string) string {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "```") {
		return t
	}
	t = strings.TrimPrefix(t, "```")
	if i := strings.IndexByte(t, '\n'); i >= 0 && !strings.HasPrefix(strings.TrimSpace(t[:i]), "{") {
		t = t[i+1:]
	}
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(t), "```"))
}

// checkAnswer applies the rules the schema cannot express.
func checkAnswer(a answer, p *Prompt) []string {
	var probs []string
	if strings.TrimSpace(a.Summary) == "" {
		probs = append(probs, "/summary: must not be blank")
	}
	if strings.TrimSpace(a.CustomerMessage) == "" {
		probs = append(probs, "/customer_message: must not be blank")
	}
	for _, ref := range a.Evidence {
		if _, ok := p.Refs[ref]; !ok {
			probs = append(probs, fmt.Sprintf("/evidence: %s is not a timeline ref (the timeline has E1 to E%d)", ref, len(p.Refs)))
		}
	}
	ns := a.NextStep
	str := func(s *string) string {
		if s == nil {
			return ""
		}
		return strings.TrimSpace(*s)
	}
	if ns.Action != ActionNone && !p.HasOrder {
		probs = append(probs, "/next_step/action: the case has no Odoo order, so only \"none\" is possible")
	}
	switch ns.Action {
	case ActionReschedulePicking:
		d, err := time.Parse(time.DateOnly, str(ns.ScheduledDate))
		switch {
		case err != nil:
			probs = append(probs, "/next_step/scheduled_date: reschedule_picking needs a date YYYY-MM-DD")
		case d.Before(p.Today):
			probs = append(probs, "/next_step/scheduled_date: must be today ("+p.Today.Format(time.DateOnly)+") or later")
		case d.After(p.Today.AddDate(0, 0, maxRescheduleDays)):
			probs = append(probs, fmt.Sprintf("/next_step/scheduled_date: must be within %d days", maxRescheduleDays))
		}
	case ActionPostNote:
		if str(ns.Body) == "" {
			probs = append(probs, "/next_step/body: post_note needs the note text")
		}
	case ActionScheduleActivity:
		if str(ns.Summary) == "" {
			probs = append(probs, "/next_step/summary: schedule_activity needs a summary")
		}
		if ns.DueInDays == nil {
			probs = append(probs, "/next_step/due_in_days: schedule_activity needs due_in_days")
		}
	case ActionCreateTicket:
		if str(ns.Summary) == "" {
			probs = append(probs, "/next_step/summary: create_ticket needs a title in summary")
		}
		if str(ns.Body) == "" {
			probs = append(probs, "/next_step/body: create_ticket needs a description in body")
		}
	}
	for _, field := range []struct{ name, text string }{
		{"summary", a.Summary}, {"customer_message", a.CustomerMessage}, {"next_step/rationale", ns.Rationale},
		{"next_step/summary", str(ns.Summary)}, {"next_step/body", str(ns.Body)},
	} {
		for _, ph := range anyPlaceholderRE.FindAllString(field.text, -1) {
			if _, ok := p.redactor.values[ph]; !ok {
				probs = append(probs, fmt.Sprintf("/%s: %s is not one of the placeholders in the facts", field.name, ph))
			}
		}
	}
	return probs
}

// anyPlaceholderRE finds anything shaped like a placeholder, so invented
// ones ([CUSTOMER_NAME], [YOUR NAME]) are caught before they reach a person.
var anyPlaceholderRE = regexp.MustCompile(`\[[A-Z][A-Z0-9_ ]*\]`)

// toSummary turns a valid answer into a Summary with the personal data put
// back locally.
func (a answer) toSummary(p *Prompt) Summary {
	r := p.redactor
	s := Summary{
		GeneratedBy:     GeneratedByLLM,
		Text:            r.Restore(strings.TrimSpace(a.Summary)),
		LikelyCause:     a.LikelyCause,
		CauseConfidence: a.CauseConfidence,
		CustomerMessage: r.Restore(strings.TrimSpace(a.CustomerMessage)),
		Language:        p.Language,
	}
	seen := map[string]bool{}
	for _, ref := range a.Evidence {
		if id := p.Refs[ref]; id != "" && !seen[id] {
			seen[id] = true
			s.Evidence = append(s.Evidence, id)
		}
	}
	sort.Strings(s.Evidence)
	ns := a.NextStep
	if ns.Action == ActionNone {
		return s
	}
	get := func(v *string) string {
		if v == nil {
			return ""
		}
		return r.Restore(strings.TrimSpace(*v))
	}
	pa := &ProposedAction{Type: ns.Action, Params: map[string]string{}, Rationale: r.Restore(strings.TrimSpace(ns.Rationale))}
	switch ns.Action {
	case ActionReschedulePicking:
		pa.Params["scheduled_date"] = get(ns.ScheduledDate)
	case ActionPostNote:
		pa.Params["body"] = get(ns.Body)
	case ActionScheduleActivity:
		pa.Params["summary"] = get(ns.Summary)
		pa.Params["note"] = get(ns.Body)
		pa.Params["date_deadline"] = p.Today.AddDate(0, 0, *ns.DueInDays).Format(time.DateOnly)
	case ActionCreateTicket:
		pa.Params["title"] = get(ns.Summary)
		pa.Params["description"] = get(ns.Body)
	}
	s.NextStep = pa
	return s
}
