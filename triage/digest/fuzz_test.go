package digest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzParseSchedule: subscribers type cron expressions and zone names; no
// input may panic or hang, and an accepted schedule fires in the future
// and never more often than MinScheduleGap.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range [][2]string{{"0 8 * * 1-5", "Europe/Berlin"}, {"@weekly", "UTC"}, {"*/15 * * * *", "Asia/Kolkata"},
		{"0 0 31 2 *", "UTC"}, {"59 23 L * *", "UTC"}, {"0 8 * * MON-FRI", "America/New_York"}, {"CRON_TZ=UTC 0 8 * * *", "UTC"}} {
		f.Add(s[0], s[1])
	}
	from := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, spec, tz string) {
		s, err := ParseSchedule(spec, tz)
		if err != nil {
			return
		}
		a := s.Next(from)
		if !a.After(from) {
			t.Fatalf("%q in %q: next %s not after %s", spec, tz, a, from)
		}
		if b := s.Next(a); !b.IsZero() && b.Sub(a) < MinScheduleGap {
			t.Fatalf("%q in %q fires %s apart", spec, tz, b.Sub(a))
		}
	})
}

// FuzzParseSMTPURL: the SMTP URL comes from the environment.
func FuzzParseSMTPURL(f *testing.F) {
	for _, s := range []string{"smtp://mail.example.com", "smtps://u:p@mail.example.com:465", "smtp://[::1]:25?starttls=false&helo=x",
		"smtp://%zz@host", "smtp://host?starttls=true&starttls=false"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := ParseSMTPURL(raw)
		if err != nil {
			return
		}
		if c.Host == "" || c.Addr == "" || c.TLS == "" {
			t.Fatalf("%q accepted as %+v", raw, c)
		}
	})
}

// FuzzSubscriptionInput: the subscription body comes from API clients.
// Decoding and validation never panic; whatever validates round-trips
// through its stored JSON form.
func FuzzSubscriptionInput(f *testing.F) {
	for _, s := range []string{
		`{"name":"a","subscriber":{"kind":"user","user_id":"u"},"timezone":"UTC","schedule":"@daily","customers":{"auto":true},"channels":{"email":{}}}`,
		`{"name":"t","subscriber":{"kind":"team","team":"emea"},"timezone":"Europe/Berlin","schedule":"0 8 * * 1-5","customers":{"include":[{"id":"42"}],"exclude":["7"]},"channels":{"webhook":{"url":"https://h.example/x","secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},"odoo":{"mode":"activity"}},"immediate":{"enabled":true,"group_wait":"10s","group_interval":"2m","repeat_interval":"1h"}}`,
		`{"name":"x","timezone":"UTC","schedule":"* * * * *","customers":{},"channels":{"email":{"to":["a@b.example","bad"]}}}`,
		`{"immediate":{"group_wait":"-5s"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in SubscriptionInput
		if err := json.Unmarshal(body, &in); err != nil {
			return
		}
		s, errs := normalize(in)
		for _, e := range errs {
			if e.Field == "" || e.Message == "" {
				t.Fatalf("field error without field or message: %+v", e)
			}
		}
		if len(errs) > 0 {
			return
		}
		if s.Name == "" || strings.ContainsAny(s.Name, "\r\n") {
			t.Fatalf("accepted name %q", s.Name)
		}
		row, err := toRow(s, "")
		if err != nil {
			t.Fatal(err)
		}
		back, err := row.subscription()
		if err != nil {
			t.Fatalf("stored form does not load: %v", err)
		}
		if back.Schedule != s.Schedule || back.TimeZone != s.TimeZone || len(back.Customers.Include) != len(s.Customers.Include) {
			t.Fatalf("round trip changed the subscription: %+v vs %+v", back, s)
		}
	})
}
