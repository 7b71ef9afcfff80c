package rules

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/invopop/jsonschema"
	"gopkg.in/yaml.v3"
)

// Duration is a time span written the way analysts write SLAs: "4h",
// "90m", "2d", "1d12h". A day is 24 hours. It marshals to the same compact
// form, so YAML and JSON round-trip byte-identically.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ParseDuration parses a duration with an optional leading day count.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	var days int64
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || n < 0 || n > 3650 {
			return 0, fmt.Errorf("invalid duration %q: write e.g. 4h, 90m, 2d or 1d12h", s)
		}
		days = n
		s = s[i+1:]
	}
	var rest time.Duration
	if s != "" {
		var err error
		rest, err = time.ParseDuration(s)
		if err != nil || rest < 0 {
			return 0, fmt.Errorf("invalid duration %q: write e.g. 4h, 90m, 2d or 1d12h", s)
		}
	}
	return Duration(time.Duration(days)*24*time.Hour + rest), nil
}

// String formats d as days, hours, minutes and seconds ("1d12h", "45m").
func (d Duration) String() string {
	v := time.Duration(d)
	if v == 0 {
		return "0"
	}
	var b strings.Builder
	if v < 0 {
		b.WriteByte('-')
		v = -v
	}
	for _, u := range []struct {
		unit time.Duration
		sym  string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := v / u.unit; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.sym)
			v -= n * u.unit
		}
	}
	if v > 0 {
		fmt.Fprintf(&b, "%dns", v)
	}
	return b.String()
}

// MarshalJSON writes the compact string form.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads the string form (or a number of seconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var secs float64
		if err2 := json.Unmarshal(b, &secs); err2 != nil {
			return fmt.Errorf("duration must be a string like \"4h\": %w", err)
		}
		*d = Duration(time.Duration(secs * float64(time.Second)))
		return nil
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes the compact string form.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads the string form.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// JSONSchema documents Duration as the string it marshals to (OpenAPI).
func (Duration) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Pattern: `^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$|^0$`, Examples: []any{"4h", "90m", "2d", "1d12h"},
		Description: "A duration: days (24 h), hours, minutes, seconds, e.g. 4h, 1d12h."}
}
