package triage

import (
	"fmt"
	"strings"
	"time"
)

// CalendarSpec describes business hours as a policy file writes them:
//
//	calendar:
//	  timezone: Europe/Berlin
//	  days: [mon, tue, wed, thu, fri]
//	  start: "08:00"
//	  end: "18:00"
//	  holidays: ["2026-12-25", "2026-12-26"]
type CalendarSpec struct {
	Timezone string   `yaml:"timezone" json:"timezone"`
	Days     []string `yaml:"days" json:"days"`
	Start    string   `yaml:"start" json:"start"`
	End      string   `yaml:"end" json:"end"`
	Holidays []string `yaml:"holidays,omitempty" json:"holidays,omitempty"`
}

// Calendar counts business time: SLA clocks of business-hours severities
// advance only inside working hours of working days in its time zone.
type Calendar struct {
	loc        *time.Location
	days       [7]bool
	start, end time.Duration // offsets from local midnight
	holidays   map[string]bool
}

var dayNames = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

func parseClock(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		if strings.TrimSpace(s) == "24:00" {
			return 24 * time.Hour, nil
		}
		return 0, fmt.Errorf("%q is not a time of day like 08:00", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// Build checks the spec and returns the calendar.
func (s *CalendarSpec) Build() (*Calendar, error) {
	tz := s.Timezone
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", s.Timezone)
	}
	c := &Calendar{loc: loc, holidays: map[string]bool{}}
	if len(s.Days) == 0 {
		return nil, fmt.Errorf("days is empty: list working days, e.g. [mon, tue, wed, thu, fri]")
	}
	for _, d := range s.Days {
		wd, ok := dayNames[strings.ToLower(strings.TrimSpace(d))[:min(3, len(strings.TrimSpace(d)))]]
		if !ok {
			return nil, fmt.Errorf("%q is not a day (mon … sun)", d)
		}
		c.days[wd] = true
	}
	if c.start, err = parseClock(s.Start); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	if c.end, err = parseClock(s.End); err != nil {
		return nil, fmt.Errorf("end: %w", err)
	}
	if c.end <= c.start {
		return nil, fmt.Errorf("end %s is not after start %s", s.End, s.Start)
	}
	for _, h := range s.Holidays {
		if _, err := time.Parse(time.DateOnly, h); err != nil {
			return nil, fmt.Errorf("holiday %q is not a date like 2026-12-25", h)
		}
		c.holidays[h] = true
	}
	return c, nil
}

// working returns the working interval of the local day containing t, and
// whether the day is a working day.
func (c *Calendar) working(t time.Time) (from, to time.Time, ok bool) {
	l := t.In(c.loc)
	day := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, c.loc)
	if !c.days[l.Weekday()] || c.holidays[day.Format(time.DateOnly)] {
		return day, day, false
	}
	// Add hours on the wall clock so a DST change moves the hours with it.
	from = time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, c.loc).Add(c.start)
	to = time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, c.loc).Add(c.end)
	return from, to, true
}

func nextDay(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, loc)
}

// Add returns the time d of business time after t. A clock started outside
// business hours starts at the next opening.
func (c *Calendar) Add(t time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return t
	}
	cur := t
	for i := 0; i < 3660; i++ { // ten years of days: a calendar always has working days
		from, to, ok := c.working(cur)
		if ok && cur.Before(to) {
			if cur.Before(from) {
				cur = from
			}
			if left := to.Sub(cur); d <= left {
				return cur.Add(d).UTC()
			} else {
				d -= left
			}
		}
		cur = nextDay(cur, c.loc)
	}
	return cur.Add(d).UTC()
}

// Between returns the business time from a to b (0 when b is not after a).
func (c *Calendar) Between(a, b time.Time) time.Duration {
	if !b.After(a) {
		return 0
	}
	var total time.Duration
	cur := a
	for i := 0; i < 3660 && cur.Before(b); i++ {
		from, to, ok := c.working(cur)
		if ok {
			s, e := maxTime(cur, from), minTime(to, b)
			if e.After(s) {
				total += e.Sub(s)
			}
		}
		cur = nextDay(cur, c.loc)
	}
	return total
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
