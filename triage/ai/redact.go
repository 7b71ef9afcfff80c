package ai

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Redactor replaces personal data in free text with stable placeholders
// before anything is sent to a language model, and puts the original values
// back into the answer that stays in Yardmaster.
//
// It combines two methods, because neither is enough alone:
//
//   - Known values. Every name, e-mail, phone and street address of the
//     facts' contacts (customer, salesperson, further order contacts, note
//     authors) is searched for wherever it appears, case- and
//     accent-insensitively (MÜLLER, Muller and Mueller all match Müller),
//     across punctuation and spacing differences, and for persons also each
//     part of the name on its own (a carrier writing "LEFT WITH SCHMIDT").
//   - Patterns. E-mail addresses, phone numbers, street addresses and names
//     after cues such as "signed by" are redacted even when they belong to
//     nobody we know (a neighbour who took the parcel).
//
// It errs on the side of removing too much. Known identifiers (tracking
// numbers, order and picking references) are never treated as phone numbers.
// A Redactor is built per Facts and is not safe for concurrent use.
type Redactor struct {
	needles   []needle
	protected map[string]bool // digit strings of identifiers that are not phones
	knownTel  []string        // digit strings of known phone numbers
	values    map[string]string
	byValue   map[string]string // kind + normalised value → placeholder
	counts    map[string]int
}

// needle is a known value searched for in folded text.
type needle struct {
	folded      string // folded, single-spaced, without surrounding spaces
	placeholder string
}

// Placeholder kinds.
const (
	phCustomer    = "[CUSTOMER]"
	phSalesperson = "[SALESPERSON]"
	phTracking    = "[TRACKING]"
)

var placeholderRE = regexp.MustCompile(`\[[A-Z]+(?:_[0-9]+)?\]`)

// NewRedactor builds a redactor that knows the personal data of f.
func NewRedactor(f Facts) *Redactor {
	r := newRedactor()
	for _, id := range []string{f.trackingNumber(), f.Case.TrackingNumber} {
		r.protect(id)
	}
	if f.Odoo != nil {
		r.protect(f.Odoo.OrderRef)
		r.protect(f.Odoo.PickingRef)
	}
	if f.Shipment != nil {
		r.protect(f.Shipment.OrderRef)
		r.protect(f.Shipment.PickingRef)
	}
	for _, e := range f.Timeline {
		r.protect(e.TrackingNumber)
		r.protect(e.OrderRef)
		r.protect(e.PickingRef)
	}
	// A tracking number lets anyone read the delivery address on the
	// carrier's site, so it is treated as personal data too.
	if tn := strings.TrimSpace(f.trackingNumber()); tn != "" {
		r.values[phTracking] = tn
		if ft := foldString(tn); ft != "" {
			r.needles = append(r.needles, needle{folded: ft, placeholder: phTracking})
		}
	}
	if f.Odoo != nil {
		r.addContact(f.Odoo.Customer, phCustomer)
		r.addContact(f.Odoo.Salesperson, phSalesperson)
		for _, c := range f.Odoo.Contacts {
			r.addContact(c, "")
		}
	}
	for _, n := range f.Notes {
		if strings.TrimSpace(n.Author) != "" {
			r.addName(n.Author, false, r.placeholderFor("STAFF", foldString(n.Author), n.Author))
		}
	}
	r.ready()
	return r
}

func newRedactor() *Redactor {
	return &Redactor{
		protected: map[string]bool{},
		values:    map[string]string{},
		byValue:   map[string]string{},
		counts:    map[string]int{},
	}
}

// ready orders the needles once all known values are in: longer needles
// first, so "anna schmidt" wins over "anna".
func (r *Redactor) ready() {
	sort.SliceStable(r.needles, func(i, j int) bool { return len(r.needles[i].folded) > len(r.needles[j].folded) })
}

// addTracking registers a tracking number under a numbered placeholder
// (digests cover many shipments).
func (r *Redactor) addTracking(tn string) {
	tn = strings.TrimSpace(tn)
	if tn == "" {
		return
	}
	r.protect(tn)
	ph := r.placeholderFor("TRACKING", foldString(tn), tn)
	if ft := foldString(tn); ft != "" {
		r.needles = append(r.needles, needle{folded: ft, placeholder: ph})
	}
}

