package eta

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Mapping tells the historical loader which columns of a CSV file mean what.
// It is written in YAML (JSON is valid YAML too); see docs/eta.md. The mapping
// is also the leakage guard: only the columns it names as features are ever
// read as features, so delivery-side columns simply are not listed.
type Mapping struct {
	// Name labels the mapping in reports.
	Name string `yaml:"name"`
	// ID is the column holding a stable row identifier; empty means the
	// 1-based data row number is used.
	ID string `yaml:"id"`
	// Promised is the promised (scheduled) delivery date column.
	Promised string `yaml:"promised"`
	// Actual is the actual delivery date column; a row is late when Actual
	// falls on a later day than Promised.
	Actual string `yaml:"actual"`
	// DateFormats are Go time layouts tried in order for Promised and Actual.
	DateFormats []string `yaml:"date_formats"`
	// Categorical columns are used as booking-time categorical features.
	Categorical []string `yaml:"categorical"`
	// Numeric columns are used as booking-time numeric features (binned on
	// the training rows); unparseable cells count as missing.
	Numeric []string `yaml:"numeric"`
	// LeadFrom lists booking-time date columns; the feature is the number of
	// days between that date and the promised date. Unparseable cells count
	// as missing.
	LeadFrom []string `yaml:"lead_from"`
	// LeadFormats are the layouts tried for LeadFrom columns (DateFormats
	// when empty).
	LeadFormats []string `yaml:"lead_formats"`
	// Group names an order column (e.g. the PO number). It keeps an order's
	// rows on one side of a fold and is the key of the order features below.
	// The number of rows per order is deliberately not a feature: in files
	// where a partial delivery adds a row (SCMS), it counts shipments made,
	// which is known only after the fact.
	Group string `yaml:"group"`
	// GroupItem names the product column within an order; with it, the
	// number of distinct products on the order is a feature ("order items").
	GroupItem string `yaml:"group_item"`
	// GroupSum lists numeric columns summed over the rows of one order and
	// product: the ordered amount, whether it was delivered in one shipment
	// or several (a row's own quantity is the part shipped with it, which is
	// decided at shipping). Requires Group.
	GroupSum []string `yaml:"group_sum"`
	// Interactions are combinations of categorical columns offered to the
	// model as single features (e.g. a lane).
	Interactions [][]string `yaml:"interactions"`
	// Stratify names a categorical column whose values split the data into
	// strata that get their own intercept and their own features (for SCMS,
	// Fulfill Via: direct drops and shipments from a regional distribution
	// centre are late for different reasons). Empty means one stratum.
	Stratify string `yaml:"stratify"`
	// Baseline is the combination of columns whose smoothed late rate is the
	// comparison baseline in eval.
	Baseline []string `yaml:"baseline"`
	// Missing lists cell values (case-insensitive, trimmed) that mean unknown.
	Missing []string `yaml:"missing"`
}

//go:embed presets/*.yaml
var presets embed.FS

// Presets lists the built-in mapping names usable with --map.
func Presets() []string {
	ents, _ := presets.ReadDir("presets")
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	return out
}

// LoadMapping reads a mapping: a built-in preset name (e.g. "scms") or a path
// to a YAML/JSON file.
func LoadMapping(nameOrPath string) (*Mapping, error) {
	for _, p := range Presets() {
		if nameOrPath == p {
			b, err := presets.ReadFile("presets/" + p + ".yaml")
			if err != nil {
				return nil, fmt.Errorf("read preset %s: %w", p, err)
			}
			return ParseMapping(b)
		}
	}
	b, err := os.ReadFile(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("read mapping (not a preset of %v): %w", Presets(), err)
	}
	return ParseMapping(b)
}

