package triage

import (
	"time"

	"github.com/yardmaster/yardmaster/rules"
)

// Two clocks run per case: respond-by until someone acknowledges it, and
// resolve-by until it is resolved or dismissed. Durations come from the
// rule that opened the case, else from the policy's default for the
// severity; business-hours severities count only working time of the
// policy calendar. Snoozing does not stop a clock (a snoozed case is still
// owed an answer); reopening restarts both.

// startClocks sets the clocks of c from start.
func (s *Service) startClocks(c *Case, sla rules.SLA, start time.Time) {
	start = start.UTC()
	c.SLAStartedAt = &start
	c.BusinessHours = s.policy.businessHours(c.Severity)
	c.RespondBy = s.deadline(c.BusinessHours, start, sla.RespondBy.D())
	c.ResolveBy = s.deadline(c.BusinessHours, start, sla.ResolveBy.D())
	c.RespondBreachedAt, c.ResolveBreachedAt = nil, nil
}

func (s *Service) deadline(business bool, start time.Time, d time.Duration) *time.Time {
	if d <= 0 {
		return nil
	}
	var t time.Time
	if business && s.calendar != nil {
		t = s.calendar.Add(start, d)
	} else {
		t = start.Add(d)
	}
	t = t.UTC()
	return &t
}

// tightenClocks moves the clocks earlier when a severity escalation asks
// for a shorter SLA than the one running (never later).
func (s *Service) tightenClocks(c *Case, sla rules.SLA) {
	if c.SLAStartedAt == nil {
		return
	}
	business := s.policy.businessHours(c.Severity) && c.BusinessHours
	if t := s.deadline(business, *c.SLAStartedAt, sla.RespondBy.D()); t != nil && (c.RespondBy == nil || t.Before(*c.RespondBy)) {
		c.RespondBy = t
	}
	if t := s.deadline(business, *c.SLAStartedAt, sla.ResolveBy.D()); t != nil && (c.ResolveBy == nil || t.Before(*c.ResolveBy)) {
		c.ResolveBy = t
	}
}

// clockState is one clock at now: its band and when the band next changes.
func (p *Policy) clockState(start, due, now time.Time) (state string, next *time.Time) {
	if !now.Before(due) {
		return SLABreached, nil
	}
	window := due.Sub(start)
	if window < 0 {
		window = 0
	}
	risk := due.Add(-time.Duration(float64(window) * p.AtRiskFraction))
	if !now.Before(risk) {
		d := due
		return SLAAtRisk, &d
	}
	return SLAOK, &risk
}

var slaRank = map[string]int{SLANone: 0, SLAMet: 1, SLAOK: 2, SLAAtRisk: 3, SLABreached: 4}

// breach names a clock that has just passed its deadline.
type breach struct {
	clock string // respond | resolve
	at    time.Time
}

// evaluateSLA recomputes the SLA fields of c at now (state, due, next
// check) and returns the clocks that breached since the last evaluation.
func (s *Service) evaluateSLA(c *Case, now time.Time) []breach {
	now = now.UTC()
	start := c.OpenedAt
	if c.SLAStartedAt != nil {
		start = *c.SLAStartedAt
	}
	state, hadClock := SLANone, false
	var due, next *time.Time
	var out []breach
	consider := func(name string, deadline *time.Time, running bool, breachedAt **time.Time) {
		if deadline == nil {
			return
		}
		hadClock = true
		if !running {
			if *breachedAt != nil && slaRank[SLABreached] > slaRank[state] && c.Live() {
				// A breached clock that stopped keeps the case marked
				// breached while it is open; the mark is history once closed.
				state = SLABreached
			}
			return
		}
		st, nx := s.policy.clockState(start, *deadline, now)
		if st == SLABreached && *breachedAt == nil {
			t := deadline.UTC()
			*breachedAt = &t
			out = append(out, breach{clock: name, at: t})
		}
		if slaRank[st] > slaRank[state] {
			state = st
		}
		if due == nil || deadline.Before(*due) {
			d := deadline.UTC()
			due = &d
		}
		if nx != nil && (next == nil || nx.Before(*next)) {
			n := nx.UTC()
			next = &n
		}
	}
	live := c.Live()
	consider("respond", c.RespondBy, live && c.AcknowledgedAt == nil, &c.RespondBreachedAt)
	consider("resolve", c.ResolveBy, live, &c.ResolveBreachedAt)
	if state == SLANone && hadClock {
		state = SLAMet
		if c.RespondBreachedAt != nil || c.ResolveBreachedAt != nil {
			state = SLABreached
		}
	}
	if !live && hadClock {
		state = SLAMet
		if c.RespondBreachedAt != nil || c.ResolveBreachedAt != nil {
			state = SLABreached
		}
	}
	c.SLAState = state
	c.DueAt = due
	c.SLANextCheckAt = next
	return out
}
