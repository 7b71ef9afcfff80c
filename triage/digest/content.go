package digest

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ContentVersion is the version of the digest JSON document.
const ContentVersion = 1

// ETARiskThreshold is the probability of missing the promised date from
// which an open case is flagged eta_risk.
const ETARiskThreshold = 0.5

// MaxCasesPerCustomer bounds the case lines of one customer section; the
// rest is counted in More and reachable through the section's link.
const MaxCasesPerCustomer = 25

// Flags of a case line.
const (
	FlagOpened          = "opened"
	FlagEscalated       = "escalated"
	FlagAtRisk          = "at_risk"
	FlagBreached        = "breached"
	FlagResolved        = "resolved"
	FlagETARisk         = "eta_risk"
	FlagPendingApproval = "pending_approval"
	FlagActionTaken     = "action_taken"
)

// Digest is the content of one digest, frozen in its run. Its JSON is the
// compact form (webhook body, API); HTML and text are rendered from it.
type Digest struct {
	Version      int               `json:"version"`
	RunID        string            `json:"run_id,omitempty"`
	Kind         string            `json:"kind"`
	Subscription SubscriptionRef   `json:"subscription"`
	PeriodStart  time.Time         `json:"period_start"`
	PeriodEnd    time.Time         `json:"period_end"`
	TimeZone     string            `json:"timezone"`
	MinSeverity  Severity          `json:"min_severity"`
	GeneratedAt  time.Time         `json:"generated_at"`
	URL          string            `json:"url,omitempty"`
	Totals       Totals            `json:"totals"`
	Overview     *Overview         `json:"overview,omitempty"`
	Customers    []CustomerSection `json:"customers"`
}

// SubscriptionRef names the subscription a digest belongs to.
type SubscriptionRef struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Audience string `json:"audience"` // the user's or team's display name
	URL      string `json:"url,omitempty"`
}

// Totals count what a digest or a customer section reports.
type Totals struct {
	Cases           int `json:"cases"`
	Open            int `json:"open"`
	Opened          int `json:"opened"`
	Escalated       int `json:"escalated"`
	AtRisk          int `json:"at_risk"`
	Breached        int `json:"breached"`
	Resolved        int `json:"resolved"`
	ETARisk         int `json:"eta_risk"`
	ActionsTaken    int `json:"actions_taken"`
	PendingApproval int `json:"pending_approval"`
}

func (t *Totals) add(o Totals) {
	t.Cases += o.Cases
	t.Open += o.Open
	t.Opened += o.Opened
	t.Escalated += o.Escalated
	t.AtRisk += o.AtRisk
	t.Breached += o.Breached
	t.Resolved += o.Resolved
	t.ETARisk += o.ETARisk
	t.ActionsTaken += o.ActionsTaken
	t.PendingApproval += o.PendingApproval
}

// CustomerSection is one customer's part of a digest.
type CustomerSection struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	URL      string     `json:"url,omitempty"`
	Totals   Totals     `json:"totals"`
	Overview string     `json:"overview"`
	Cases    []CaseLine `json:"cases"`
	// More is how many further cases were left out of Cases.
	More int `json:"more,omitempty"`
}

// CaseLine is one case in a digest.
type CaseLine struct {
	ID             string   `json:"id"`
	Ref            string   `json:"ref,omitempty"`
	Title          string   `json:"title"`
	URL            string   `json:"url,omitempty"`
	Severity       Severity `json:"severity"`
	State          string   `json:"state"`
	SLA            string   `json:"sla,omitempty"`
	Flags          []string `json:"flags"`
	Carrier        string   `json:"carrier,omitempty"`
	TrackingNumber string   `json:"tracking_number,omitempty"`
	OrderRef       string   `json:"order_ref,omitempty"`
	ETARisk        *float64 `json:"eta_risk,omitempty"`
	Changes        []Change `json:"changes,omitempty"`
	Actions        []Action `json:"actions,omitempty"`
}

// HasFlag reports whether the line carries flag f.
func (c CaseLine) HasFlag(f string) bool { return slices.Contains(c.Flags, f) }

// Empty reports whether the digest lists no case.
func (d *Digest) Empty() bool { return d.Totals.Cases == 0 }

// Links builds console URLs. The console serves these paths (see
// docs/digests.md); Base is YARDMASTER_PUBLIC_URL.
type Links struct{ Base string }

// Case is a case's page.
func (l Links) Case(id string) string { return l.join("/console/cases/" + url.PathEscape(id)) }

// Customer is the case list filtered to one customer.
func (l Links) Customer(id string) string {
	return l.join("/console/cases?customer=" + url.QueryEscape(id))
}

// Run is a digest's page in the history.
func (l Links) Run(id string) string { return l.join("/console/digests/runs/" + url.PathEscape(id)) }

