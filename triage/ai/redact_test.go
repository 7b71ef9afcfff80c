package ai

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRedactKnownAndPatternData(t *testing.T) {
	f := testFacts(t)
	tests := []struct {
		name, in, want string
	}{
		{"customer full name", "Delivery failed for Jürgen Müller (S00042)", "Delivery failed for [CUSTOMER] (S00042)"},
		{"name without umlauts, upper case", "CALL JUERGEN MUELLER", "CALL [CUSTOMER]"},
		{"name with accents stripped", "attempted: MULLER not home", "attempted: [CUSTOMER] not home"},
		{"surname alone", "Customer Mueller asked", "Customer [CUSTOMER] asked"},
		{"salesperson accents stripped", "ask SOFIA MARTINEZ", "ask [SALESPERSON]"},
		{"two-letter surname", "Li Wu will accept; WU confirmed", "[CONTACT_1] will accept; [CONTACT_1] confirmed"},
		{"particle kept, name parts redacted", "Mr Pieter de Vries from invoicing", "Mr [CONTACT_2] from invoicing"},
		{"particle alone is not a name", "de facto delay", "de facto delay"},
		{"known email", "write to JUERGEN.MUELLER@EXAMPLE.DE now", "write to [EMAIL_1] now"},
		{"unknown email", "cc neighbour.kim@mail.example please", "cc [EMAIL_4] please"},
		{"known phone international", "phone +49 30 1234567", "phone [PHONE_1]"},
		{"known phone national format", "ring 030 1234567 after 5", "ring [PHONE_1] after 5"},
		{"known mobile without spaces", "sms to 01719876543", "sms to [PHONE_2]"},
		{"unknown phone with separators", "neighbour line 555-201-3344 ok", "neighbour line [PHONE_3] ok"},
		{"unknown phone with cue", "Tel: 5552019999", "Tel: [PHONE_3]"},
		{"known street folded", "to HAUPTSTRASSE 5, 10115 BERLIN", "to [ADDRESS_1] BERLIN"},
		{"known street exact", "Hauptstraße 5", "[ADDRESS_1]"},
		{"known street of other contact", "bill to 221B Baker Street", "bill to [ADDRESS_2]"},
		{"unknown english street", "redirect to 42 Elm Tree Road please", "redirect to [ADDRESS_3] please"},
		{"unknown german street", "Abgabe Lindenallee 12a", "Abgabe [ADDRESS_3]"},
		{"unknown french street", "livré au 12 rue de la Paix", "livré au [ADDRESS_3]"},
		{"unknown spanish street", "dejado en Calle Mayor 7", "dejado en [ADDRESS_3]"},
		{"cue: signed by", "Delivered, signed by: SAM TAYLOR at 10:02", "Delivered, signed by: [PERSON_1] at 10:02"},
		{"cue: left with neighbour", "LEFT WITH NEIGHBOUR KIM PARK", "LEFT WITH NEIGHBOUR [PERSON_1]"},
		{"cue: not a name", "DELIVERED TO FRONT DOOR", "DELIVERED TO FRONT DOOR"},
		{"cue: Mrs is not Mr", "Mrs Okonkwo called", "Mrs [PERSON_1] called"},
		{"cue: attn with dot", "Attn. Brown, Finance", "Attn. [PERSON_1], Finance"},
		{"tracking number has its own placeholder", "tracking JD014600003828391234 scanned", "tracking [TRACKING] scanned"},
		{"other tracking number is not a phone", "was 00340434161094042557 before", "was 00340434161094042557 before"},
		{"picking ref is not a phone", "picking WH/OUT/00017 ready", "picking WH/OUT/00017 ready"},
		{"date is not a phone", "expected 2026-11-28 or 28.11.2026", "expected 2026-11-28 or 28.11.2026"},
		{"quantities are not phones", "2 parcels, 12.5 kg, 3 pallets", "2 parcels, 12.5 kg, 3 pallets"},
		{"sentence is not an address", "DELAYED 2 DAYS DUE TO ROAD CLOSURE", "DELAYED 2 DAYS DUE TO ROAD CLOSURE"},
		{"carrier hub city kept", "Arrived at DHL hub Bad Hersfeld", "Arrived at DHL hub Bad Hersfeld"},
		{"staff note author", "as Anneliese Okafor said", "as [STAFF_1] said"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRedactor(f)
			if got := r.Redact(tt.in); got != tt.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedactPlaceholdersAreStableAndRestorable(t *testing.T) {
	f := testFacts(t)
	r := NewRedactor(f)
	in := "Jürgen Müller (juergen.mueller@example.de, +49 30 1234567) lives at Hauptstraße 5; neighbour Kim Park 555-201-3344."
	out := r.Redact(in)
	if again := r.Redact(in); again != out {
		t.Fatalf("second redaction differs:\n%q\n%q", out, again)
	}
	if r2 := NewRedactor(f); r2.Redact(in) != out {
		t.Fatalf("a fresh redactor over equal facts numbers placeholders differently")
	}
	back := r.Restore(out)
	for _, want := range []string{"Jürgen Müller", "juergen.mueller@example.de", "+49 30 1234567", "Hauptstraße 5", "Kim Park", "555-201-3344"} {
		if !strings.Contains(back, want) {
			t.Errorf("Restore lost %q: %q", want, back)
		}
	}
	if got := r.Restore("Hello [NOBODY_9]"); got != "Hello [NOBODY_9]" {
		t.Errorf("unknown placeholder changed: %q", got)
	}
}

// TestRedactNoLeak runs every free text of the fixture through the
// redactor and checks that no spelling of any personal value survives.
func TestRedactNoLeak(t *testing.T) {
	f := testFacts(t)
	r := NewRedactor(f)
	var texts []string
	texts = append(texts, f.Case.Title)
	for _, e := range f.Timeline {
		texts = append(texts, e.RawText)
	}
	for _, n := range f.Notes {
		texts = append(texts, n.Body, n.Author)
	}
	for _, c := range f.contacts() {
		texts = append(texts, c.Name, c.Email, c.Phone, c.Mobile, c.Street)
	}
	for _, s := range texts {
		out := r.Redact(s)
		if leak := findPersonalData(out); leak != "" {
			t.Errorf("Redact(%q) = %q still contains %q", s, out, leak)
		}
	}
}

// findPersonalData returns the first personal value of the fixture found in
// s, or "". Phone-like values compare by digits; others case- and
// accent-insensitively on word boundaries.
func findPersonalData(s string) string {
	hay := " " + foldString(s) + " "
	digits := digitsOf(s)
	for _, p := range personalData {
		if isAllDigitsAndSeps(p) {
			if d := digitsOf(p); len(d) >= 5 && strings.Contains(digits, d) {
				return p
			}
			continue
		}
		if strings.Contains(hay, " "+foldString(p)+" ") {
			return p
		}
	}
	return ""
}

func isAllDigitsAndSeps(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789 +-()./", c) {
			return false
		}
	}
	return true
}

func FuzzRedact(f *testing.F) {
	for _, s := range []string{
		"Jürgen Müller, Hauptstraße 5, +49 30 1234567",
		"signed by: SAM TAYLOR",
		"call 555-201-3344 or mail a@b.co",
		"12 rue de la Paix", "[CUSTOMER] [CUSTOMER]", "Mr", "attn.", "ß", "\xff\xfe",
	} {
		f.Add(s)
	}
	facts := fixtureFacts()
	f.Fuzz(func(t *testing.T, s string) {
		r := NewRedactor(facts)
		out := r.Redact(s)
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 out of %q", s)
		}
		low := strings.ToLower(out)
		for _, p := range []string{"juergen.mueller@example.de", "sofia.martinez@yardmaster-demo.com"} {
			if strings.Contains(low, p) {
				t.Fatalf("known email %q survived in %q", p, out)
			}
		}
		if r.Redact(s) != out {
			t.Fatalf("redaction not deterministic for %q", s)
		}
	})
}
