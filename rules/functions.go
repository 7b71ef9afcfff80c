package rules

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // time zones come from the binary, so results do not depend on the host

	"github.com/expr-lang/expr"
)

// Function describes a helper function available to rule expressions. The
// same table registers the function with expr and documents it in
// GET /api/v1/rules/env.
type Function struct {
	Name      string `json:"name"`
	Signature string `json:"signature"`
	Doc       string `json:"doc"`
	Example   string `json:"example"`
	// MinArgs and MaxArgs count the arguments as the analyst writes them.
	MinArgs int `json:"-"`
	MaxArgs int `json:"-"`
	// ImplicitNow functions get the evaluation time (Env.Now) as a hidden
	// first argument, inserted by a compile-time patch.
	ImplicitNow bool `json:"-"`
	// ZoneArg is the 0-based position (as written) of an IANA zone
	// argument that is checked at compile time when constant; -1 for none.
	ZoneArg int `json:"-"`
	// ListArg marks functions whose first argument names a reference list.
	ListArg bool `json:"-"`

	fn    func(params ...any) (any, error)
	types []any
}

// ErrNilTime is wrapped by helper functions given a missing (nil) time.
var ErrNilTime = errors.New("time is missing (nil)")

func argTime(name string, p any) (time.Time, error) {
	switch v := p.(type) {
	case time.Time:
		return v.UTC(), nil
	case *time.Time:
		if v != nil {
			return v.UTC(), nil
		}
	case nil:
	default:
		return time.Time{}, fmt.Errorf("%s: expected a time, got %T", name, p)
	}
	return time.Time{}, fmt.Errorf("%s: %w; guard it with `!= nil` first", name, ErrNilTime)
}

var zoneCache sync.Map // string → *time.Location

func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "UTC" {
		return time.UTC, nil
	}
	if l, ok := zoneCache.Load(name); ok {
		return l.(*time.Location), nil
	}
	if strings.EqualFold(name, "local") {
		return nil, fmt.Errorf("time zone %q is not allowed: name an IANA zone such as \"Europe/Berlin\"", name)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (use an IANA name such as \"Europe/Berlin\")", name)
	}
	zoneCache.Store(name, l)
	return l, nil
}

func optZone(p []any, i int) (*time.Location, error) {
	if len(p) <= i {
		return time.UTC, nil
	}
	s, ok := p[i].(string)
	if !ok {
		return nil, fmt.Errorf("expected a time zone name, got %T", p[i])
	}
	return loadZone(s)
}

func twoTimes(name string, p []any) (time.Time, time.Time, error) {
	if len(p) < 2 {
		return time.Time{}, time.Time{}, fmt.Errorf("%s: expected 2 times", name)
	}
	a, err := argTime(name, p[0])
	if err != nil {
		return a, a, err
	}
	b, err := argTime(name, p[1])
	return a, b, err
}

// businessHours counts the hours of [from, to) that fall Monday to Friday,
// 09:00 to 17:00 wall time in loc. It is negative when to is before from.
// Whole weeks are counted arithmetically, so the cost is bounded for any span.
func businessHours(from, to time.Time, loc *time.Location) float64 {
	if to.Before(from) {
		return -businessHours(to, from, loc)
	}
	var total float64 // hours; a Duration overflows past 292 years
	f := from.In(loc)
	day := time.Date(f.Year(), f.Month(), f.Day(), 0, 0, 0, 0, loc)
	end := to.In(loc)
	for i := 0; !day.After(end); i++ {
		if i == 7 {
			// Skip whole weeks: each has exactly 40 business hours.
			weeks := civilDays(day, end, loc)/7 - 1
			if weeks > 0 {
				total += float64(weeks) * 40
				day = day.AddDate(0, 0, 7*weeks)
			}
		}
		if wd := day.Weekday(); wd != time.Saturday && wd != time.Sunday {
			open := time.Date(day.Year(), day.Month(), day.Day(), 9, 0, 0, 0, loc)
			shut := time.Date(day.Year(), day.Month(), day.Day(), 17, 0, 0, 0, loc)
			lo, hi := open, shut
			if from.After(lo) {
				lo = from
			}
			if to.Before(hi) {
				hi = to
			}
			if hi.After(lo) {
				total += hi.Sub(lo).Hours()
			}
		}
		day = day.AddDate(0, 0, 1)
	}
	return roundHours(total)
}

