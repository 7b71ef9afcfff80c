package digest

import (
	"bytes"
	"cmp"
	"embed"
	"encoding/json"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// Rendered is a digest in every form a channel sends.
type Rendered struct {
	Subject string `json:"subject"`
	HTML    string `json:"html"`
	Text    string `json:"text"`
	// JSON is the compact digest document.
	JSON json.RawMessage `json:"json"`
}

type stat struct {
	N     int
	Label string
	Color string
}

type view struct {
	D       *Digest
	Subject string
	Heading string
	Period  string
	Stats   []stat
	Footer  string
}

var (
	htmlTmpl *htmltemplate.Template
	textTmpl *texttemplate.Template
)

func init() {
	// Both templates share the helpers; they are parsed once and fail the
	// build's tests (not a request) when broken.
	htmlTmpl = htmltemplate.Must(htmltemplate.New("digest.html.tmpl").Funcs(htmltemplate.FuncMap(funcs(time.UTC))).
		ParseFS(templateFS, "templates/digest.html.tmpl"))
	textTmpl = texttemplate.Must(texttemplate.New("digest.txt.tmpl").Funcs(texttemplate.FuncMap(funcs(time.UTC))).
		ParseFS(templateFS, "templates/digest.txt.tmpl"))
}

func funcs(loc *time.Location) map[string]any {
	return map[string]any{
		"local":       func(t time.Time) string { return t.In(loc).Format("Mon 2 Jan 15:04") },
		"ref":         func(c CaseLine) string { return cmp.Or(c.Ref, shortID(c.ID)) },
		"flags":       func(c CaseLine) string { return flagWords(c) },
		"pct":         func(p *float64) string { return fmt.Sprintf("%.0f%%", *p*100) },
		"sevColor":    sevColor,
		"changeText":  changeText,
		"actionState": actionState,
	}
}

func shortID(id string) string {
	if len(id) > 10 {
		return id[len(id)-10:]
	}
	return id
}

func sevColor(s Severity) string {
	switch s {
	case SeverityCritical:
		return "#c81e1e"
	case SeverityHigh:
		return "#d9480f"
	case SeverityMedium:
		return "#b7791f"
	case SeverityLow:
		return "#2f6f9f"
	default:
		return "#616e7c"
	}
}

func changeText(c Change) string {
	label := strings.ReplaceAll(c.Kind, "_", " ")
	switch c.Kind {
	case ChangeSLAAtRisk:
		label = "SLA at risk"
	case ChangeSLABreached:
		label = "SLA breached"
	}
	if c.Detail != "" {
		return label + ": " + c.Detail
	}
	return label
}

func actionState(s string) string {
	switch s {
	case ActionProposed:
		return "awaiting approval"
	case ActionSucceeded:
		return "done"
	default:
		return s
	}
}

// Render produces the subject, HTML, plain text and JSON of a digest, with
// times shown in the subscription's time zone.
func Render(d *Digest) (Rendered, error) {
	loc, err := ParseTimeZone(d.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	v := view{D: d, Subject: Subject(d), Heading: heading(d), Period: period(d, loc), Stats: stats(d), Footer: footer(d)}
	var h, t bytes.Buffer
	ht, err := htmlTmpl.Clone()
	if err != nil {
		return Rendered{}, fmt.Errorf("clone html template: %w", err)
	}
	if err := ht.Funcs(htmltemplate.FuncMap(funcs(loc))).Execute(&h, v); err != nil {
		return Rendered{}, fmt.Errorf("render digest html: %w", err)
	}
	tt, err := textTmpl.Clone()
	if err != nil {
		return Rendered{}, fmt.Errorf("clone text template: %w", err)
	}
	if err := tt.Funcs(texttemplate.FuncMap(funcs(loc))).Execute(&t, v); err != nil {
		return Rendered{}, fmt.Errorf("render digest text: %w", err)
	}
	js, err := json.Marshal(d)
	if err != nil {
		return Rendered{}, fmt.Errorf("marshal digest: %w", err)
	}
	return Rendered{Subject: v.Subject, HTML: h.String(), Text: tidyText(t.String()), JSON: js}, nil
}

// tidyText collapses the blank-line runs templates leave behind.
func tidyText(s string) string {
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	blank := 0
	for _, l := range lines {
		l = strings.TrimRight(l, " ")
		if l == "" {
			blank++
			if blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n")) + "\n"
}

func heading(d *Digest) string {
	if d.Kind == RunImmediate {
		return "Escalation notice"
	}
	return "Escalation digest"
}

// Subject is the e-mail subject (and chat title) of a digest.
func Subject(d *Digest) string {
	if d.Kind == RunImmediate {
		n := d.Totals.Cases
		var parts []string
		if d.Totals.Breached > 0 {
			parts = append(parts, plural(d.Totals.Breached, "SLA breached", "SLAs breached"))
		}
		if d.Totals.Escalated > 0 {
			parts = append(parts, plural(d.Totals.Escalated, "escalated", "escalated"))
		}
		s := fmt.Sprintf("[Yardmaster] %s need attention", plural(n, "case", "cases"))
		if n == 1 {
			s = "[Yardmaster] 1 case needs attention"
		}
		if len(parts) > 0 {
			s += " (" + strings.Join(parts, ", ") + ")"
		}
		return s
	}
	if d.Empty() {
		return "[Yardmaster] Digest: nothing to report"
	}
	s := fmt.Sprintf("[Yardmaster] Digest: %s, %s", plural(len(d.Customers), "customer", "customers"), plural(d.Totals.Cases, "case", "cases"))
	var parts []string
	if d.Totals.Breached > 0 {
		parts = append(parts, fmt.Sprintf("%d breached", d.Totals.Breached))
	}
	if d.Totals.Escalated > 0 {
		parts = append(parts, fmt.Sprintf("%d escalated", d.Totals.Escalated))
	}
	if d.Totals.Opened > 0 {
		parts = append(parts, fmt.Sprintf("%d new", d.Totals.Opened))
	}
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

func period(d *Digest, loc *time.Location) string {
	const layout = "Mon 2 Jan 2006 15:04"
	if d.Kind == RunImmediate {
		return "As of " + d.PeriodEnd.In(loc).Format(layout) + " (" + loc.String() + ")"
	}
	return d.PeriodStart.In(loc).Format(layout) + " – " + d.PeriodEnd.In(loc).Format(layout) + " (" + loc.String() + ")"
}

func stats(d *Digest) []stat {
	t := d.Totals
	if d.Kind == RunImmediate {
		return []stat{{t.Breached, "SLA breached", "#c81e1e"}, {t.Escalated, "escalated", "#d9480f"}, {len(d.Customers), "customers", "#1f2933"}}
	}
	return []stat{{t.Opened, "new", "#1f2933"}, {t.Escalated, "escalated", "#d9480f"}, {t.Breached, "SLA breached", "#c81e1e"},
		{t.AtRisk, "SLA at risk", "#b7791f"}, {t.Resolved, "resolved", "#2f855a"}, {t.PendingApproval, "awaiting approval", "#1f4fd1"}}
}

func footer(d *Digest) string {
	if d.Kind == RunImmediate {
		return fmt.Sprintf("You receive escalation notices of the subscription %q.", d.Subscription.Name)
	}
	return fmt.Sprintf("You receive this digest through the subscription %q.", d.Subscription.Name)
}

// SlackPayload is the webhook body: Slack incoming-webhook fields (text and
// blocks), plus the digest itself under "digest" in the full format.
type SlackPayload struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
	Digest *Digest      `json:"digest,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackBlock struct {
	Type string     `json:"type"`
	Text *slackText `json:"text,omitempty"`
}

// maxSlackBlocks stays under Slack's limit of 50 blocks per message.
const maxSlackBlocks = 45

// slackPayload builds the webhook body of d.
func slackPayload(d *Digest, r Rendered, full bool) SlackPayload {
	p := SlackPayload{Text: r.Subject}
	p.Blocks = append(p.Blocks, slackBlock{Type: "header", Text: &slackText{Type: "plain_text", Text: truncate(r.Subject, 140)}})
	if d.Overview != nil {
		p.Blocks = append(p.Blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: truncate(slackEscape(d.Overview.Text), 2900)}})
	}
	left := 0
	for i, s := range d.Customers {
		if len(p.Blocks) >= maxSlackBlocks {
			left = len(d.Customers) - i
			break
		}
		var b strings.Builder
		name := slackEscape(s.Name)
		if s.URL != "" {
			name = "<" + s.URL + "|" + name + ">"
		}
		fmt.Fprintf(&b, "*%s*\n%s", name, slackEscape(s.Overview))
		for _, c := range s.Cases {
			line := fmt.Sprintf("\n• [%s] %s %s", c.Severity, slackEscape(cmp.Or(c.Ref, shortID(c.ID))), slackEscape(c.Title))
			if c.URL != "" {
				line = fmt.Sprintf("\n• [%s] <%s|%s> %s", c.Severity, c.URL, slackEscape(cmp.Or(c.Ref, shortID(c.ID))), slackEscape(c.Title))
			}
			if len(c.Flags) > 0 {
				line += " — " + flagWords(c)
			}
			if b.Len()+len(line) > 2900 {
				b.WriteString("\n…")
				break
			}
			b.WriteString(line)
		}
		if s.More > 0 {
			fmt.Fprintf(&b, "\n…and %d more", s.More)
		}
		p.Blocks = append(p.Blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: b.String()}})
	}
	if left > 0 {
		p.Blocks = append(p.Blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: fmt.Sprintf("…and %d more customers", left)}})
	}
	if d.URL != "" {
		p.Blocks = append(p.Blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: "<" + d.URL + "|View in Yardmaster>"}})
	}
	if full {
		p.Digest = d
	}
	return p
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

var odooTmpl = htmltemplate.Must(htmltemplate.New("odoo").Funcs(htmltemplate.FuncMap(funcs(time.UTC))).Parse(
	`<p><strong>{{.Heading}}</strong> — {{.Period}}</p>` +
		`<p>{{.S.Overview}}</p>` +
		`<ul>{{range .S.Cases}}<li><strong>[{{.Severity}}]</strong> {{if .URL}}<a href="{{.URL}}">{{ref .}}</a>{{else}}{{ref .}}{{end}} {{.Title}}` +
		`{{with flags .}} — {{.}}{{end}}{{with .OrderRef}} (order {{.}}){{end}}</li>{{end}}</ul>` +
		`{{if .S.More}}<p>{{.S.More}} more {{if eq .S.More 1}}case{{else}}cases{{end}}{{with .S.URL}}: <a href="{{.}}">open in Yardmaster</a>{{end}}</p>{{end}}` +
		`<p style="color:#9aa5b1;font-size:11px;">{{.Marker}}</p>`))

// renderOdoo renders one customer section as an HTML fragment for Odoo's
// chatter (a note) or an activity's note; marker identifies it there.
func renderOdoo(d *Digest, sec *CustomerSection, marker string) (string, error) {
	loc, err := ParseTimeZone(d.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	var b bytes.Buffer
	err = odooTmpl.Execute(&b, map[string]any{"Heading": heading(d), "Period": period(d, loc), "S": sec, "Marker": marker})
	if err != nil {
		return "", fmt.Errorf("render odoo note: %w", err)
	}
	return b.String(), nil
}