// ParseMapping decodes and validates a mapping document. Unknown keys are an
// error so that a typo never silently drops a feature.
func ParseMapping(b []byte) (*Mapping, error) {
	if len(b) > 1<<20 {
		return nil, fmt.Errorf("%w: mapping larger than 1 MiB", ErrInvalidMapping)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var m Mapping
	if err := dec.Decode(&m); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: empty document", ErrInvalidMapping)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidMapping, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// ErrInvalidMapping marks a mapping that cannot be used.
var ErrInvalidMapping = errors.New("invalid column mapping")

// Validate checks that the mapping names what the loader needs and that no
// column is used twice in conflicting roles.
func (m *Mapping) Validate() error {
	var probs []string
	if strings.TrimSpace(m.Promised) == "" {
		probs = append(probs, "promised: required")
	}
	if strings.TrimSpace(m.Actual) == "" {
		probs = append(probs, "actual: required")
	}
	if m.Promised != "" && m.Promised == m.Actual {
		probs = append(probs, "promised and actual must be different columns")
	}
	if len(m.DateFormats) == 0 {
		probs = append(probs, "date_formats: at least one Go time layout required")
	}
	for _, f := range append(append([]string{}, m.DateFormats...), m.LeadFormats...) {
		if _, err := time.Parse(f, time.Date(2012, 3, 4, 0, 0, 0, 0, time.UTC).Format(f)); err != nil || !strings.ContainsAny(f, "0123456789") {
			probs = append(probs, fmt.Sprintf("date format %q is not a Go time layout", f))
		}
	}
	feat := map[string]string{}
	add := func(role, col string) {
		if strings.TrimSpace(col) == "" {
			probs = append(probs, role+": empty column name")
			return
		}
		if col == m.Promised && role != "lead_from" || col == m.Actual {
			probs = append(probs, fmt.Sprintf("%s: column %q is the promised or actual date and cannot be a feature", role, col))
			return
		}
		if prev, ok := feat[col]; ok {
			probs = append(probs, fmt.Sprintf("%s: column %q already used as %s", role, col, prev))
			return
		}
		feat[col] = role
	}
	for _, c := range m.Categorical {
		add("categorical", c)
	}
	for _, c := range m.Numeric {
		add("numeric", c)
	}
	for _, c := range m.LeadFrom {
		add("lead_from", c)
	}
	for _, c := range m.GroupSum {
		add("group_sum", c)
	}
	if m.Group == "" && (m.GroupItem != "" || len(m.GroupSum) > 0) {
		probs = append(probs, "group_item and group_sum need group (the order column)")
	}
	if m.Group != "" && (m.Group == m.Promised || m.Group == m.Actual) || m.GroupItem != "" && (m.GroupItem == m.Promised || m.GroupItem == m.Actual) {
		probs = append(probs, "group and group_item cannot be the promised or actual date")
	}
	cats := map[string]bool{}
	for _, c := range m.Categorical {
		cats[c] = true
	}
	for i, in := range m.Interactions {
		if len(in) < 2 {
			probs = append(probs, fmt.Sprintf("interactions[%d]: needs at least two columns", i))
		}
		for _, c := range in {
			if !cats[c] {
				probs = append(probs, fmt.Sprintf("interactions[%d]: %q is not a categorical column", i, c))
			}
		}
	}
	if m.Stratify != "" && !cats[m.Stratify] {
		probs = append(probs, fmt.Sprintf("stratify: %q is not a categorical column", m.Stratify))
	}
	if len(m.Baseline) == 0 {
		probs = append(probs, "baseline: at least one categorical column required")
	}
	for _, c := range m.Baseline {
		if !cats[c] {
			probs = append(probs, fmt.Sprintf("baseline: %q is not a categorical column", c))
		}
	}
	if len(feat) == 0 {
		probs = append(probs, "no feature columns (categorical, numeric or lead_from)")
	}
	if len(probs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidMapping, strings.Join(probs, "; "))
	}
	return nil
}

// columns lists every column the mapping reads, for header checks.
func (m *Mapping) columns() []string {
	cols := []string{m.Promised, m.Actual}
	if m.ID != "" {
		cols = append(cols, m.ID)
	}
	if m.Group != "" {
		cols = append(cols, m.Group)
	}
	if m.GroupItem != "" {
		cols = append(cols, m.GroupItem)
	}
	cols = append(cols, m.GroupSum...)
	cols = append(cols, m.Categorical...)
	cols = append(cols, m.Numeric...)
	cols = append(cols, m.LeadFrom...)
	return cols
}