// civilDays is the number of calendar days from a's date to b's date in loc.
func civilDays(a, b time.Time, loc *time.Location) int {
	a, b = a.In(loc), b.In(loc)
	da := time.Date(a.Year(), a.Month(), a.Day(), 0, 0, 0, 0, time.UTC)
	db := time.Date(b.Year(), b.Month(), b.Day(), 0, 0, 0, 0, time.UTC)
	return int((db.Unix() - da.Unix()) / 86400) // Unix seconds: a Duration saturates at 292 years
}

// businessDays counts the weekdays d with from's date < d <= to's date in
// loc (Friday to Monday is 1). It is negative when to is before from.
func businessDays(from, to time.Time, loc *time.Location) int {
	if to.Before(from) {
		return -businessDays(to, from, loc)
	}
	n := civilDays(from, to, loc)
	wd := int(from.In(loc).Weekday())
	count := (n / 7) * 5
	for i := 1; i <= n%7; i++ {
		switch (wd + i) % 7 {
		case int(time.Saturday), int(time.Sunday):
		default:
			count++
		}
	}
	return count
}

// baseFunctions are the helpers every ruleset has. inList is added per
// ruleset because it closes over the ruleset's reference lists.
var baseFunctions = []*Function{
	{
		Name: "hoursSince", Signature: "hoursSince(t time) number", MinArgs: 1, MaxArgs: 1, ImplicitNow: true, ZoneArg: -1,
		Doc:     "Hours from t to now (the evaluation time). Fails the rule when t is nil.",
		Example: `hoursSince(shipment.statusAt) > 48`,
		fn: func(p ...any) (any, error) {
			now, t, err := twoTimes("hoursSince", p)
			return hoursBetween(t, now), err
		},
		types: []any{new(func(time.Time, time.Time) float64)},
	},
	{
		Name: "hoursUntil", Signature: "hoursUntil(t time) number", MinArgs: 1, MaxArgs: 1, ImplicitNow: true, ZoneArg: -1,
		Doc:     "Hours from now until t (negative when t is past). Fails the rule when t is nil.",
		Example: `shipment.promisedDelivery != nil && hoursUntil(shipment.promisedDelivery) < 24`,
		fn: func(p ...any) (any, error) {
			now, t, err := twoTimes("hoursUntil", p)
			return hoursBetween(now, t), err
		},
		types: []any{new(func(time.Time, time.Time) float64)},
	},
	{
		Name: "daysSince", Signature: "daysSince(t time) number", MinArgs: 1, MaxArgs: 1, ImplicitNow: true, ZoneArg: -1,
		Doc:     "Days (24 h) from t to now, with fractions. Fails the rule when t is nil.",
		Example: `daysSince(shipment.firstSeenAt) > 30`,
		fn: func(p ...any) (any, error) {
			now, t, err := twoTimes("daysSince", p)
			return roundHours(now.Sub(t).Hours() / 24), err
		},
		types: []any{new(func(time.Time, time.Time) float64)},
	},
	{
		Name: "hoursBetween", Signature: "hoursBetween(from time, to time) number", MinArgs: 2, MaxArgs: 2, ZoneArg: -1,
		Doc:     "Hours from `from` to `to` (negative when to is earlier).",
		Example: `hoursBetween(event.occurredAt, event.receivedAt) > 12`,
		fn: func(p ...any) (any, error) {
			a, b, err := twoTimes("hoursBetween", p)
			return hoursBetween(a, b), err
		},
		types: []any{new(func(time.Time, time.Time) float64)},
	},
	{
		Name: "daysBetween", Signature: "daysBetween(from time, to time) number", MinArgs: 2, MaxArgs: 2, ZoneArg: -1,
		Doc:     "Days (24 h) from `from` to `to`, with fractions.",
		Example: `shipment.promiseAt != nil && daysBetween(shipment.firstSeenAt, shipment.promiseAt) < 2`,
		fn: func(p ...any) (any, error) {
			a, b, err := twoTimes("daysBetween", p)
			return roundHours(b.Sub(a).Hours() / 24), err
		},
		types: []any{new(func(time.Time, time.Time) float64)},
	},
	{
		Name: "businessHoursBetween", Signature: "businessHoursBetween(from time, to time[, zone text]) number", MinArgs: 2, MaxArgs: 3, ZoneArg: 2,
		Doc:     "Hours between from and to that fall Monday to Friday, 09:00 to 17:00 in the zone (IANA name, default UTC).",
		Example: `businessHoursBetween(shipment.statusAt, now, "Europe/Berlin") > 16`,
		fn: func(p ...any) (any, error) {
			a, b, err := twoTimes("businessHoursBetween", p)
			if err != nil {
				return nil, err
			}
			loc, err := optZone(p, 2)
			if err != nil {
				return nil, fmt.Errorf("businessHoursBetween: %w", err)
			}
			return businessHours(a, b, loc), nil
		},
		types: []any{new(func(time.Time, time.Time) float64), new(func(time.Time, time.Time, string) float64)},
	},
	{
		Name: "businessHoursSince", Signature: "businessHoursSince(t time[, zone text]) number", MinArgs: 1, MaxArgs: 2, ImplicitNow: true, ZoneArg: 1,
		Doc:     "Business hours (Monday to Friday, 09:00 to 17:00 in the zone, default UTC) from t to now.",
		Example: `businessHoursSince(shipment.statusAt, "America/New_York") > 8`,
		fn: func(p ...any) (any, error) {
			now, t, err := twoTimes("businessHoursSince", p)
			if err != nil {
				return nil, err
			}
			loc, err := optZone(p, 2)
			if err != nil {
				return nil, fmt.Errorf("businessHoursSince: %w", err)
			}
			return businessHours(t, now, loc), nil
		},
		types: []any{new(func(time.Time, time.Time) float64), new(func(time.Time, time.Time, string) float64)},
	},
	{
		Name: "businessDaysBetween", Signature: "businessDaysBetween(from time, to time[, zone text]) number", MinArgs: 2, MaxArgs: 3, ZoneArg: 2,
		Doc:     "Weekdays (Monday to Friday) from from's date to to's date in the zone (default UTC); Friday to Monday is 1.",
		Example: `businessDaysBetween(shipment.statusAt, now) > 5`,
		fn: func(p ...any) (any, error) {
			a, b, err := twoTimes("businessDaysBetween", p)
			if err != nil {
				return nil, err
			}
			loc, err := optZone(p, 2)
			if err != nil {
				return nil, fmt.Errorf("businessDaysBetween: %w", err)
			}
			return businessDays(a, b, loc), nil
		},
		types: []any{new(func(time.Time, time.Time) int), new(func(time.Time, time.Time, string) int)},
	},
	{
		Name: "businessDaysSince", Signature: "businessDaysSince(t time[, zone text]) number", MinArgs: 1, MaxArgs: 2, ImplicitNow: true, ZoneArg: 1,
		Doc:     "Weekdays from t's date to now's date in the zone (default UTC).",
		Example: `shipment.status == "available_for_pickup" && businessDaysSince(shipment.statusAt) > 5`,
		fn: func(p ...any) (any, error) {
			now, t, err := twoTimes("businessDaysSince", p)
			if err != nil {
				return nil, err
			}
			loc, err := optZone(p, 2)
			if err != nil {
				return nil, fmt.Errorf("businessDaysSince: %w", err)
			}
			return businessDays(t, now, loc), nil
		},
		types: []any{new(func(time.Time, time.Time) int), new(func(time.Time, time.Time, string) int)},
	},
	{
		Name: "localHour", Signature: "localHour(t time, zone text) number", MinArgs: 2, MaxArgs: 2, ZoneArg: 1,
		Doc:     "Hour of day (0-23) of t in the zone.",
		Example: `localHour(event.occurredAt, "Europe/Paris") >= 18`,
		fn: func(p ...any) (any, error) {
			t, err := argTime("localHour", p[0])
			if err != nil {
				return nil, err
			}
			loc, err := optZone(p, 1)
			if err != nil {
				return nil, fmt.Errorf("localHour: %w", err)
			}
			return t.In(loc).Hour(), nil
		},
		types: []any{new(func(time.Time, string) int)},
	},
	{
		Name: "weekday", Signature: "weekday(t time[, zone text]) text", MinArgs: 1, MaxArgs: 2, ZoneArg: 1,
		Doc:     "English weekday name (Monday ... Sunday) of t in the zone (default UTC).",
		Example: `weekday(now, "Europe/Berlin") == "Friday"`,
		fn: func(p ...any) (any, error) {
			t, err := argTime("weekday", p[0])
			if err != nil {
				return nil, err
			}
			loc, err := optZone(p, 1)
			if err != nil {
				return nil, fmt.Errorf("weekday: %w", err)
			}
			return t.In(loc).Weekday().String(), nil
		},
		types: []any{new(func(time.Time) string), new(func(time.Time, string) string)},
	},
	{
		Name: "isWeekend", Signature: "isWeekend(t time[, zone text]) bool", MinArgs: 1, MaxArgs: 2, ZoneArg: 1,
		Doc:     "True when t falls on a Saturday or Sunday in the zone (default UTC).",
		Example: `!isWeekend(now, "Europe/Berlin")`,
		fn: func(p ...any) (any, error) {
			t, err := argTime("isWeekend", p[0])
			if err != nil {
				return nil, err
			}
			loc, err := optZone(p, 1)
			if err != nil {
				return nil, fmt.Errorf("isWeekend: %w", err)
			}
			wd := t.In(loc).Weekday()
			return wd == time.Saturday || wd == time.Sunday, nil
		},
		types: []any{new(func(time.Time) bool), new(func(time.Time, string) bool)},
	},
	{
		Name: "containsAny", Signature: "containsAny(text text, word text, ...) bool", MinArgs: 2, MaxArgs: 64, ZoneArg: -1,
		Doc:     "True when text contains any of the words, ignoring case.",
		Example: `containsAny(event.rawText, "damaged", "broken", "crushed")`,
		fn: func(p ...any) (any, error) {
			s, ok := p[0].(string)
			if !ok {
				return nil, fmt.Errorf("containsAny: expected text, got %T", p[0])
			}
			s = strings.ToLower(s)
			for _, w := range p[1:] {
				ws, ok := w.(string)
				if !ok {
					return nil, fmt.Errorf("containsAny: expected text, got %T", w)
				}
				if ws != "" && strings.Contains(s, strings.ToLower(ws)) {
					return true, nil
				}
			}
			return false, nil
		},
		types: []any{new(func(string, ...string) bool)},
	},
}

