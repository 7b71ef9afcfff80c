package triage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/rules"
)

// Policy is how triage behaves where rules say nothing: SLA defaults per
// severity, the business-hours calendar, when a clock is at risk, what a
// breach escalates, which action types need four eyes, when a shipment is
// stale, how disruptions are detected and how priority is weighed. It is
// loaded from YAML (YARDMASTER_TRIAGE_POLICY) over the defaults, validated
// as a whole, and fixed for the life of the process.
type Policy struct {
	// SLA per severity, used when the rule that opened the case has none.
	SLA map[rules.Severity]rules.SLA `yaml:"sla" json:"sla"`
	// Calendar is the business-hours calendar; nil means 24×7.
	Calendar *CalendarSpec `yaml:"calendar,omitempty" json:"calendar,omitempty"`
	// BusinessHoursSeverities run their clocks in business hours (when a
	// calendar is set); the others run around the clock.
	BusinessHoursSeverities []rules.Severity `yaml:"business_hours_severities" json:"business_hours_severities"`
	// AtRiskFraction: a clock is at risk when less than this share of its
	// window remains (default 0.25).
	AtRiskFraction float64 `yaml:"at_risk_fraction" json:"at_risk_fraction"`
	// Escalation on breaches.
	Escalation Escalation `yaml:"escalation" json:"escalation"`
	// FourEyes lists action types the proposer may not approve.
	FourEyes []string `yaml:"four_eyes" json:"four_eyes"`
	// AutoResolveOnDelivered resolves a shipment's live cases when it is
	// delivered, except cases of the listed categories and cases whose rule
	// tagged them keep_open (the tag KeepOpenTag).
	AutoResolveOnDelivered bool     `yaml:"auto_resolve_on_delivered" json:"auto_resolve_on_delivered"`
	KeepOpenCategories     []string `yaml:"keep_open_categories" json:"keep_open_categories"`
	// ReopenWindow: a new match within this time after a case closed
	// reopens it; later matches open a new case.
	ReopenWindow rules.Duration `yaml:"reopen_window" json:"reopen_window"`
	// Disruption detection.
	Disruption DisruptionPolicy `yaml:"disruption" json:"disruption"`
	// Sweeps are the time-based checks that emit synthetic events.
	Sweeps SweepPolicy `yaml:"sweeps" json:"sweeps"`
	// Priority weights.
	Priority PriorityPolicy `yaml:"priority" json:"priority"`
}

// KeepOpenTag on a rule keeps its cases open when the shipment is delivered.
const KeepOpenTag = "keep_open"

// Escalation says what a breach changes.
type Escalation struct {
	OnRespondBreach EscalationStep `yaml:"on_respond_breach" json:"on_respond_breach"`
	OnResolveBreach EscalationStep `yaml:"on_resolve_breach" json:"on_resolve_breach"`
}

// EscalationStep raises the severity one level and/or moves the case to a
// team.
type EscalationStep struct {
	RaiseSeverity bool   `yaml:"raise_severity" json:"raise_severity"`
	Team          string `yaml:"team,omitempty" json:"team,omitempty"`
}

// DisruptionPolicy: when MinCases live cases of one carrier, lane and
// reason opened within Window, a parent disruption case groups them.
type DisruptionPolicy struct {
	Enabled  bool           `yaml:"enabled" json:"enabled"`
	MinCases int            `yaml:"min_cases" json:"min_cases"`
	Window   rules.Duration `yaml:"window" json:"window"`
	Severity rules.Severity `yaml:"severity" json:"severity"`
	Team     string         `yaml:"team,omitempty" json:"team,omitempty"`
}

// SweepPolicy holds the thresholds of the time sweeps. Each list is the
// ages at which a synthetic event is emitted (once per threshold per
// episode), so rules with several thresholds (72 h domestic, 120 h
// international, 168 h lost) each get their event.
type SweepPolicy struct {
	Interval rules.Duration `yaml:"interval" json:"interval"`
	// Stale: no physical scan for this long, by milestone.
	Stale map[string][]rules.Duration `yaml:"stale" json:"stale"`
	// PromisedPassed: time after the promised date.
	PromisedPassed []rules.Duration `yaml:"promised_passed" json:"promised_passed"`
	// PickupDwell: time at a pickup point.
	PickupDwell []rules.Duration `yaml:"pickup_dwell" json:"pickup_dwell"`
	// CustomsDwell: time a customs exception has been open.
	CustomsDwell []rules.Duration `yaml:"customs_dwell" json:"customs_dwell"`
	// NeverPickedUp: time since label creation with no pickup.
	NeverPickedUp []rules.Duration `yaml:"never_picked_up" json:"never_picked_up"`
	// MaxPerRun bounds the events one sweep kind emits per run; the rest
	// follow in the next run.
	MaxPerRun int `yaml:"max_per_run" json:"max_per_run"`
}

