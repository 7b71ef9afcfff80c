package intake

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"time"
)

// textRule refines a generic reason from the carrier's message text
// (canonical-events.md §6.5 step 5). Rules are ordered: the first match wins.
type textRule struct {
	ID     string
	Reason Reason
	all    []*regexp.Regexp // every pattern must match
}

var textRules = []textRule{
	{"recipient_unavailable", "recipient_unavailable", res(`(?i)customer not available|no one (home|available)|nobody (home|available)|recipient (not available|unavailable)|not at home`)},
	{"business_closed", "business_closed", res(`(?i)business (was )?closed|closed on arrival`)},
	{"weather", "weather", res(`(?i)weather`)},
	{"label_issue", "label_issue", res(`(?i)label (unreadable|damaged|missing|detached)|unreadable label`)},
	{"address_issue", "address_issue", res(`(?i)incorrect address|address (incomplete|insufficient|incorrect|unknown)|wrong address`)},
	{"refused", "refused", res(`(?i)refused`)},
	{"customs_documentation", "customs_documentation", res(`(?i)customs|clearance`, `(?i)document|information|paperwork`)},
	{"information_required", "information_required", res(`(?i)(awaiting|additional|need(s|ed)?) (additional )?(delivery )?information`)},
}

func res(patterns ...string) []*regexp.Regexp {
	out := make([]*regexp.Regexp, len(patterns))
	for i, p := range patterns {
		out[i] = regexp.MustCompile(p)
	}
	return out
}

// genericReasons may be refined by text rules. Specific reasons and events
// without an exception are never touched: text never invents an exception.
var genericReasons = map[Reason]bool{
	"exception_other": true, "delayed": true, "failed_attempt": true, "held_at_carrier": true,
}

// matchText returns the first text rule matching text.
func matchText(text string) (Reason, string) {
	if text == "" {
		return "", ""
	}
	for _, r := range textRules {
		ok := true
		for _, re := range r.all {
			if !re.MatchString(text) {
				ok = false
				break
			}
		}
		if ok {
			return r.Reason, r.ID
		}
	}
	return "", ""
}

// Normalize fills an event's canonical fields from its raw codes: status,
// reason (with category, severity and who must act), activity, the clears
// flag, the unmapped flag, mapping version, physical flag and dedup key.
// Status and reason the input stated explicitly (canonical API) win over the
// mapping. It returns the codes the mapping did not know, for the unmapped
// list. overlay is the source's own tables or nil.
func (m *Mappings) Normalize(ev *Event, overlay *Mappings) []CodeRef {
	for i := range ev.Codes {
		ev.Codes[i].Code = NormalizeCode(ev.Codes[i].Code)
	}
	res := m.Resolve(ev.Codes, overlay)
	if len(ev.Codes) > 0 {
		first := ev.Codes[0]
		if len(res.Matched) > 0 {
			first = res.Matched[0]
		}
		ev.RawCodeTable, ev.RawCode = first.Table, first.Code
	}
	if ev.Status == "" {
		ev.Status = res.Status
	}
	var reason Reason
	explicit := false
	if ev.Exception != nil && ev.Exception.Reason != "" {
		reason, explicit = ev.Exception.Reason, true
	} else {
		reason = res.Reason
	}
	if ev.Activity == "" {
		ev.Activity = res.Activity
	}
	ev.ClearsExceptions = ev.ClearsExceptions || res.ClearsExceptions
	ev.Unmapped = res.Unmapped()
	if !explicit && genericReasons[reason] {
		if r, id := matchText(ev.RawText); r != "" {
			reason, ev.ReasonRule = r, id
		}
	}
	ev.Exception = nil
	if reason != "" {
		info, ok := m.Reason(reason)
		if !ok {
			info = ReasonInfo{Code: reason, Category: "unknown", DefaultSeverity: SeverityWarning}
		}
		ev.Exception = &Exception{Reason: reason, Category: info.Category, Severity: info.DefaultSeverity, ActionRequired: info.ActionRequired}
	}
	ev.MappingVersion = m.Version
	ev.Physical = isPhysical(ev)
	ev.DedupKey = DedupKey(ev)
	return res.Missed
}

