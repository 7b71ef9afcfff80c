package triage

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/yardmaster/yardmaster/internal/apperr"
)

// Parsers of outside input: the policy file, case-list query parameters
// (including cursors), action parameters from the API and from rule
// templates, search terms, and signature headers.

func FuzzParsePolicy(f *testing.F) {
	f.Add("")
	f.Add("four_eyes: [reschedule_picking]\nsla: {high: {respond_by: 2h, resolve_by: 1d}}\n")
	f.Add("calendar: {timezone: Europe/Berlin, days: [mon, fri], start: '08:00', end: '18:00', holidays: ['2026-12-25']}\n")
	f.Add("sweeps: {stale: {in_transit: [72h, 5d]}, max_per_run: 10, interval: 15m}\n")
	f.Add("disruption: {enabled: true, min_cases: 5, window: 2h, severity: critical}\npriority: {customer_tier: {Gold: 5}}\n")
	f.Add("at_risk_fraction: 0.5\nreopen_window: 3d\nkeep_open_categories: [lost]\n")
	f.Fuzz(func(t *testing.T, src string) {
		p, err := ParsePolicy([]byte(src))
		if err != nil {
			if _, ok := apperr.As(err); !ok {
				t.Fatalf("error is not a client error: %v", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("a parsed policy does not validate again: %v", err)
		}
		if p.AtRiskFraction <= 0 || p.AtRiskFraction >= 1 {
			t.Fatalf("fraction %v accepted", p.AtRiskFraction)
		}
		if p.Calendar != nil {
			cal, err := p.Calendar.Build()
			if err != nil {
				t.Fatal(err)
			}
			start := time.Date(2026, 3, 27, 23, 30, 0, 0, time.UTC)
			end := cal.Add(start, 30*time.Hour)
			if end.Before(start) || cal.Between(start, end) != 30*time.Hour {
				t.Fatalf("calendar add/between disagree: %v → %v (%v)", start, end, cal.Between(start, end))
			}
		}
	})
}

func FuzzListFilter(f *testing.F) {
	f.Add("open,acknowledged", "critical", "priority", "cDEyMHwwMUpBQkNE", "1Z999", 50)
	f.Add("snoozed", "", "due", "ZHwxNzk5OTk5OTk5MDAwMDAwMDAwfDAxSg", "WH/OUT", 10)
	f.Add("", "", "newest", "dHx8MDFK", "ä", 1)
	f.Add("resolved,dismissed", "low,info", "oldest", "", "", 500)
	f.Fuzz(func(t *testing.T, states, sevs, sort, cursor, q string, limit int) {
		fl := ListFilter{Sort: sort, Cursor: cursor, Q: q, Limit: limit}
		for _, s := range strings.Split(states, ",") {
			if s != "" {
				fl.States = append(fl.States, State(s))
			}
		}
		for _, s := range strings.Split(sevs, ",") {
			if s != "" {
				fl.Severities = append(fl.Severities, "critical")
			}
		}
		if err := fl.Validate(); err != nil {
			if apperr.KindOf(err) != apperr.KindInvalid {
				t.Fatalf("not an invalid-input error: %v", err)
			}
			return
		}
		if fl.Cursor != "" {
			if _, err := decodeCursor(fl.Cursor, fl.Sort); err != nil {
				t.Fatalf("validated cursor does not decode: %v", err)
			}
		}
		if fl.Q != "" {
			lq := strings.ToLower(fl.Q)
			if end := prefixEnd(lq); !(lq < end) || !(lq+"zz" < end) {
				t.Fatalf("prefixEnd(%q) = %q does not bound its prefix", lq, end)
			}
		}
	})
}

func FuzzValidateAction(f *testing.F) {
	f.Add("reschedule_picking", "date", "2026-12-01", "reason", "x")
	f.Add("reschedule_picking", "scheduled_date", "2026-12-01T09:00:00+02:00", "picking", "WH/OUT/1")
	f.Add("schedule_activity", "summary", "Call", "days", "3")
	f.Add("create_ticket", "title", "Trace", "priority", "urgent")
	f.Add("post_note", "body", "hello", "target", "invoice")
	f.Fuzz(func(t *testing.T, typ, k1, v1, k2, v2 string) {
		p := Params{k1: v1, k2: v2}
		err := ValidateAction(typ, p)
		if err != nil {
			if apperr.KindOf(err) != apperr.KindInvalid {
				t.Fatalf("not an invalid-input error: %v", err)
			}
			return
		}
		ref := CaseRef{PickingRef: "WH/OUT/00001"}
		out := executorParams(typ, p, &ref, time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
		switch typ {
		case "reschedule_picking":
			if _, err := time.Parse(time.RFC3339, out["scheduled_date"]); err != nil {
				t.Fatalf("valid reschedule without an RFC 3339 scheduled_date: %v", out)
			}
			if _, ok := out["date"]; ok {
				t.Fatalf("alias kept: %v", out)
			}
		case "schedule_activity":
			if _, ok := out["days"]; ok {
				t.Fatalf("days kept: %v", out)
			}
		}
	})
}

func FuzzSearchTerms(f *testing.F) {
	f.Add("1Z999AA10123456784", "S00042", "WH/OUT/00042", "Acme GmbH & Co. KG")
	f.Add("", "", "", "")
	f.Add("ÄÖÜ-123", "Ω", "a/b/c/d", "  spaced   out  ")
	f.Fuzz(func(t *testing.T, tn, order, picking, customer string) {
		c := &Case{TrackingNumber: tn, OrderRef: order, PickingRef: picking, CustomerName: customer}
		terms := searchTerms(c)
		for i, term := range terms {
			if i > 0 && terms[i-1] >= term {
				t.Fatalf("terms not sorted and unique: %q", terms)
			}
			if strings.HasPrefix(term, "~") {
				continue
			}
			if len(term) < 2 || len(term) > 100 {
				t.Fatalf("term %q out of bounds", term)
			}
		}
		// The whole tracking number finds the case by prefix.
		if lt := strings.ToLower(strings.TrimSpace(tn)); len(lt) >= 2 && len(lt) <= 100 && utf8.ValidString(lt) {
			found := false
			for _, term := range terms {
				if term >= lt && term < prefixEnd(lt) {
					found = true
				}
			}
			if !found {
				t.Fatalf("tracking number %q not findable in %q", tn, terms)
			}
		}
	})
}

func FuzzVerifyWebhook(f *testing.F) {
	f.Add("msg_1", "1800000000", "v1,AAAA", `{"type":"ping"}`)
	f.Add("", "", "", "")
	f.Add("msg_2", "-1", "v1, v2,x v1,", "{}")
	secret := "whsec_" + strings.Repeat("QUJD", 8)
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, id, ts, sig, body string) {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		if err := VerifyWebhook(secret, h, []byte(body), now, 5*time.Minute); err == nil {
			want, _ := SignWebhook(secret, id, now, []byte(body))
			if !strings.Contains(sig, want) {
				t.Fatalf("accepted a signature that is not ours: %q", sig)
			}
		}
	})
}
