package web

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for the console's parsers of outside input: the post-login
// redirect target, the queue's query string, form times, the "back" query
// carried through a form, and comma lists. Seeds are under
// testdata/fuzz/<target>.

func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/queue?state=open", "//evil.example", "/\\evil", "https://evil.example/", "/login?next=/x", "", "/cases/01H\r\nSet-Cookie: x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := safeNext(s)
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n") {
			t.Fatalf("safeNext(%q) = %q: not a same-site path", s, got)
		}
		if strings.HasPrefix(got, "/login") || strings.HasPrefix(got, "/logout") {
			t.Fatalf("safeNext(%q) = %q: loops back to sign-in", s, got)
		}
		if got != consoleDefault && got != s {
			t.Fatalf("safeNext(%q) = %q: changed a path instead of refusing it", s, got)
		}
	})
}

func FuzzQueueFilter(f *testing.F) {
	for _, s := range []string{"", "state=open&state=acknowledged&severity=critical", "state=any&sort=due&cursor=abc", "q=%E2%9C%93&assignee=me", "sla_state=breached&sla_state=", "state=&severity=&q=" + strings.Repeat("x", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		fl := queueFilter(q)
		if fl.Limit != queuePageSize {
			t.Fatalf("limit %d", fl.Limit)
		}
		if _, ok := q["state"]; !ok && len(fl.States) != len(liveStates) {
			t.Fatalf("no state parameter but states %v", fl.States)
		}
		for _, s := range fl.States {
			if s == "" || s == "any" {
				t.Fatalf("state %q kept", s)
			}
		}
		// Whatever comes in, validation answers (never panics).
		_ = fl.Validate()
	})
}

func FuzzParseFormTime(f *testing.F) {
	for _, s := range []string{"2026-11-27T08:00", "2026-11-27T08:00:00Z", "2026-11-27", "2026-11-27T08:00:00+01:00", "27/11/2026", "", "9999-99-99T99:99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := parseFormTime(s)
		if err != nil {
			return
		}
		if tm.Location() != time.UTC {
			t.Fatalf("parseFormTime(%q) = %v, not UTC", s, tm)
		}
	})
}

func FuzzBackQuery(f *testing.F) {
	for _, s := range []string{"", "state=open&cursor=x", "%zz", "a=1&a=2", "q=%0d%0aLocation:%20x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := backQuery(s)
		if got == "" {
			return
		}
		if !strings.HasPrefix(got, "?") || strings.ContainsAny(got, "\r\n#") {
			t.Fatalf("backQuery(%q) = %q", s, got)
		}
		q, err := url.ParseQuery(got[1:])
		if err != nil {
			t.Fatalf("backQuery(%q) = %q does not parse: %v", s, got, err)
		}
		if q.Has("cursor") {
			t.Fatalf("backQuery(%q) kept the cursor", s)
		}
	})
}

func FuzzSplitFormList(f *testing.F) {
	for _, s := range []string{"reason:damaged, status:delivered", "a,,b\n c\r\n", "", " , "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, v := range splitFormList(s) {
			if v == "" || v != strings.TrimSpace(v) || strings.ContainsAny(v, ",\n\r") {
				t.Fatalf("splitFormList(%q) item %q", s, v)
			}
		}
	})
}