// DedupKey is the event's identity within its source (ARCHITECTURE §3.3):
// the provider's id for the event when it has one, else a hash of source,
// tracking number, raw codes (or the stated status and reason when there are
// no codes), occurred_at and location. The hash ignores the mapping's output
// so re-sent histories deduplicate across mapping versions.
func DedupKey(ev *Event) string {
	if ev.SourceEventID != "" {
		return "id:" + ev.SourceEventID
	}
	h := sha256.New()
	w := func(s string) { h.Write([]byte(s)); h.Write([]byte{0x1f}) }
	w(ev.Source)
	w(ev.Carrier)
	w(ev.TrackingNumber)
	if len(ev.Codes) > 0 {
		for _, c := range ev.Codes {
			w(c.Table + "=" + NormalizeCode(c.Code))
		}
	} else {
		w("status=" + string(ev.Status))
		if ev.Exception != nil {
			w("reason=" + string(ev.Exception.Reason))
		}
		if ev.EstimatedDelivery != nil {
			w("edd=" + ev.EstimatedDelivery.UTC().Format(time.RFC3339))
		}
		if ev.PromisedDelivery != nil {
			w("promised=" + ev.PromisedDelivery.UTC().Format(time.RFC3339))
		}
		if ev.Status == "" && ev.Exception == nil {
			// A facts-only event (a delivery estimate, a promised date) is
			// the same fact whenever it is restated.
			sum := h.Sum(nil)
			return "h:" + hex.EncodeToString(sum[:16])
		}
	}
	if ev.TZKnown {
		w(ev.OccurredAt.UTC().Format(time.RFC3339Nano))
	} else {
		w("local=" + ev.OccurredAt.Format("2006-01-02T15:04:05.999999999"))
	}
	if l := ev.Location; l != nil {
		w(strings.ToLower(l.City) + "|" + strings.ToLower(l.Region) + "|" + strings.ToLower(l.PostalCode) + "|" + l.Country)
	}
	sum := h.Sum(nil)
	return "h:" + hex.EncodeToString(sum[:16])
}

// NormalizeCarrier turns a provider's carrier name into our slug: lower case,
// separators as underscores, and the few aliases providers disagree on
// (EasyPost "DHLExpress", AfterShip "dhl").
func NormalizeCarrier(s string) string {
	s = carrierSeparators.Replace(strings.ToLower(strings.TrimSpace(s)))
	if a, ok := carrierAliases[s]; ok {
		return a
	}
	return s
}

// carrierSeparators is built once: a Replacer compiles its table on first
// use, and NormalizeCarrier runs for every checkpoint of every webhook.
var carrierSeparators = strings.NewReplacer(" ", "_", "-", "_", ".", "")

var carrierAliases = map[string]string{
	"dhl": "dhl_express", "dhlexpress": "dhl_express", "dhl_express": "dhl_express",
	"canadapost": "canada_post", "canada_post": "canada_post", "fed_ex": "fedex",
}

// carrierTables names the raw-code table of carriers whose raw codes arrive
// bare (EasyPost carrier_code, AfterShip raw_tag). Carriers not listed have
// no table keyed by a bare code, so their raw codes are kept but not mapped.
var carrierTables = map[string]string{
	"fedex":       "fedex.event_type",
	"dhl_express": "dhl_express.event_code",
}

// NormalizeTracking trims and upper-cases a tracking number and drops inner
// spaces (carriers print them in groups).
func NormalizeTracking(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(s), ""))
}

// Country returns the ISO 3166-1 alpha-2 code for an alpha-2 or alpha-3
// code, or "" when it is neither.
func Country(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	switch len(s) {
	case 2:
		if alpha2Set[s] {
			return s
		}
	case 3:
		return alpha3To2[s]
	}
	return ""
}

var alpha2Set = func() map[string]bool {
	m := make(map[string]bool, len(alpha3To2))
	for _, a2 := range alpha3To2 {
		m[a2] = true
	}
	return m
}()