func (r *Redactor) protect(id string) {
	if d := digitsOf(id); len(d) >= 5 {
		r.protected[d] = true
	}
}

// placeholderFor returns the placeholder of a value of kind, numbering new
// values in order of first sight so equal facts give equal placeholders.
func (r *Redactor) placeholderFor(kind, key, original string) string {
	if p, ok := r.byValue[kind+"\x00"+key]; ok {
		return p
	}
	r.counts[kind]++
	p := fmt.Sprintf("[%s_%d]", kind, r.counts[kind])
	r.byValue[kind+"\x00"+key] = p
	r.values[p] = original
	return p
}

func (r *Redactor) addContact(c Contact, fixed string) {
	if strings.TrimSpace(c.Name) != "" {
		ph := fixed
		if ph == "" {
			ph = r.placeholderFor("CONTACT", foldString(c.Name), c.Name)
		} else {
			r.values[ph] = strings.TrimSpace(c.Name)
		}
		r.addName(c.Name, c.IsCompany, ph)
	}
	for _, e := range []string{c.Email} {
		if e = strings.TrimSpace(e); e != "" {
			ph := r.placeholderFor("EMAIL", strings.ToLower(e), e)
			r.needles = append(r.needles, needle{folded: foldString(e), placeholder: ph})
		}
	}
	for _, p := range []string{c.Phone, c.Mobile} {
		if d := digitsOf(p); len(d) >= 6 {
			r.knownTel = append(r.knownTel, d)
			r.placeholderFor("PHONE", phoneKey(d), strings.TrimSpace(p))
		}
	}
	street := strings.TrimSpace(strings.Join(nonEmpty(c.Street, c.Street2), ", "))
	if street != "" || strings.TrimSpace(c.Zip) != "" {
		ph := r.placeholderFor("ADDRESS", foldString(street+" "+c.Zip), strings.TrimSpace(strings.Join(nonEmpty(street, strings.TrimSpace(c.Zip+" "+c.City)), ", ")))
		for _, s := range []string{c.Street, c.Street2, c.Zip} {
			if f := foldString(s); len([]rune(f)) >= 3 {
				r.needles = append(r.needles, needle{folded: f, placeholder: ph})
			}
		}
	}
}

// nameStopwords are name parts never redacted on their own: particles,
// titles and legal forms that are ordinary words elsewhere.
var nameStopwords = map[string]bool{
	"van": true, "von": true, "der": true, "den": true, "de": true, "del": true, "della": true, "di": true,
	"da": true, "du": true, "la": true, "le": true, "el": true, "al": true, "bin": true, "ibn": true, "ten": true,
	"the": true, "and": true, "und": true, "et": true, "y": true, "mr": true, "mrs": true, "ms": true, "dr": true,
	"herr": true, "frau": true, "jr": true, "sr": true, "ii": true, "iii": true,
	"gmbh": true, "ag": true, "kg": true, "co": true, "ltd": true, "llc": true, "inc": true, "sa": true, "sas": true,
	"sarl": true, "srl": true, "spa": true, "bv": true, "nv": true, "oy": true, "ab": true, "as": true, "plc": true,
	"corp": true, "company": true, "limited": true, "group": true, "ug": true, "ohg": true, "kft": true, "sro": true,
	"an": true, "at": true, "by": true, "in": true, "is": true, "it": true, "of": true, "on": true, "to": true,
	"up": true, "us": true, "we": true, "no": true, "so": true, "do": true, "go": true, "he": true, "me": true,
	"my": true, "or": true, "be": true, "am": true, "if": true,
}

