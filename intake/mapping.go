package intake

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// carrierMappingsJSON is the project's copy of
// shared/reference/carrier-mappings.json, shipped inside the binary so a
// running service never depends on a file next to it.
//
//go:embed carrier-mappings.json
var carrierMappingsJSON []byte

// StatusInfo describes one milestone status.
type StatusInfo struct {
	Code        Status `json:"code"`
	Rank        int    `json:"rank"`
	Terminal    bool   `json:"terminal"`
	Description string `json:"description"`
}

// ReasonInfo describes one exception reason: its category, the severity a
// carrier report of it has by default, and whether someone must act.
type ReasonInfo struct {
	Code            Reason   `json:"code"`
	Category        string   `json:"category"`
	DefaultSeverity Severity `json:"default_severity"`
	ActionRequired  bool     `json:"action_required"`
	Description     string   `json:"description"`
}

// Entry is what one raw code maps to. An empty Status leaves the milestone
// unchanged; an empty Reason means no exception.
type Entry struct {
	Status           Status `json:"status,omitempty"`
	Reason           Reason `json:"reason,omitempty"`
	Activity         string `json:"activity,omitempty"`
	ClearsExceptions bool   `json:"clears_exceptions,omitempty"`
	Confidence       string `json:"confidence,omitempty"`
	Note             string `json:"note,omitempty"`
}

// Mappings is a parsed carrier-mappings document: the canonical vocabulary
// and the raw-code tables keyed by table name ("aftership.subtag").
type Mappings struct {
	Version  string
	statuses map[Status]StatusInfo
	order    []Status
	reasons  map[Reason]ReasonInfo
	rorder   []Reason
	tables   map[string]map[string]Entry
	// fold maps a table's lower-cased codes to the codes that fold to it,
	// for the case-insensitive fallback.
	fold map[string]map[string][]string
}

type rawMappings struct {
	Schema    string `json:"schema"`
	Canonical struct {
		Statuses []StatusInfo `json:"statuses"`
		Reasons  []ReasonInfo `json:"reasons"`
	} `json:"canonical"`
	Sources map[string]map[string]json.RawMessage `json:"sources"`
}

type rawEntry struct {
	Status           *string `json:"status"`
	Reason           *string `json:"reason"`
	Activity         string  `json:"activity"`
	ClearsExceptions bool    `json:"clears_exceptions"`
	Confidence       string  `json:"confidence"`
	Note             string  `json:"note"`
}

// ParseMappings parses and checks a carrier-mappings document: every status
// and reason an entry names must be in the canonical vocabulary.
func ParseMappings(data []byte) (*Mappings, error) {
	var raw rawMappings
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("parse carrier mappings: %w", err)
	}
	sum := sha256.Sum256(data)
	m := &Mappings{
		Version:  raw.Schema + "@" + hex.EncodeToString(sum[:6]),
		statuses: map[Status]StatusInfo{},
		reasons:  map[Reason]ReasonInfo{},
		tables:   map[string]map[string]Entry{},
		fold:     map[string]map[string][]string{},
	}
	for _, s := range raw.Canonical.Statuses {
		m.statuses[s.Code] = s
		m.order = append(m.order, s.Code)
	}
	for _, r := range raw.Canonical.Reasons {
		switch r.DefaultSeverity {
		case SeverityInfo, SeverityWarning, SeverityCritical:
		default:
			return nil, fmt.Errorf("carrier mappings: reason %s: unknown severity %q", r.Code, r.DefaultSeverity)
		}
		m.reasons[r.Code] = r
		m.rorder = append(m.rorder, r.Code)
	}
	if len(m.statuses) != 12 {
		return nil, fmt.Errorf("carrier mappings: want 12 statuses, got %d", len(m.statuses))
	}
	for table, codes := range raw.Sources {
		t := map[string]Entry{}
		f := map[string][]string{}
		for code, msg := range codes {
			if strings.HasPrefix(code, "_") {
				continue
			}
			var re rawEntry
			if err := json.Unmarshal(msg, &re); err != nil {
				return nil, fmt.Errorf("carrier mappings: %s %q: %w", table, code, err)
			}
			e := Entry{Activity: re.Activity, ClearsExceptions: re.ClearsExceptions, Confidence: re.Confidence, Note: re.Note}
			if re.Status != nil {
				e.Status = Status(*re.Status)
				if _, ok := m.statuses[e.Status]; !ok {
					return nil, fmt.Errorf("carrier mappings: %s %q: unknown status %q", table, code, e.Status)
				}
			}
			if re.Reason != nil {
				e.Reason = Reason(*re.Reason)
				if _, ok := m.reasons[e.Reason]; !ok {
					return nil, fmt.Errorf("carrier mappings: %s %q: unknown reason %q", table, code, e.Reason)
				}
			}
			key := NormalizeCode(code)
			if _, dup := t[key]; dup {
				return nil, fmt.Errorf("carrier mappings: %s: codes collide after normalisation: %q", table, code)
			}
			t[key] = e
			lk := strings.ToLower(key)
			f[lk] = append(f[lk], key)
		}
		m.tables[table] = t
		m.fold[table] = f
	}
	return m, nil
}

var (
	defaultOnce     sync.Once
	defaultMappings *Mappings
)

// DefaultMappings returns the embedded carrier mappings. The embedded file is
// checked by tests, so a parse failure here is a build defect.
func DefaultMappings() *Mappings {
	defaultOnce.Do(func() {
		m, err := ParseMappings(carrierMappingsJSON)
		if err != nil {
			panic(err)
		}
		defaultMappings = m
	})
	return defaultMappings
}