// PriorityPolicy weighs the priority components.
type PriorityPolicy struct {
	Severity map[rules.Severity]int `yaml:"severity" json:"severity"`
	// SLA points: breached, at risk, and up to Running as the clock runs.
	SLABreached int `yaml:"sla_breached" json:"sla_breached"`
	SLAAtRisk   int `yaml:"sla_at_risk" json:"sla_at_risk"`
	// OrderValue points grow with log10(value) up to OrderValueMax at
	// OrderValueCap (in order currency).
	OrderValueMax int     `yaml:"order_value_max" json:"order_value_max"`
	OrderValueCap float64 `yaml:"order_value_cap" json:"order_value_cap"`
	// ETARisk points are this many times the probability of missing the
	// promise.
	ETARisk int `yaml:"eta_risk" json:"eta_risk"`
	// CustomerTier points by tier name (lower case).
	CustomerTier map[string]int `yaml:"customer_tier" json:"customer_tier"`
	// Escalation points per escalation level.
	Escalation int `yaml:"escalation" json:"escalation"`
}

// DefaultPolicy returns the built-in policy.
func DefaultPolicy() Policy {
	h := func(n float64) rules.Duration { return rules.Duration(time.Duration(n * float64(time.Hour))) }
	return Policy{
		SLA: map[rules.Severity]rules.SLA{
			rules.SeverityCritical: {RespondBy: h(1), ResolveBy: h(8)},
			rules.SeverityHigh:     {RespondBy: h(4), ResolveBy: h(24)},
			rules.SeverityMedium:   {RespondBy: h(8), ResolveBy: h(72)},
			rules.SeverityLow:      {RespondBy: h(24), ResolveBy: h(168)},
			rules.SeverityInfo:     {},
		},
		BusinessHoursSeverities: []rules.Severity{rules.SeverityMedium, rules.SeverityLow, rules.SeverityInfo},
		AtRiskFraction:          0.25,
		Escalation: Escalation{
			OnRespondBreach: EscalationStep{RaiseSeverity: true},
			OnResolveBreach: EscalationStep{},
		},
		FourEyes:               []string{"reschedule_picking"},
		AutoResolveOnDelivered: true,
		ReopenWindow:           h(14 * 24),
		Disruption:             DisruptionPolicy{Enabled: true, MinCases: 10, Window: h(6), Severity: rules.SeverityHigh},
		Sweeps: SweepPolicy{
			Interval: rules.Duration(15 * time.Minute),
			Stale: map[string][]rules.Duration{
				"picked_up":            {h(72), h(120), h(168)},
				"in_transit":           {h(72), h(120), h(168)},
				"out_for_delivery":     {h(24)},
				"delivery_attempted":   {h(72)},
				"returning":            {h(168)},
				"available_for_pickup": {h(168)},
			},
			PromisedPassed: []rules.Duration{h(0), h(48)},
			PickupDwell:    []rules.Duration{h(120)},
			CustomsDwell:   []rules.Duration{h(48)},
			NeverPickedUp:  []rules.Duration{h(48)},
			MaxPerRun:      5000,
		},
		Priority: PriorityPolicy{
			Severity: map[rules.Severity]int{rules.SeverityCritical: 400, rules.SeverityHigh: 250, rules.SeverityMedium: 120,
				rules.SeverityLow: 50, rules.SeverityInfo: 10},
			SLABreached: 250, SLAAtRisk: 150,
			OrderValueMax: 150, OrderValueCap: 100000,
			ETARisk:      150,
			CustomerTier: map[string]int{"platinum": 120, "gold": 100, "silver": 50, "bronze": 20},
			Escalation:   50,
		},
	}
}

// LoadPolicy reads a YAML policy file over the defaults. An empty path
// returns the defaults.
func LoadPolicy(path string) (Policy, error) {
	p := DefaultPolicy()
	if path == "" {
		return p, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return p, fmt.Errorf("read triage policy: %w", err)
	}
	return ParsePolicy(b)
}

// ParsePolicy decodes YAML over the defaults (unknown keys are errors) and
// validates the result.
func ParsePolicy(b []byte) (Policy, error) {
	p := DefaultPolicy()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil && !errors.Is(err, io.EOF) {
		return p, apperr.Invalid("triage policy: " + err.Error())
	}
	if err := p.Validate(); err != nil {
		return p, err
	}
	return p, nil
}