// addName registers a person's or company's name. Persons are also matched
// part by part (surnames of two letters included, first names of three or
// more); companies by their full name and by their name without the legal
// form.
func (r *Redactor) addName(name string, company bool, ph string) {
	f := foldString(name)
	if f == "" {
		return
	}
	r.needles = append(r.needles, needle{folded: f, placeholder: ph})
	for _, v := range germanVariants(name) {
		r.needles = append(r.needles, needle{folded: v, placeholder: ph})
	}
	if company {
		var core []string
		for _, p := range strings.Fields(f) {
			if !nameStopwords[p] {
				core = append(core, p)
			}
		}
		if c := strings.Join(core, " "); c != f && len(c) >= 4 {
			r.needles = append(r.needles, needle{folded: c, placeholder: ph})
		}
		return
	}
	orig := strings.FieldsFunc(name, func(c rune) bool { return !unicode.IsLetter(c) && !unicode.IsDigit(c) })
	for i, o := range orig {
		p := foldString(o)
		n := utf8.RuneCountInString(p)
		last := i == len(orig)-1
		if nameStopwords[p] || n < 2 || (n == 2 && !last) {
			continue
		}
		r.needles = append(r.needles, needle{folded: p, placeholder: ph})
		for _, v := range germanVariants(o) {
			r.needles = append(r.needles, needle{folded: v, placeholder: ph})
		}
	}
}

// germanVariants returns the ae/oe/ue spelling of a name with umlauts
// (Müller → mueller), which carriers without umlauts commonly print.
func germanVariants(s string) []string {
	if !strings.ContainsAny(strings.ToLower(s), "äöü") {
		return nil
	}
	rep := strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "Ä", "Ae", "Ö", "Oe", "Ü", "Ue")
	return []string{foldString(rep.Replace(s))}
}

// Values returns the placeholder → original value map, for rehydrating an
// answer locally.
func (r *Redactor) Values() map[string]string {
	out := make(map[string]string, len(r.values))
	for k, v := range r.values {
		out[k] = v
	}
	return out
}

// Restore puts original values back in place of the placeholders of s.
// Placeholders the redactor did not issue stay as they are.
func (r *Redactor) Restore(s string) string {
	return placeholderRE.ReplaceAllStringFunc(s, func(p string) string {
		if v, ok := r.values[p]; ok {
			return v
		}
		return p
	})
}

// Redact returns s with every personal datum replaced by a placeholder.
func (r *Redactor) Redact(s string) string {
	if strings.TrimSpace(s) == "" {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = r.redactEmails(s)
	s = r.redactNeedles(s)
	s = r.redactPhones(s)
	s = r.redactAddresses(s)
	s = r.redactCuedNames(s)
	return collapsePlaceholders(s)
}

var emailRE = regexp.MustCompile(`(?i)[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}`)

func (r *Redactor) redactEmails(s string) string {
	return emailRE.ReplaceAllStringFunc(s, func(m string) string {
		return r.placeholderFor("EMAIL", strings.ToLower(m), m)
	})
}

// redactNeedles replaces every known value, matched on whole words of the
// folded text.
func (r *Redactor) redactNeedles(s string) string {
	if len(r.needles) == 0 {
		return s
	}
	orig := []rune(s)
	ft, idx := fold(orig)
	type span struct {
		from, to int // original rune range [from, to)
		ph       string
	}
	var spans []span
	taken := make([]bool, len(orig))
	for _, n := range r.needles {
		nd := " " + n.folded + " "
		start := 0
		for {
			p := strings.Index(ft[start:], nd)
			if p < 0 {
				break
			}
			p += start
			// Byte offsets in ft map to runes through idx, which is indexed
			// by byte because folded text is ASCII-or-multibyte; see fold.
			from, to := idx[p+1], idx[p+len(nd)-2]+1
			free := true
			for i := from; i < to; i++ {
				if taken[i] {
					free = false
					break
				}
			}
			if free && !insidePlaceholder(orig, from, to) {
				for i := from; i < to; i++ {
					taken[i] = true
				}
				spans = append(spans, span{from, to, n.placeholder})
			}
			start = p + len(nd) - 1
		}
	}
	if len(spans) == 0 {
		return s
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].from < spans[j].from })
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		b.WriteString(string(orig[last:sp.from]))
		b.WriteString(sp.ph)
		last = sp.to
	}
	b.WriteString(string(orig[last:]))
	return b.String()
}

