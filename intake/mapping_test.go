package intake

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestEmbeddedMappingsMatchReference keeps the shipped copy equal to the
// shared reference file when it is present (tests may read ../shared).
func TestEmbeddedMappingsMatchReference(t *testing.T) {
	ref, err := os.ReadFile("../../shared/reference/carrier-mappings.json")
	if err != nil {
		t.Skip("shared reference not present:", err)
	}
	if string(ref) != string(carrierMappingsJSON) {
		t.Fatal("intake/carrier-mappings.json differs from shared/reference/carrier-mappings.json; copy it again")
	}
}

func TestVocabulary(t *testing.T) {
	m := DefaultMappings()
	if got := len(m.Statuses()); got != 12 {
		t.Fatalf("statuses = %d, want 12", got)
	}
	for _, s := range m.Statuses() {
		if s.Code.Rank() != s.Rank {
			t.Errorf("status %s: Go rank %d, file rank %d", s.Code, s.Code.Rank(), s.Rank)
		}
		if s.Code.Terminal() != s.Terminal {
			t.Errorf("status %s: Go terminal %v, file %v", s.Code, s.Code.Terminal(), s.Terminal)
		}
	}
	if got := len(m.Reasons()); got != 37 {
		t.Fatalf("reasons = %d, want 37", got)
	}
	r, ok := m.Reason("customs_documentation")
	if !ok || r.Category != "customs" || r.DefaultSeverity != SeverityCritical || !r.ActionRequired {
		t.Fatalf("customs_documentation = %+v", r)
	}
	if m.Version == "" || !strings.HasPrefix(m.Version, "canonical-logistics-events/v1@") {
		t.Fatalf("version %q", m.Version)
	}
}

// TestEveryTableEntryResolves reads the file independently and checks that
// every entry of every table resolves to exactly what the file says.
func TestEveryTableEntryResolves(t *testing.T) {
	var doc struct {
		Sources map[string]map[string]json.RawMessage `json:"sources"`
	}
	if err := json.Unmarshal(carrierMappingsJSON, &doc); err != nil {
		t.Fatal(err)
	}
	m := DefaultMappings()
	if len(doc.Sources) != 20 {
		t.Fatalf("tables = %d, want 20", len(doc.Sources))
	}
	for table, entries := range doc.Sources {
		t.Run(table, func(t *testing.T) {
			n := 0
			for code, raw := range entries {
				if strings.HasPrefix(code, "_") {
					continue
				}
				var want struct {
					Status   *string `json:"status"`
					Reason   *string `json:"reason"`
					Activity string  `json:"activity"`
					Clears   bool    `json:"clears_exceptions"`
				}
				if err := json.Unmarshal(raw, &want); err != nil {
					t.Fatal(err)
				}
				got, ok := m.Lookup(table, code)
				if !ok {
					t.Errorf("%s %q: not found", table, code)
					continue
				}
				ws, wr := "", ""
				if want.Status != nil {
					ws = *want.Status
				}
				if want.Reason != nil {
					wr = *want.Reason
				}
				if string(got.Status) != ws || string(got.Reason) != wr || got.Activity != want.Activity || got.ClearsExceptions != want.Clears {
					t.Errorf("%s %q = %+v, want status %q reason %q activity %q clears %v", table, code, got, ws, wr, want.Activity, want.Clears)
				}
				// Through the normaliser too: the event gets the
				// canonical status and the reason's category.
				ev := &Event{Source: "s", Carrier: "c", TrackingNumber: "T1", Codes: []CodeRef{{Table: table, Code: code}}}
				m.Normalize(ev, nil)
				if string(ev.Status) != ws || ev.Unmapped {
					t.Errorf("%s %q normalised: status %q unmapped %v", table, code, ev.Status, ev.Unmapped)
				}
				if wr != "" && (ev.Exception == nil || ev.Exception.Category == "") {
					t.Errorf("%s %q normalised: exception %+v", table, code, ev.Exception)
				}
				n++
			}
			if n == 0 {
				t.Fatal("table has no entries")
			}
		})
	}
}

