package digest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden %s (run with -update to create): %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file (run go test -update to accept):\n%s", name, firstDiff(string(want), string(got)))
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + "\n want: " + w + "\n  got: " + g
		}
	}
	return "(no line differs)"
}

func ptr[T any](v T) *T { return &v }

// fixture is one realistic period: Monday 2 March 2026, 08:00 to Tuesday
// 08:00 Europe/Berlin, two customers, cases in every state a digest
// reports, and noise it must leave out.
func fixture() (buildInput, []Case) {
	loc, _ := time.LoadLocation("Europe/Berlin")
	at := func(d, h, m int) time.Time { return time.Date(2026, 3, d, h, m, 0, 0, loc).UTC() }
	since, till := at(2, 8, 0), at(3, 8, 0)
	sub := Subscription{ID: "01SUB", Name: "Weekday digest", TimeZone: "Europe/Berlin", MinSeverity: SeverityMedium}
	in := buildInput{RunID: "01RUN", Kind: RunScheduled, Sub: sub, Audience: "Ada Account",
		Customers: []Customer{{ID: "42", Name: "Acme Retail"}, {ID: "43", Name: "Globex"}, {ID: "44", Name: "Quiet Corp"}},
		Since:     since, Till: till, Now: till.Add(30 * time.Second), Links: Links{Base: "https://ym.example"}}
	cases := []Case{
		{ID: "C1", Ref: "YM-101", Title: "Parcel lost in transit", CustomerID: "42", Severity: SeverityCritical, State: "open",
			Carrier: "DHL", TrackingNumber: "JD0142", OrderRef: "S00042", OpenedAt: at(1, 15, 0), SLA: "breached", ETARisk: ptr(0.91),
			Changes: []Change{{At: at(1, 15, 0), Kind: ChangeOpened}, {At: at(2, 9, 12), Kind: ChangeEscalated, Detail: "high → critical"},
				{At: at(2, 16, 0), Kind: ChangeSLABreached, Detail: "respond-by passed"}},
			Actions: []Action{{ID: "A1", Type: "post_note", State: ActionProposed, Summary: "Tell the customer", At: at(2, 9, 30)}}},
		{ID: "C2", Ref: "YM-102", Title: "Delivery exception: address", CustomerID: "42", Severity: SeverityHigh, State: "acknowledged",
			OpenedAt: at(2, 10, 5), SLA: "at_risk", Changes: []Change{{At: at(2, 10, 5), Kind: ChangeOpened}, {At: at(2, 11, 0), Kind: ChangeAcknowledged}},
			Actions: []Action{{ID: "A2", Type: "reschedule_picking", State: ActionSucceeded, Summary: "Moved to 4 March", At: at(2, 12, 0)}}},
		{ID: "C3", Ref: "YM-103", Title: "Customs hold", CustomerID: "43", Severity: SeverityMedium, State: "resolved",
			OpenedAt: at(1, 8, 0), ResolvedAt: ptr(at(2, 14, 0)), Changes: []Change{{At: at(2, 14, 0), Kind: ChangeResolved, Detail: "delivered"}}},
		// Below the minimum severity: left out.
		{ID: "C4", Ref: "YM-104", Title: "Late scan", CustomerID: "43", Severity: SeverityLow, State: "open", OpenedAt: at(2, 9, 0),
			Changes: []Change{{At: at(2, 9, 0), Kind: ChangeOpened}}},
		// Open, nothing new in the period: left out.
		{ID: "C5", Ref: "YM-105", Title: "Old quiet case", CustomerID: "44", Severity: SeverityHigh, State: "open", OpenedAt: at(1, 8, 0), SLA: "ok"},
		// Another customer: left out.
		{ID: "C6", Ref: "YM-106", Title: "Not ours", CustomerID: "99", Severity: SeverityCritical, State: "open", OpenedAt: at(2, 9, 0)},
		// ETA risk only.
		{ID: "C7", Ref: "YM-107", Title: "Stalled at hub", CustomerID: "43", Severity: SeverityMedium, State: "open", OpenedAt: at(1, 7, 0),
			SLA: "ok", ETARisk: ptr(0.64)},
	}
	return in, cases
}

func TestBuildFlagsAndTotals(t *testing.T) {
	in, cases := fixture()
	d := build(in, cases)
	if got := len(d.Customers); got != 2 {
		t.Fatalf("customers = %d, want 2 (Quiet Corp has no news)", got)
	}
	acme := d.Customers[0]
	if acme.ID != "42" {
		t.Fatalf("most urgent customer first: got %s", acme.Name)
	}
	flags := map[string][]string{}
	for _, s := range d.Customers {
		for _, c := range s.Cases {
			flags[c.ID] = c.Flags
		}
	}
	want := map[string][]string{
		"C1": {FlagEscalated, FlagBreached, FlagETARisk, FlagPendingApproval},
		"C2": {FlagOpened, FlagAtRisk, FlagActionTaken},
		"C3": {FlagResolved},
		"C7": {FlagETARisk},
	}
	if !equalFlags(flags, want) {
		t.Fatalf("flags = %v, want %v", flags, want)
	}
	wantT := Totals{Cases: 4, Open: 3, Opened: 1, Escalated: 1, AtRisk: 1, Breached: 1, Resolved: 1, ETARisk: 2, ActionsTaken: 1, PendingApproval: 1}
	if d.Totals != wantT {
		t.Fatalf("totals = %+v, want %+v", d.Totals, wantT)
	}
	// Only changes inside the period are reported.
	if got := len(acme.Cases[0].Changes); got != 2 {
		t.Errorf("C1 changes in period = %d, want 2", got)
	}
	if d.Customers[0].Cases[0].URL != "https://ym.example/console/cases/C1" {
		t.Errorf("case link = %q", d.Customers[0].Cases[0].URL)
	}
}