// insidePlaceholder reports whether runes [from,to) lie within a
// placeholder such as [EMAIL_1] already in the text.
func insidePlaceholder(orig []rune, from, to int) bool {
	for i := from - 1; i >= 0 && i >= from-16; i-- {
		if orig[i] == ']' {
			return false
		}
		if orig[i] == '[' {
			for j := to; j < len(orig) && j < to+16; j++ {
				if orig[j] == ']' {
					return true
				}
				if orig[j] == '[' {
					return false
				}
			}
			return false
		}
	}
	return false
}

// fold lowercases, strips accents and turns every run of non-alphanumeric
// runes into one space, with a space at both ends. idx maps each byte of the
// result to the index of the original rune it came from.
func fold(orig []rune) (string, []int) {
	var b strings.Builder
	idx := make([]int, 0, len(orig)+2)
	put := func(c rune, i int) {
		n, _ := b.WriteRune(c)
		for k := 0; k < n; k++ {
			idx = append(idx, i)
		}
	}
	put(' ', -1)
	space := true
	for i, c := range orig {
		if !unicode.IsLetter(c) && !unicode.IsDigit(c) {
			if !space {
				put(' ', i)
				space = true
			}
			continue
		}
		for _, fc := range foldRune(c) {
			put(fc, i)
		}
		space = false
	}
	if !space {
		put(' ', len(orig))
	}
	return b.String(), idx
}

// foldString folds s the way fold does, without the surrounding spaces.
func foldString(s string) string {
	f, _ := fold([]rune(s))
	return strings.TrimSpace(f)
}

var foldSpecial = map[rune]string{
	'ß': "ss", 'ẞ': "ss", 'æ': "ae", 'Æ': "ae", 'œ': "oe", 'Œ': "oe", 'ø': "o", 'Ø': "o",
	'ł': "l", 'Ł': "l", 'đ': "d", 'Đ': "d", 'ð': "d", 'þ': "th", 'ı': "i",
}

func foldRune(c rune) string {
	if s, ok := foldSpecial[c]; ok {
		return s
	}
	d := norm.NFD.String(string(c))
	var b strings.Builder
	for _, x := range d {
		if unicode.Is(unicode.Mn, x) {
			continue
		}
		b.WriteRune(unicode.ToLower(x))
	}
	if b.Len() == 0 {
		return string(unicode.ToLower(c))
	}
	return b.String()
}

// phoneCandidateRE finds digit sequences that may be phone numbers: an
// optional + or (, then digits with spaces, dots, dashes, slashes or
// parentheses between them.
var phoneCandidateRE = regexp.MustCompile(`(?:\+|\(\s*\+?)?[0-9][0-9 ().\-/\x{00A0}]{4,}[0-9]`)

var phoneCueRE = regexp.MustCompile(`(?i)(?:tel|tél|phone|ph|mob|mobile|cell|fon|telefon|telephone|téléphone|call|sms|whatsapp|fax|contact)[^0-9]{0,12}$`)

var dateLikeRE = regexp.MustCompile(`^[0-9]{1,4}[./\-][0-9]{1,2}[./\-][0-9]{1,4}$`)

func (r *Redactor) redactPhones(s string) string {
	locs := phoneCandidateRE.FindAllStringIndex(s, -1)
	if len(locs) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, l := range locs {
		m := strings.TrimRight(s[l[0]:l[1]], " .-/(")
		end := l[0] + len(m)
		if !r.isPhone(s[:l[0]], m) {
			continue
		}
		d := digitsOf(m)
		orig := m
		ph := r.placeholderFor("PHONE", phoneKey(d), orig)
		b.WriteString(s[last:l[0]])
		b.WriteString(ph)
		last = end
	}
	b.WriteString(s[last:])
	return b.String()
}