// Status returns the description of a milestone status.
func (m *Mappings) Status(s Status) (StatusInfo, bool) {
	i, ok := m.statuses[s]
	return i, ok
}

// Statuses lists the milestone statuses in document order.
func (m *Mappings) Statuses() []StatusInfo {
	out := make([]StatusInfo, 0, len(m.order))
	for _, s := range m.order {
		out = append(out, m.statuses[s])
	}
	return out
}

// Reason returns the description of an exception reason.
func (m *Mappings) Reason(r Reason) (ReasonInfo, bool) {
	i, ok := m.reasons[r]
	return i, ok
}

// Reasons lists the exception reasons in document order.
func (m *Mappings) Reasons() []ReasonInfo {
	out := make([]ReasonInfo, 0, len(m.rorder))
	for _, r := range m.rorder {
		out = append(out, m.reasons[r])
	}
	return out
}

// Tables lists the table names, sorted.
func (m *Mappings) Tables() []string {
	out := make([]string, 0, len(m.tables))
	for t := range m.tables {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// HasTable reports whether a table of that name exists.
func (m *Mappings) HasTable(table string) bool {
	_, ok := m.tables[table]
	return ok
}

// TableCodes returns a table's normalised codes, sorted.
func (m *Mappings) TableCodes(table string) []string {
	t := m.tables[table]
	out := make([]string, 0, len(t))
	for c := range t {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// Lookup finds a code in a table after normalisation. An exact match wins;
// otherwise a case-insensitive match is used when exactly one code of the
// table folds to it (FedEx keeps "Ow" distinct, so folding never picks
// between two codes).
func (m *Mappings) Lookup(table, code string) (Entry, bool) {
	t, ok := m.tables[table]
	if !ok {
		return Entry{}, false
	}
	key := NormalizeCode(code)
	if e, ok := t[key]; ok {
		return e, true
	}
	if cands := m.fold[table][strings.ToLower(key)]; len(cands) == 1 {
		return t[cands[0]], true
	}
	return Entry{}, false
}

// Resolution is the outcome of mapping an event's codes.
type Resolution struct {
	Status           Status
	Reason           Reason
	Activity         string
	ClearsExceptions bool
	// Matched are the pairs found; Missed the pairs looked up in vain.
	Matched []CodeRef
	Missed  []CodeRef
}

// Unmapped reports whether codes were looked up and none was found.
func (r Resolution) Unmapped() bool { return len(r.Matched) == 0 && len(r.Missed) > 0 }

// Resolve maps a chain of codes, most specific first, per the resolution
// block of carrier-mappings.json: the first non-empty status wins, the first
// non-empty reason wins, and so do activity and clears_exceptions. overlay,
// when not nil, is a source's own tables consulted before the built-in ones
// (e.g. a trading partner that sends X12 X1 as its final event).
func (m *Mappings) Resolve(chain []CodeRef, overlay *Mappings) Resolution {
	var r Resolution
	for _, c := range chain {
		e, ok := Entry{}, false
		if overlay != nil {
			e, ok = overlay.Lookup(c.Table, c.Code)
		}
		if !ok {
			e, ok = m.Lookup(c.Table, c.Code)
		}
		if !ok {
			r.Missed = append(r.Missed, c)
			continue
		}
		r.Matched = append(r.Matched, c)
		if r.Status == "" {
			r.Status = e.Status
		}
		if r.Reason == "" {
			r.Reason = e.Reason
		}
		if r.Activity == "" {
			r.Activity = e.Activity
		}
		r.ClearsExceptions = r.ClearsExceptions || e.ClearsExceptions
	}
	return r
}

// NormalizeCode trims a raw code and strips leading zeros from numeric codes
// (UPS "003" is documented as 3, Canada Post "0174" as 174). Codes keyed
// "type:code" (UPS scans) are normalised on both sides. Case is kept.
func NormalizeCode(code string) string {
	code = strings.TrimSpace(code)
	if i := strings.IndexByte(code, ':'); i > 0 {
		return stripZeros(strings.TrimSpace(code[:i])) + ":" + stripZeros(strings.TrimSpace(code[i+1:]))
	}
	return stripZeros(code)
}

func stripZeros(s string) string {
	if s == "" {
		return s
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return s
		}
	}
	t := strings.TrimLeft(s, "0")
	if t == "" {
		return "0"
	}
	return t
}

// NewOverlay builds a source's own mapping tables, checked against the
// canonical vocabulary of base.
func NewOverlay(base *Mappings, tables map[string]map[string]Entry) (*Mappings, error) {
	m := &Mappings{Version: base.Version, statuses: base.statuses, reasons: base.reasons,
		tables: map[string]map[string]Entry{}, fold: map[string]map[string][]string{}}
	for table, codes := range tables {
		if strings.TrimSpace(table) == "" {
			return nil, fmt.Errorf("mapping overlay: empty table name")
		}
		t := map[string]Entry{}
		f := map[string][]string{}
		for code, e := range codes {
			if e.Status != "" {
				if _, ok := base.statuses[e.Status]; !ok {
					return nil, fmt.Errorf("mapping overlay %s %q: unknown status %q", table, code, e.Status)
				}
			}
			if e.Reason != "" {
				if _, ok := base.reasons[e.Reason]; !ok {
					return nil, fmt.Errorf("mapping overlay %s %q: unknown reason %q", table, code, e.Reason)
				}
			}
			key := NormalizeCode(code)
			if key == "" {
				return nil, fmt.Errorf("mapping overlay %s: empty code", table)
			}
			t[key] = e
			f[strings.ToLower(key)] = append(f[strings.ToLower(key)], key)
		}
		m.tables[table] = t
		m.fold[table] = f
	}
	return m, nil
}