// Subscription is a subscription's settings page.
func (l Links) Subscription(id string) string {
	return l.join("/console/digests/subscriptions/" + url.PathEscape(id))
}

func (l Links) join(p string) string {
	if l.Base == "" {
		return ""
	}
	return strings.TrimRight(l.Base, "/") + p
}

// buildInput is what build needs besides the cases.
type buildInput struct {
	RunID       string
	Kind        string
	Sub         Subscription
	Audience    string
	Customers   []Customer
	Since, Till time.Time
	Now         time.Time
	Links       Links
}

// build turns cases into a digest: one section per customer with news,
// each case flagged with what happened to it in [Since, Till). Cases below
// the minimum severity and cases with nothing to report are left out.
func build(in buildInput, cases []Case) *Digest {
	d := &Digest{Version: ContentVersion, RunID: in.RunID, Kind: in.Kind, PeriodStart: in.Since.UTC(), PeriodEnd: in.Till.UTC(),
		TimeZone: in.Sub.TimeZone, MinSeverity: in.Sub.MinSeverity, GeneratedAt: in.Now.UTC(),
		Subscription: SubscriptionRef{ID: in.Sub.ID, Name: in.Sub.Name, Audience: in.Audience, URL: in.Links.Subscription(in.Sub.ID)},
		Customers:    []CustomerSection{}}
	if in.RunID != "" {
		d.URL = in.Links.Run(in.RunID)
	}
	names := map[string]string{}
	allowed := map[string]bool{}
	for _, c := range in.Customers {
		names[c.ID] = c.Name
		allowed[c.ID] = true
	}
	sections := map[string]*CustomerSection{}
	for _, c := range cases {
		if !allowed[c.CustomerID] || !c.Severity.AtLeast(in.Sub.MinSeverity) {
			continue
		}
		line, t, ok := caseLine(c, in.Since, in.Till, in.Links)
		if !ok {
			continue
		}
		sec := sections[c.CustomerID]
		if sec == nil {
			name := cmp.Or(names[c.CustomerID], c.CustomerName, "Customer "+c.CustomerID)
			sec = &CustomerSection{ID: c.CustomerID, Name: name, URL: in.Links.Customer(c.CustomerID), Cases: []CaseLine{}}
			sections[c.CustomerID] = sec
		}
		sec.Totals.add(t)
		sec.Cases = append(sec.Cases, line)
	}
	for _, sec := range sections {
		slices.SortStableFunc(sec.Cases, compareLines)
		if len(sec.Cases) > MaxCasesPerCustomer {
			sec.More = len(sec.Cases) - MaxCasesPerCustomer
			sec.Cases = sec.Cases[:MaxCasesPerCustomer]
		}
		sec.Overview = customerOverview(sec)
		d.Totals.add(sec.Totals)
		d.Customers = append(d.Customers, *sec)
	}
	slices.SortFunc(d.Customers, func(a, b CustomerSection) int {
		if c := cmp.Compare(attention(b.Totals), attention(a.Totals)); c != 0 {
			return c
		}
		if c := strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return d
}

// caseLine flags one case; ok=false when it has nothing to report.
func caseLine(c Case, since, till time.Time, links Links) (CaseLine, Totals, bool) {
	in := func(t time.Time) bool { return !t.Before(since) && t.Before(till) }
	closed := c.State == "resolved" || c.State == "dismissed"
	l := CaseLine{ID: c.ID, Ref: c.Ref, Title: c.Title, URL: links.Case(c.ID), Severity: c.Severity, State: c.State, SLA: c.SLA,
		Carrier: c.Carrier, TrackingNumber: c.TrackingNumber, OrderRef: c.OrderRef, ETARisk: c.ETARisk, Flags: []string{}}
	var t Totals
	flag := func(f string, n *int) {
		if !l.HasFlag(f) {
			l.Flags = append(l.Flags, f)
			*n++
		}
	}
	for _, ch := range c.Changes {
		if in(ch.At) {
			l.Changes = append(l.Changes, ch)
		}
	}
	if in(c.OpenedAt) {
		flag(FlagOpened, &t.Opened)
	}
	for _, ch := range l.Changes {
		switch ch.Kind {
		case ChangeOpened, ChangeReopened:
			flag(FlagOpened, &t.Opened)
		case ChangeEscalated:
			flag(FlagEscalated, &t.Escalated)
		case ChangeSLABreached:
			flag(FlagBreached, &t.Breached)
		case ChangeResolved, ChangeDismissed:
			if closed {
				flag(FlagResolved, &t.Resolved)
			}
		}
	}
	if c.ResolvedAt != nil && in(*c.ResolvedAt) && closed {
		flag(FlagResolved, &t.Resolved)
	}
	if !closed {
		t.Open = 1
		switch c.SLA {
		case "breached":
			flag(FlagBreached, &t.Breached)
		case "at_risk":
			flag(FlagAtRisk, &t.AtRisk)
		}
		if c.ETARisk != nil && *c.ETARisk >= ETARiskThreshold {
			flag(FlagETARisk, &t.ETARisk)
		}
	}
	for _, a := range c.Actions {
		switch {
		case a.State == ActionProposed:
			l.Actions = append(l.Actions, a)
			t.PendingApproval++
		case (a.State == ActionSucceeded || a.State == ActionFailed) && in(a.At):
			l.Actions = append(l.Actions, a)
			t.ActionsTaken++
		}
	}
	if t.PendingApproval > 0 {
		l.Flags = append(l.Flags, FlagPendingApproval)
	}
	if t.ActionsTaken > 0 {
		l.Flags = append(l.Flags, FlagActionTaken)
	}
	if len(l.Flags) == 0 && len(l.Changes) == 0 {
		return l, t, false
	}
	t.Cases = 1
	return l, t, true
}

func compareLines(a, b CaseLine) int {
	rank := func(l CaseLine) int {
		switch {
		case l.HasFlag(FlagBreached):
			return 0
		case l.HasFlag(FlagEscalated), l.HasFlag(FlagAtRisk):
			return 1
		case l.HasFlag(FlagOpened), l.HasFlag(FlagPendingApproval), l.HasFlag(FlagETARisk):
			return 2
		case l.HasFlag(FlagResolved):
			return 4
		default:
			return 3
		}
	}
	if c := cmp.Compare(rank(a), rank(b)); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Severity.Rank(), a.Severity.Rank()); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

func attention(t Totals) int {
	return t.Breached*1000 + t.Escalated*100 + t.AtRisk*100 + t.PendingApproval*50 + t.Opened*10 + t.ETARisk*10 + t.Cases
}

// customerOverview is the deterministic one-line summary of a section.
func customerOverview(s *CustomerSection) string {
	parts := countPhrases(s.Totals)
	if len(parts) == 0 {
		return fmt.Sprintf("%s: updates on %s.", s.Name, plural(s.Totals.Cases, "case", "cases"))
	}
	return s.Name + ": " + joinPhrases(parts) + "."
}

func countPhrases(t Totals) []string {
	var p []string
	add := func(n int, one, many string) {
		if n > 0 {
			p = append(p, plural(n, one, many))
		}
	}
	add(t.Opened, "new case", "new cases")
	add(t.Escalated, "escalated", "escalated")
	add(t.Breached, "SLA breached", "SLAs breached")
	add(t.AtRisk, "SLA at risk", "SLAs at risk")
	add(t.ETARisk, "delivery likely late", "deliveries likely late")
	add(t.Resolved, "resolved", "resolved")
	add(t.ActionsTaken, "action taken", "actions taken")
	add(t.PendingApproval, "action awaiting approval", "actions awaiting approval")
	return p
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func joinPhrases(p []string) string {
	switch len(p) {
	case 0:
		return ""
	case 1:
		return p[0]
	default:
		return strings.Join(p[:len(p)-1], ", ") + " and " + p[len(p)-1]
	}
}

// DeterministicOverview summarizes a digest without a language model.
func DeterministicOverview(d *Digest) Overview {
	if d.Empty() {
		return Overview{Text: "Nothing to report for your customers in this period.", GeneratedBy: "deterministic"}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s across %s", plural(d.Totals.Cases, "case", "cases"), plural(len(d.Customers), "customer", "customers"))
	if p := countPhrases(d.Totals); len(p) > 0 {
		b.WriteString(": " + joinPhrases(p))
	}
	b.WriteString(".")
	// The most urgent case: the first line of the most urgent customer.
	for _, s := range d.Customers {
		if len(s.Cases) == 0 {
			continue
		}
		c := s.Cases[0]
		if c.HasFlag(FlagBreached) || c.HasFlag(FlagEscalated) || c.HasFlag(FlagAtRisk) {
			fmt.Fprintf(&b, " Most urgent: %s (%s, %s) for %s.", cmp.Or(c.Ref, c.ID), c.Severity, flagWords(c), s.Name)
		}
		break
	}
	return Overview{Text: b.String(), GeneratedBy: "deterministic"}
}

func flagWords(c CaseLine) string {
	var w []string
	for _, f := range c.Flags {
		w = append(w, flagLabel(f))
	}
	return strings.Join(w, ", ")
}

func flagLabel(f string) string {
	switch f {
	case FlagOpened:
		return "new"
	case FlagEscalated:
		return "escalated"
	case FlagAtRisk:
		return "SLA at risk"
	case FlagBreached:
		return "SLA breached"
	case FlagResolved:
		return "resolved"
	case FlagETARisk:
		return "likely late"
	case FlagPendingApproval:
		return "awaiting approval"
	case FlagActionTaken:
		return "action taken"
	}
	return f
}