// isPhone decides whether candidate m (preceded by before) is a phone number.
func (r *Redactor) isPhone(before, m string) bool {
	d := digitsOf(m)
	if len(d) < 6 || len(d) > 16 {
		return false
	}
	for _, k := range r.knownTel {
		if phoneKey(k) == phoneKey(d) {
			return true
		}
	}
	if len(d) < 7 || r.protected[d] {
		return false
	}
	for p := range r.protected {
		if strings.Contains(p, d) {
			return false
		}
	}
	trimmed := strings.TrimSpace(m)
	if dateLikeRE.MatchString(trimmed) {
		return false
	}
	seps := 0
	for i, c := range trimmed {
		if (c < '0' || c > '9') && i > 0 {
			if prev := trimmed[i-1]; prev >= '0' && prev <= '9' {
				seps++
			}
		}
	}
	switch {
	case strings.HasPrefix(trimmed, "+") || strings.HasPrefix(trimmed, "("):
		return true
	case strings.HasPrefix(d, "00") && len(d) >= 9:
		return true
	case phoneCueRE.MatchString(tail(before, 32)):
		return true
	case seps >= 2 && len(d) >= 9:
		return true
	case strings.HasPrefix(d, "0") && seps >= 1 && len(d) >= 9:
		return true
	}
	return false
}

// phoneKey compares phone numbers by their last nine digits, so +49 30
// 1234567 and 030 1234567 are the same number.
func phoneKey(d string) string {
	if len(d) > 9 {
		return d[len(d)-9:]
	}
	return d
}

func digitsOf(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// Street address patterns: a house number then a street type (English,
// French, Spanish, Italian, Portuguese), a street type then a house number
// (Romance languages), and compound street names ending in a street word
// then a number (German, Dutch, Nordic).
var addressREs = []*regexp.Regexp{
	regexp.MustCompile(`(?i)\b[0-9]{1,5}[a-z]?(?:[-/][0-9]{1,5})?,?\s+(?:[\p{L}'’.\-]+\s+){1,3}?(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|court|way|place|terrace|crescent|highway|hwy|parkway|pkwy|square|close)\b\.?`),
	regexp.MustCompile(`(?i)\b[0-9]{1,5}(?:\s*(?:bis|ter))?,?\s+(?:rue|avenue|av\.|bd|boulevard|chemin|allée|impasse|quai|route|calle|avenida|paseo|plaza|via|viale|piazza|corso|rua|travessa|largo)\s+(?:[\p{L}'’.\-]+\s*){1,5}`),
	regexp.MustCompile(`(?i)\b(?:rue|calle|avenida|paseo|plaza|via|viale|piazza|corso|rua|travessa|largo|avenue)\s+(?:[\p{L}'’.\-]+\s+){1,4}(?:n[º°o]\.?\s*)?[0-9]{1,5}[a-z]?\b`),
	regexp.MustCompile(`(?i)[\p{L}\-]*(?:straße|strasse|str\.|weg|gasse|platz|allee|damm|ufer|chaussee|straat|laan|gracht|plein|kade|vej|gatan|gata|veien|gade)\s*[0-9]{1,5}\s?[a-z]?\b`),
}

// notStreetWords are words that show a number-then-words match is a
// sentence ("DELAYED 2 DAYS DUE TO ROAD CLOSURE"), not a street address.
var notStreetWords = map[string]bool{
	"to": true, "due": true, "of": true, "the": true, "in": true, "at": true, "for": true, "and": true,
	"by": true, "on": true, "day": true, "days": true, "hour": true, "hours": true, "pieces": true,
	"pcs": true, "parcels": true, "packages": true, "pallets": true, "boxes": true, "items": true,
	"attempts": true, "attempt": true, "weeks": true, "minutes": true, "km": true, "miles": true,
}

func (r *Redactor) redactAddresses(s string) string {
	if !strings.ContainsAny(s, "0123456789") {
		return s // every pattern needs a house number
	}
	for _, re := range addressREs {
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			if placeholderRE.MatchString(m) {
				return m
			}
			for _, w := range strings.Fields(foldString(m)) {
				if notStreetWords[w] {
					return m
				}
			}
			return r.placeholderFor("ADDRESS", foldString(m), strings.TrimSpace(m))
		})
	}
	return s
}

// cueRE finds a phrase after which carriers and people write a name.
var cueRE = regexp.MustCompile(`(?i)\b(?:signed\s+by|signed\s+for\s+by|received\s+by|left\s+with|delivered\s+to|handed\s+(?:over\s+)?to|accepted\s+by|collected\s+by|picked\s+up\s+by|attn|attention|c/o|contact\s+person|recipient\s+name|consignee\s+name|signatory|unterschrieben\s+von|empfangen\s+von|zugestellt\s+an|abgegeben\s+bei|sign[ée]\s+par|réceptionné\s+par|neighbou?r|nachbar(?:in)?|voisin(?:e)?|mr|mrs|ms|miss|herr|frau|mme|mlle|sr|sra)\b\.?[ \t]*[:\-]?[ \t]*`)

