package odoo

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// params reads action parameters as they arrive from JSON (numbers as
// float64 or json.Number) or from Go (int, int64, time.Time), with errors
// naming the parameter.
type params map[string]any

func (p params) text(name string, required bool, max int) (string, error) {
	v, ok := p[name]
	if !ok || v == nil {
		if required {
			return "", invalid("parameter %s is required", name)
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", invalid("parameter %s must be text, got %T", name, v)
	}
	s = strings.TrimSpace(s)
	switch {
	case required && s == "":
		return "", invalid("parameter %s must not be empty", name)
	case !utf8.ValidString(s):
		return "", invalid("parameter %s is not valid UTF-8", name)
	case utf8.RuneCountInString(s) > max:
		return "", invalid("parameter %s is longer than %d characters", name, max)
	}
	return s, nil
}

// datetime accepts RFC 3339 (any offset, converted to UTC) or Odoo's
// "YYYY-MM-DD HH:MM:SS" (taken as UTC).
func (p params) datetime(name string, required bool) (*time.Time, error) {
	v, ok := p[name]
	if !ok || v == nil {
		if required {
			return nil, invalid("parameter %s is required", name)
		}
		return nil, nil
	}
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case string:
		var err error
		if t, err = time.Parse(time.RFC3339, x); err != nil {
			if t, err = time.ParseInLocation(DatetimeLayout, x, time.UTC); err != nil {
				return nil, invalid("parameter %s: %q is not an RFC 3339 time (2024-05-02T08:00:00Z)", name, x)
			}
		}
	default:
		return nil, invalid("parameter %s must be a time, got %T", name, v)
	}
	if t.IsZero() || t.Year() < 2000 || t.Year() > 2200 {
		return nil, invalid("parameter %s: %s is out of range", name, t.Format(time.RFC3339))
	}
	u := t.UTC().Truncate(time.Second)
	return &u, nil
}

// date accepts YYYY-MM-DD or an RFC 3339 time (its UTC date).
func (p params) date(name string) (string, error) {
	v, ok := p[name]
	if !ok || v == nil || v == "" {
		return "", nil
	}
	switch x := v.(type) {
	case time.Time:
		return FormatDate(x), nil
	case string:
		if t, err := time.Parse(DateLayout, x); err == nil {
			return t.Format(DateLayout), nil
		}
		if t, err := time.Parse(time.RFC3339, x); err == nil {
			return FormatDate(t), nil
		}
		return "", invalid("parameter %s: %q is not a date (YYYY-MM-DD)", name, x)
	}
	return "", invalid("parameter %s must be a date, got %T", name, v)
}

func (p params) integer(name string) (int64, error) {
	v, ok := p[name]
	if !ok || v == nil {
		return 0, nil
	}
	var n int64
	switch x := v.(type) {
	case int:
		n = int64(x)
	case int64:
		n = x
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, invalid("parameter %s must be a whole number", name)
		}
		n = int64(x)
	case json.Number, string: // Triage passes parameters as text
		str := strings.TrimSpace(fmt.Sprint(x))
		if str == "" {
			return 0, nil
		}
		i, err := strconv.ParseInt(str, 10, 64)
		if err != nil {
			return 0, invalid("parameter %s must be a whole number, got %q", name, str)
		}
		n = i
	default:
		return 0, invalid("parameter %s must be a number, got %T", name, v)
	}
	if n < 0 {
		return 0, invalid("parameter %s must not be negative", name)
	}
	return n, nil
}

func (p params) boolean(name string, def bool) (bool, error) {
	v, ok := p[name]
	if !ok || v == nil {
		return def, nil
	}
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "":
			return def, nil
		case "true", "yes", "1":
			return true, nil
		case "false", "no", "0":
			return false, nil
		}
	}
	return false, invalid("parameter %s must be true or false, got %v", name, v)
}

func (p params) target() (string, error) {
	v, _ := p["target"].(string)
	switch v {
	case "", "order", "picking":
		return v, nil
	}
	return "", invalid("parameter target must be \"order\" or \"picking\", got %q", p["target"])
}

// priority maps low|medium|high|urgent or "0".."3" to helpdesk's keys.
func (p params) priority() (string, error) {
	v, ok := p["priority"]
	if !ok || v == nil || v == "" {
		return "1", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", invalid("parameter priority must be text, got %T", v)
	}
	switch strings.ToLower(s) {
	case "0", "low":
		return "0", nil
	case "1", "medium", "normal":
		return "1", nil
	case "2", "high":
		return "2", nil
	case "3", "urgent", "critical":
		return "3", nil
	}
	return "", invalid("parameter priority must be low, medium, high or urgent, got %q", s)
}
