package intake

import (
	"errors"
	"strings"
	"time"
)

var errTimeFormat = errors.New("want an RFC 3339 time (2024-05-01T10:11:00Z or with an offset), or a local time 2024-05-01T10:11:00")

// localLayouts are carrier local times without an offset.
var localLayouts = []string{
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
}

// ParseEventTime parses a carrier event time. With an offset the time is
// exact (tzKnown). Without one it is the carrier's local wall time: it is
// returned read as UTC, tzKnown is false and local keeps the original string
// (canonical-events.md §6.5 step 7).
func ParseEventTime(s string) (t time.Time, tzKnown bool, local string, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false, "", errors.New("missing time")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true, "", nil
	}
	// "+0000" offsets without a colon.
	if t, err := time.Parse("2006-01-02T15:04:05.999999999Z0700", s); err == nil {
		return t.UTC(), true, "", nil
	}
	for _, l := range localLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, false, s, nil
		}
	}
	return time.Time{}, false, "", errTimeFormat
}

// ParseDateOrTime parses a delivery date: an RFC 3339 time, or a calendar
// date "2024-05-03" (read as midnight UTC of that day).
func ParseDateOrTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, _, _, err := ParseEventTime(s); err == nil {
		return t, nil
	}
	return time.Time{}, errors.New("want a date 2024-05-03 or an RFC 3339 time")
}

// Plausibility bounds for event times: carriers' clocks and local times
// without an offset may run up to a day ahead of ours.
const (
	maxFutureSkew = 24 * time.Hour
)

var minEventTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func checkEventTime(t, now time.Time) error {
	if t.Before(minEventTime) {
		return errors.New("is before 2000-01-01")
	}
	if t.After(now.Add(maxFutureSkew)) {
		return errors.New("is more than 24 h in the future")
	}
	return nil
}