// nameWordRE is a capitalised word that may be part of a name.
var nameWordRE = regexp.MustCompile(`^\p{Lu}[\p{L}'’.\-]*`)

// notNames are words that follow cues without being names ("delivered to
// FRONT DOOR", "left with NEIGHBOUR").
var notNames = map[string]bool{
	"front": true, "back": true, "rear": true, "side": true, "door": true, "porch": true, "reception": true,
	"receptionist": true, "mailroom": true, "mail": true, "neighbour": true, "neighbor": true, "nachbar": true,
	"voisin": true, "garage": true, "mailbox": true, "letterbox": true, "locker": true, "security": true,
	"concierge": true, "office": true, "desk": true, "building": true, "agent": true, "pickup": true,
	"point": true, "parcel": true, "shop": true, "store": true, "customer": true, "recipient": true,
	"resident": true, "household": true, "member": true, "the": true, "a": true, "an": true, "at": true,
	"in": true, "on": true, "of": true, "and": true, "for": true, "to": true, "by": true, "with": true,
	"address": true, "consignee": true, "shipper": true, "warehouse": true, "dock": true, "gate": true,
	"staff": true, "employee": true, "driver": true, "courier": true, "carrier": true, "hub": true,
	"facility": true, "depot": true, "station": true, "terminal": true, "yes": true, "no": true, "n": true,
	"unknown": true, "none": true, "signature": true, "not": true, "required": true, "safe": true,
	"place": true, "lobby": true, "porter": true, "loading": true, "bay": true, "post": true, "box": true,
	"customs": true, "broker": true, "sender": true, "origin": true, "destination": true, "later": true,
}

func (r *Redactor) redactCuedNames(s string) string {
	locs := cueRE.FindAllStringIndex(s, -1)
	if len(locs) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, l := range locs {
		if l[1] < last {
			continue
		}
		rest := s[l[1]:]
		end := 0
		words := 0
		for words < 3 {
			m := nameWordRE.FindString(rest[end:])
			if m == "" {
				break
			}
			w := strings.ToLower(strings.Trim(m, ".-'’"))
			if notNames[w] {
				break
			}
			end += len(m)
			words++
			sp := len(rest[end:]) - len(strings.TrimLeft(rest[end:], " \t"))
			if sp == 0 || sp > 2 {
				break
			}
			if next := nameWordRE.FindString(rest[end+sp:]); next == "" || notNames[strings.ToLower(strings.Trim(next, ".-'’"))] {
				break
			}
			end += sp
		}
		if words == 0 {
			continue
		}
		name := strings.TrimRight(rest[:end], " \t")
		ph := r.placeholderFor("PERSON", foldString(name), name)
		b.WriteString(s[last:l[1]])
		b.WriteString(ph)
		last = l[1] + len(name)
	}
	b.WriteString(s[last:])
	return b.String()
}

// collapsePlaceholders merges a placeholder repeated with only spaces or
// punctuation between ("[CUSTOMER] [CUSTOMER]" from a name matched part by
// part, "[ADDRESS_1], [ADDRESS_1]" from street and zip).
func collapsePlaceholders(s string) string {
	locs := placeholderRE.FindAllStringIndex(s, -1)
	if len(locs) < 2 {
		return s
	}
	var b strings.Builder
	last := 0
	prev := ""
	prevEnd := -1
	for _, l := range locs {
		ph := s[l[0]:l[1]]
		if ph == prev && strings.Trim(s[prevEnd:l[0]], " ,;\t") == "" {
			last = l[1]
			prevEnd = l[1]
			continue
		}
		b.WriteString(s[last:l[0]])
		b.WriteString(ph)
		last = l[1]
		prev, prevEnd = ph, l[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// tail returns at most the last n bytes of s, cut at a rune boundary.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := len(s) - n
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return s[i:]
}
