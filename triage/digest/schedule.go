package digest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// MinScheduleGap is the shortest allowed time between two digests: a
// digest more often than this is a notification, which immediate
// escalation does better.
const MinScheduleGap = 15 * time.Minute

// maxCatchUp bounds how far back a schedule is walked to find the latest
// due time (a subscription idle longer than this starts from now-maxCatchUp).
const maxCatchUp = 40 * 24 * time.Hour

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule is a parsed cron expression in a time zone.
type Schedule struct {
	Spec string
	Loc  *time.Location
	s    cron.Schedule
}

// ParseSchedule parses a five-field cron expression ("0 8 * * 1-5") or a
// descriptor (@hourly, @daily, @weekly, @monthly, @yearly) in the IANA time
// zone tz. Time zone prefixes and @every are refused: the zone is its own
// setting, and digests follow the wall clock.
func ParseSchedule(spec, tz string) (Schedule, error) {
	loc, err := ParseTimeZone(tz)
	if err != nil {
		return Schedule{}, err
	}
	spec = strings.TrimSpace(spec)
	switch {
	case spec == "":
		return Schedule{}, errors.New("is empty; use five cron fields such as \"0 8 * * 1-5\"")
	case len(spec) > 120:
		return Schedule{}, errors.New("is longer than 120 characters")
	case strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ="):
		return Schedule{}, errors.New("must not name a time zone; set timezone instead")
	case strings.HasPrefix(spec, "@every"):
		return Schedule{}, errors.New("@every is not supported; use a cron expression on the wall clock")
	}
	s, err := cronParser.Parse(spec)
	if err != nil {
		return Schedule{}, fmt.Errorf("is not a cron expression (minute hour day-of-month month day-of-week): %w", err)
	}
	sc := Schedule{Spec: spec, Loc: loc, s: s}
	// The gap check walks a year of fires from a fixed instant, so the same
	// spec is always judged the same way.
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, loc)
	prev := sc.Next(t)
	if prev.IsZero() {
		return Schedule{}, errors.New("never fires")
	}
	for i := 0; i < 400; i++ {
		n := sc.Next(prev)
		if n.IsZero() || n.Sub(prev) > 400*24*time.Hour {
			break
		}
		if n.Sub(prev) < MinScheduleGap {
			return Schedule{}, fmt.Errorf("fires more often than every %s; use immediate escalation for urgent cases", MinScheduleGap)
		}
		prev = n
	}
	return sc, nil
}

// ParseTimeZone loads an IANA zone such as "Europe/Berlin" ("UTC" works;
// "Local" and abbreviations like "CET" are refused as ambiguous).
func ParseTimeZone(tz string) (*time.Location, error) {
	if tz == "" {
		return nil, errors.New("time zone is empty; use an IANA name such as Europe/Berlin")
	}
	if tz == "Local" || len(tz) > 64 || (!strings.Contains(tz, "/") && tz != "UTC") {
		return nil, fmt.Errorf("time zone %q is not an IANA name such as Europe/Berlin or UTC", tz)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("time zone %q is unknown: use an IANA name such as Europe/Berlin", tz)
	}
	return loc, nil
}

// Next returns the first fire time strictly after t (zero if none within
// five years), in the schedule's zone.
func (s Schedule) Next(t time.Time) time.Time {
	return s.s.Next(t.In(s.Loc))
}

// LatestDue returns the latest fire time in (after, now], or ok=false when
// none is due. An after older than maxCatchUp is treated as
// now-maxCatchUp.
func (s Schedule) LatestDue(after, now time.Time) (time.Time, bool) {
	if floor := now.Add(-maxCatchUp); after.Before(floor) {
		after = floor
	}
	var last time.Time
	for t := s.Next(after); !t.IsZero() && !t.After(now); t = s.Next(t) {
		last = t
	}
	return last, !last.IsZero()
}

// scheduleCache holds parsed stored schedules: parsing checks a year of
// fires, which the tick must not repeat for every due subscription.
var scheduleCache sync.Map // "tz\x00spec" → Schedule

// storedSchedule parses a schedule that was valid when saved, from the
// cache when it can.
func storedSchedule(spec, tz string) (Schedule, error) {
	key := tz + "\x00" + spec
	if v, ok := scheduleCache.Load(key); ok {
		return v.(Schedule), nil
	}
	s, err := ParseSchedule(spec, tz)
	if err != nil {
		return s, err
	}
	scheduleCache.Store(key, s)
	return s, nil
}