func equalFlags(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestBuildEmptyAndCap(t *testing.T) {
	in, _ := fixture()
	d := build(in, nil)
	if !d.Empty() || len(d.Customers) != 0 {
		t.Fatalf("empty digest: %+v", d)
	}
	var many []Case
	for i := range MaxCasesPerCustomer + 7 {
		many = append(many, Case{ID: "K" + strconv.Itoa(i), Title: "x", CustomerID: "42", Severity: SeverityHigh, State: "open", OpenedAt: in.Since.Add(time.Minute)})
	}
	d = build(in, many)
	if got := d.Customers[0]; len(got.Cases) != MaxCasesPerCustomer || got.More != 7 || got.Totals.Cases != MaxCasesPerCustomer+7 {
		t.Fatalf("cap: %d lines, more %d, totals %d", len(got.Cases), got.More, got.Totals.Cases)
	}
}

func TestRenderGolden(t *testing.T) {
	in, cases := fixture()
	d := build(in, cases)
	ov := DeterministicOverview(d)
	d.Overview = &ov
	r, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.MarshalIndent(d, "", "  ")
	golden(t, "digest.json", append(js, '\n'))
	golden(t, "digest.txt", []byte(r.Text))
	golden(t, "digest.html", []byte(r.HTML))
	golden(t, "subject.txt", []byte(r.Subject+"\n"))
	sp, _ := json.MarshalIndent(slackPayload(d, r, false), "", "  ")
	golden(t, "slack.json", append(sp, '\n'))
	body, err := renderOdoo(d, &d.Customers[0], OdooMarker("01RUN", "42"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "odoo_note.html", []byte(body+"\n"))

	// Times are shown in the subscriber's zone.
	if !strings.Contains(r.Text, "Mon 2 Mar 2026 08:00 – Tue 3 Mar 2026 08:00 (Europe/Berlin)") {
		t.Errorf("text period not in Europe/Berlin:\n%s", r.Text)
	}
}

func TestRenderEscapes(t *testing.T) {
	in, _ := fixture()
	cases := []Case{{ID: "X1", Title: `<img src=x onerror="alert(1)"> & co`, CustomerID: "42", Severity: SeverityHigh, State: "open", OpenedAt: in.Since.Add(time.Minute)}}
	d := build(in, cases)
	d.Overview = &Overview{Text: "<b>bold</b>", GeneratedBy: "deterministic"}
	r, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.HTML, "<img") || strings.Contains(r.HTML, "<b>bold") {
		t.Fatalf("HTML not escaped:\n%s", r.HTML)
	}
	p := slackPayload(d, r, false)
	b, _ := json.Marshal(p)
	if strings.Contains(string(b), `<img`) {
		t.Fatalf("Slack text not escaped: %s", b)
	}
}

func TestDeterministicOverview(t *testing.T) {
	in, cases := fixture()
	d := build(in, cases)
	got := DeterministicOverview(d).Text
	want := "4 cases across 2 customers: 1 new case, 1 escalated, 1 SLA breached, 1 SLA at risk, 2 deliveries likely late, 1 resolved, 1 action taken and 1 action awaiting approval. Most urgent: YM-101 (critical, escalated, SLA breached, likely late, awaiting approval) for Acme Retail."
	if got != want {
		t.Fatalf("overview =\n%s\nwant\n%s", got, want)
	}
	if got := DeterministicOverview(build(in, nil)).Text; !strings.Contains(got, "Nothing to report") {
		t.Fatalf("empty overview = %q", got)
	}
}

func TestRenderHighlights(t *testing.T) {
	in, cases := fixture()
	d := build(in, cases)
	hs := linkHighlights(d, []Highlight{{CaseID: "C1", Text: "Call DHL about the lost parcel."}, {CaseID: "NOPE", Text: "invented"}, {CaseID: "C2", Text: " "}})
	if len(hs) != 1 || hs[0].Ref != "YM-101" || hs[0].URL != "https://ym.example/console/cases/C1" {
		t.Fatalf("highlights = %+v", hs)
	}
	d.Overview = &Overview{Text: "Acme needs a call today.", GeneratedBy: "AI (m)", Highlights: hs}
	r, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Text, "- YM-101: Call DHL about the lost parcel. (https://ym.example/console/cases/C1)") ||
		!strings.Contains(r.Text, "(Written by AI (m) from the cases below.)") {
		t.Fatalf("text:\n%s", r.Text)
	}
	if !strings.Contains(r.HTML, `<a href="https://ym.example/console/cases/C1" style="color:#1f4fd1;text-decoration:none;">YM-101</a>: Call DHL`) {
		t.Fatalf("html lacks the highlight link")
	}
}