// Validate reports every problem of the policy at once.
func (p *Policy) Validate() error {
	var fe []apperr.FieldError
	add := func(field, format string, args ...any) {
		fe = append(fe, apperr.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	sevs := make([]string, 0, len(p.SLA))
	for s := range p.SLA {
		sevs = append(sevs, string(s))
	}
	sort.Strings(sevs)
	for _, s := range sevs {
		sla := p.SLA[rules.Severity(s)]
		if rules.Severity(s).Rank() == 0 {
			add("sla."+s, "%q is not a severity", s)
		}
		if sla.RespondBy < 0 || sla.ResolveBy < 0 {
			add("sla."+s, "durations cannot be negative")
		}
		if sla.RespondBy > 0 && sla.ResolveBy > 0 && sla.ResolveBy < sla.RespondBy {
			add("sla."+s+".resolve_by", "shorter than respond_by")
		}
	}
	for _, s := range p.BusinessHoursSeverities {
		if s.Rank() == 0 {
			add("business_hours_severities", "%q is not a severity", s)
		}
	}
	if p.Calendar != nil {
		if _, err := p.Calendar.Build(); err != nil {
			add("calendar", "%v", err)
		}
	}
	if p.AtRiskFraction <= 0 || p.AtRiskFraction >= 1 {
		add("at_risk_fraction", "must be between 0 and 1 (exclusive), e.g. 0.25")
	}
	for _, t := range p.FourEyes {
		if !validActionType(t) {
			add("four_eyes", "%q is not an action type (%s)", t, strings.Join(rules.ActionTypes, ", "))
		}
	}
	if p.ReopenWindow < 0 {
		add("reopen_window", "cannot be negative")
	}
	if d := p.Disruption; d.Enabled {
		if d.MinCases < 2 {
			add("disruption.min_cases", "must be at least 2")
		}
		if d.Window <= 0 {
			add("disruption.window", "must be positive, e.g. 6h")
		}
		if d.Severity.Rank() == 0 {
			add("disruption.severity", "%q is not a severity", d.Severity)
		}
	}
	sw := p.Sweeps
	if sw.Interval < rules.Duration(time.Minute) {
		add("sweeps.interval", "must be at least 1m")
	}
	if sw.MaxPerRun <= 0 {
		add("sweeps.max_per_run", "must be positive")
	}
	for st, ds := range sw.Stale {
		if !validStatus(st) {
			add("sweeps.stale."+st, "%q is not a canonical status", st)
		}
		checkThresholds(add, "sweeps.stale."+st, ds)
	}
	checkThresholds(add, "sweeps.promised_passed", sw.PromisedPassed)
	checkThresholds(add, "sweeps.pickup_dwell", sw.PickupDwell)
	checkThresholds(add, "sweeps.customs_dwell", sw.CustomsDwell)
	checkThresholds(add, "sweeps.never_picked_up", sw.NeverPickedUp)
	pr := p.Priority
	for s, v := range pr.Severity {
		if s.Rank() == 0 {
			add("priority.severity", "%q is not a severity", s)
		}
		if v < 0 {
			add("priority.severity."+string(s), "cannot be negative")
		}
	}
	if pr.SLABreached < 0 || pr.SLAAtRisk < 0 || pr.OrderValueMax < 0 || pr.ETARisk < 0 || pr.Escalation < 0 {
		add("priority", "weights cannot be negative")
	}
	if pr.OrderValueMax > 0 && pr.OrderValueCap <= 1 {
		add("priority.order_value_cap", "must be above 1")
	}
	if len(fe) > 0 {
		return apperr.Invalid("invalid triage policy", fe...)
	}
	// Normalise for lookups.
	lower := map[string]int{}
	for k, v := range p.Priority.CustomerTier {
		lower[strings.ToLower(strings.TrimSpace(k))] = v
	}
	p.Priority.CustomerTier = lower
	for _, ds := range p.Sweeps.Stale {
		sortDurations(ds)
	}
	for _, ds := range [][]rules.Duration{sw.PromisedPassed, sw.PickupDwell, sw.CustomsDwell, sw.NeverPickedUp} {
		sortDurations(ds)
	}
	return nil
}

func checkThresholds(add func(string, string, ...any), field string, ds []rules.Duration) {
	for _, d := range ds {
		if d < 0 {
			add(field, "thresholds cannot be negative")
		}
	}
	if len(ds) > 10 {
		add(field, "at most 10 thresholds")
	}
}

func sortDurations(ds []rules.Duration) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
}

func validActionType(t string) bool {
	for _, a := range rules.ActionTypes {
		if a == t {
			return true
		}
	}
	return false
}

func validStatus(s string) bool {
	for _, st := range rules.Statuses() {
		if st == s {
			return true
		}
	}
	return false
}

// slaFor returns the SLA of a case: the rule's durations where it set them,
// else the severity default.
func (p *Policy) slaFor(sev rules.Severity, rule rules.SLA) rules.SLA {
	def := p.SLA[sev]
	out := rule
	if out.RespondBy == 0 {
		out.RespondBy = def.RespondBy
	}
	if out.ResolveBy == 0 {
		out.ResolveBy = def.ResolveBy
	}
	return out
}

func (p *Policy) businessHours(sev rules.Severity) bool {
	if p.Calendar == nil {
		return false
	}
	for _, s := range p.BusinessHoursSeverities {
		if s == sev {
			return true
		}
	}
	return false
}

func (p *Policy) fourEyes(actionType string) bool {
	for _, t := range p.FourEyes {
		if t == actionType {
			return true
		}
	}
	return false
}

func (p *Policy) keepOpen(category string, tags []string) bool {
	for _, c := range p.KeepOpenCategories {
		if c == category {
			return true
		}
	}
	for _, t := range tags {
		if t == KeepOpenTag {
			return true
		}
	}
	return false
}