func TestLookupNormalisationAndCollisions(t *testing.T) {
	m := DefaultMappings()
	cases := []struct {
		name, table, code string
		found             bool
		status            Status
		reason            Reason
		activity          string
	}{
		{"UPS status zero padded", "ups.status_code", "003", true, StatusInfoReceived, "", ""},
		{"UPS status padded with spaces", "ups.status_code", " 011 ", true, StatusDelivered, "", ""},
		{"UPS status unpadded", "ups.status_code", "3", true, StatusInfoReceived, "", ""},
		{"UPS exception 3 is not status 3", "ups.exception_code", "003", true, "", "missed_connection", ""},
		{"UPS DP movement scan", "ups.scan_code", "I:DP", true, StatusInTransit, "", "departure_scan"},
		{"UPS DP manifest", "ups.scan_code", "M:DP", true, StatusInfoReceived, "", "manifest_processed"},
		{"UPS DP exception", "ups.exception_code", "DP", true, "", "prohibited_item", ""},
		{"UPS DP bare in scan table is unknown", "ups.scan_code", "DP", false, "", "", ""},
		{"FedEx EA enroute", "fedex.event_type", "EA", true, StatusInTransit, "", ""},
		{"EA is no DHL code", "dhl_express.event_code", "EA", false, "", "", ""},
		{"EA is no UPS exception", "ups.exception_code", "EA", false, "", "", ""},
		{"FedEx DP departed", "fedex.event_type", "DP", true, StatusInTransit, "", "departure_scan"},
		{"FedEx Ow keeps case", "fedex.event_type", "Ow", true, StatusInTransit, "", ""},
		{"case-insensitive unique fallback", "easypost.status", "DELIVERED", true, StatusDelivered, "", ""},
		{"unknown table", "nope.table", "X", false, "", "", ""},
		{"unknown code", "aftership.subtag", "Exception_014", false, "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, ok := m.Lookup(c.table, c.code)
			if ok != c.found || e.Status != c.status || e.Reason != c.reason || e.Activity != c.activity {
				t.Fatalf("Lookup(%s,%q) = %+v,%v; want %v %q %q %q", c.table, c.code, e, ok, c.found, c.status, c.reason, c.activity)
			}
		})
	}
	if got := NormalizeCode("0174"); got != "174" {
		t.Errorf("NormalizeCode(0174) = %q", got)
	}
	if got := NormalizeCode("000"); got != "0" {
		t.Errorf("NormalizeCode(000) = %q", got)
	}
	if got := NormalizeCode(" I : 005 "); got != "I:5" {
		t.Errorf("NormalizeCode(I:005) = %q", got)
	}
}

func TestResolveMostSpecificFirst(t *testing.T) {
	m := DefaultMappings()
	cases := []struct {
		name     string
		chain    []CodeRef
		status   Status
		reason   Reason
		unmapped bool
		missed   int
	}{
		{"subtag wins over tag", []CodeRef{{"aftership.subtag", "Exception_013"}, {"aftership.tag", "Exception"}}, StatusFailed, "lost", false, 0},
		{"unknown subtag falls back to tag", []CodeRef{{"aftership.subtag", "Exception_014"}, {"aftership.tag", "Exception"}}, "", "exception_other", false, 1},
		{"detail reason with status from status table", []CodeRef{{"easypost.status_detail", "weather_delay"}, {"easypost.status", "in_transit"}}, StatusInTransit, "weather", false, 0},
		{"detail status overrides", []CodeRef{{"easypost.status_detail", "return"}, {"easypost.status", "in_transit"}}, StatusReturning, "return_to_sender", false, 0},
		{"nothing known", []CodeRef{{"aftership.subtag", "Bogus_001"}, {"aftership.tag", "Bogus"}}, "", "", true, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := m.Resolve(c.chain, nil)
			if r.Status != c.status || r.Reason != c.reason || r.Unmapped() != c.unmapped || len(r.Missed) != c.missed {
				t.Fatalf("Resolve = %+v", r)
			}
		})
	}
}

func TestOverlay(t *testing.T) {
	m := DefaultMappings()
	ov, err := NewOverlay(m, map[string]map[string]Entry{"x12_214.at701_status_1650": {"X1": {Status: StatusDelivered}}})
	if err != nil {
		t.Fatal(err)
	}
	r := m.Resolve([]CodeRef{{"x12_214.at701_status_1650", "X1"}}, ov)
	if r.Status != StatusDelivered {
		t.Fatalf("overlay X1 = %q, want delivered", r.Status)
	}
	if r := m.Resolve([]CodeRef{{"x12_214.at701_status_1650", "X1"}}, nil); r.Status != StatusOutForDelivery {
		t.Fatalf("built-in X1 = %q", r.Status)
	}
	if _, err := NewOverlay(m, map[string]map[string]Entry{"t": {"A": {Status: "teleported"}}}); err == nil {
		t.Fatal("overlay with unknown status accepted")
	}
}

func TestTextRules(t *testing.T) {
	m := DefaultMappings()
	cases := []struct {
		name   string
		codes  []CodeRef
		text   string
		reason Reason
		rule   string
	}{
		{"generic failure refined", []CodeRef{{"easypost.status_detail", "delayed"}, {"easypost.status", "failure"}}, "Delivery exception (Customer not available or business closed)", "recipient_unavailable", "recipient_unavailable"},
		{"label", []CodeRef{{"easypost.status_detail", "transit_exception"}}, "Barcode label unreadable and replaced", "label_issue", "label_issue"},
		{"customs docs needs both words", []CodeRef{{"aftership.tag", "Exception"}}, "Customs clearance: documents required", "customs_documentation", "customs_documentation"},
		{"customs alone not enough", []CodeRef{{"aftership.tag", "Exception"}}, "Customs clearance delay", "exception_other", ""},
		{"specific reason untouched", []CodeRef{{"aftership.subtag", "Exception_012"}}, "Weather damaged the parcel", "damaged", ""},
		{"no exception never invented", []CodeRef{{"aftership.subtag", "InTransit_007"}}, "Departed; weather delay possible", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := &Event{Codes: c.codes, RawText: c.text}
			m.Normalize(ev, nil)
			var got Reason
			if ev.Exception != nil {
				got = ev.Exception.Reason
			}
			if got != c.reason || ev.ReasonRule != c.rule {
				t.Fatalf("reason %q rule %q, want %q %q", got, ev.ReasonRule, c.reason, c.rule)
			}
		})
	}
}
