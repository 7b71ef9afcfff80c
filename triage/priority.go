package triage

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// PriorityInfo is a case's priority score with the components it was
// added up from, so the console can show why a case is at the top.
type PriorityInfo struct {
	Score      int                 `json:"score"`
	Components []PriorityComponent `json:"components"`
	At         time.Time           `json:"computed_at"`
}

// PriorityComponent is one addend of the score.
type PriorityComponent struct {
	Name   string `json:"name"` // severity, sla, order_value, eta_risk, customer_tier, escalation
	Points int    `json:"points"`
	Why    string `json:"why"`
}

// Value stores the components as JSON text.
func (p PriorityInfo) Value() (driver.Value, error) {
	if p.Components == nil {
		p.Components = []PriorityComponent{}
	}
	b, err := json.Marshal(p)
	return string(b), err
}

// Scan reads JSON text.
func (p *PriorityInfo) Scan(src any) error { return scanJSON(src, p) }

// MarshalJSON never writes null components.
func (p PriorityInfo) MarshalJSON() ([]byte, error) {
	type plain PriorityInfo
	if p.Components == nil {
		p.Components = []PriorityComponent{}
	}
	return json.Marshal(plain(p))
}

// computePriority scores a case at now. The score only changes when one of
// its inputs changes or a clock crosses a band (ok → at risk → breached),
// which the SLA sweep notices through sla_next_check_at; so the stored
// score stays true without rescoring every case every minute.
func (p *Policy) computePriority(c *Case, now time.Time) PriorityInfo {
	pp := p.Priority
	var comps []PriorityComponent
	add := func(name string, pts int, why string) {
		if pts != 0 {
			comps = append(comps, PriorityComponent{Name: name, Points: pts, Why: why})
		}
	}
	add("severity", pp.Severity[c.Severity], "severity "+string(c.Severity))
	switch c.SLAState {
	case SLABreached:
		add("sla", pp.SLABreached, "SLA breached")
	case SLAAtRisk:
		due := ""
		if c.DueAt != nil {
			due = " (due " + c.DueAt.UTC().Format(time.RFC3339) + ")"
		}
		add("sla", pp.SLAAtRisk, "SLA at risk"+due)
	}
	if c.OrderValue > 0 && pp.OrderValueMax > 0 && pp.OrderValueCap > 1 {
		f := math.Log10(1+c.OrderValue) / math.Log10(1+pp.OrderValueCap)
		pts := int(math.Round(math.Min(1, f) * float64(pp.OrderValueMax)))
		add("order_value", pts, fmt.Sprintf("order value %.2f %s", c.OrderValue, c.Currency))
	}
	if c.ETARisk != nil && pp.ETARisk > 0 {
		r := math.Max(0, math.Min(1, *c.ETARisk))
		add("eta_risk", int(math.Round(r*float64(pp.ETARisk))), fmt.Sprintf("%.0f%% risk of missing the promised date", r*100))
	}
	if t := strings.ToLower(c.CustomerTier); t != "" {
		add("customer_tier", pp.CustomerTier[t], "customer tier "+c.CustomerTier)
	}
	if c.EscalationLevel > 0 {
		add("escalation", c.EscalationLevel*pp.Escalation, fmt.Sprintf("escalated %d time(s)", c.EscalationLevel))
	}
	total := 0
	for _, x := range comps {
		total += x.Points
	}
	if comps == nil {
		comps = []PriorityComponent{}
	}
	return PriorityInfo{Score: total, Components: comps, At: now.UTC()}
}