// inListFunction returns inList bound to a ruleset's reference lists.
func inListFunction(lists map[string]map[string]struct{}) *Function {
	return &Function{
		Name: "inList", Signature: "inList(list text, value text) bool", MinArgs: 2, MaxArgs: 2, ListArg: true, ZoneArg: -1,
		Doc:     "True when value is in the named reference list of the ruleset (lists are versioned with the ruleset). Comparison is exact.",
		Example: `inList("vip_customers", customer.name)`,
		fn: func(p ...any) (any, error) {
			name, _ := p[0].(string)
			v, ok := p[1].(string)
			if !ok {
				return nil, fmt.Errorf("inList: expected text value, got %T", p[1])
			}
			set, ok := lists[name]
			if !ok {
				return nil, fmt.Errorf("inList: unknown list %q", name)
			}
			_, in := set[v]
			return in, nil
		},
		types: []any{new(func(string, string) bool)},
	}
}

// Functions returns the documented helper functions (inList included).
func Functions() []*Function {
	out := append([]*Function(nil), baseFunctions...)
	return append(out, inListFunction(nil))
}

func functionOptions(fns []*Function) []expr.Option {
	opts := make([]expr.Option, 0, len(fns))
	for _, f := range fns {
		opts = append(opts, expr.Function(f.Name, f.fn, f.types...))
	}
	return opts
}
