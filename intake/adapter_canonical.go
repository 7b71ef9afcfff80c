package intake

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/yardmaster/yardmaster/internal/apperr"
)

// CanonicalInput is one event in our canonical JSON (ARCHITECTURE §8): the
// body of POST /api/v1/events items, of Standard Webhooks deliveries and of
// JSONL/CSV import lines.
type CanonicalInput struct {
	SourceEventID     string          `json:"source_event_id,omitempty"`
	Carrier           string          `json:"carrier"`
	TrackingNumber    string          `json:"tracking_number"`
	Status            string          `json:"status,omitempty"`
	Reason            string          `json:"reason,omitempty"`
	OccurredAt        string          `json:"occurred_at"`
	Location          *InputLocation  `json:"location,omitempty"`
	EstimatedDelivery string          `json:"estimated_delivery,omitempty"`
	PromisedDelivery  string          `json:"promised_delivery,omitempty"`
	OrderRef          string          `json:"order_ref,omitempty"`
	PickingRef        string          `json:"picking_ref,omitempty"`
	RawCode           string          `json:"raw_code,omitempty"`
	RawCodeTable      string          `json:"raw_code_table,omitempty"`
	RawText           string          `json:"raw_text,omitempty"`
	Attributes        json.RawMessage `json:"attributes,omitempty" jsonschema:"type=object"`
}

// InputLocation is the location object of CanonicalInput.
type InputLocation struct {
	City       string `json:"city,omitempty"`
	Region     string `json:"region,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Country    string `json:"country,omitempty"`
}

// Limits of canonical input.
const (
	MaxBatchItems    = 1000
	maxIDLen         = 200
	maxShortLen      = 64
	maxTextLen       = 2000
	maxAttributesLen = 16 << 10
)

var (
	canonicalFields = map[string]bool{
		"source_event_id": true, "carrier": true, "tracking_number": true, "status": true, "reason": true,
		"occurred_at": true, "location": true, "estimated_delivery": true, "promised_delivery": true,
		"order_ref": true, "picking_ref": true, "raw_code": true, "raw_code_table": true, "raw_text": true,
		"attributes": true,
	}
	locationFields = map[string]bool{"city": true, "region": true, "postal_code": true, "country": true}
	carrierRe      = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)
	trackingRe     = regexp.MustCompile(`^[A-Z0-9\-_./]{3,64}$`)
)

// decodeCanonicalObject decodes one JSON object strictly: unknown fields and
// wrong types are field errors with their path (prefix + name).
func decodeCanonicalObject(raw json.RawMessage, prefix string) (*CanonicalInput, []apperr.FieldError) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, []apperr.FieldError{fieldErr(strings.TrimSuffix(prefix, "."), "must be a JSON object")}
	}
	var errs []apperr.FieldError
	in := &CanonicalInput{}
	strField := func(name string, dst *string) {
		v, ok := fields[name]
		if !ok || string(v) == "null" {
			return
		}
		if err := json.Unmarshal(v, dst); err != nil {
			errs = append(errs, fieldErr(prefix+name, "must be a string"))
		}
	}
	for name := range fields {
		if !canonicalFields[name] {
			errs = append(errs, fieldErr(prefix+name, "unknown field"))
		}
	}
	strField("source_event_id", &in.SourceEventID)
	strField("carrier", &in.Carrier)
	strField("tracking_number", &in.TrackingNumber)
	strField("status", &in.Status)
	strField("reason", &in.Reason)
	strField("occurred_at", &in.OccurredAt)
	strField("estimated_delivery", &in.EstimatedDelivery)
	strField("promised_delivery", &in.PromisedDelivery)
	strField("order_ref", &in.OrderRef)
	strField("picking_ref", &in.PickingRef)
	strField("raw_code", &in.RawCode)
	strField("raw_code_table", &in.RawCodeTable)
	strField("raw_text", &in.RawText)
	if v, ok := fields["location"]; ok && string(v) != "null" {
		var lf map[string]json.RawMessage
		if err := json.Unmarshal(v, &lf); err != nil || lf == nil {
			errs = append(errs, fieldErr(prefix+"location", "must be an object"))
		} else {
			in.Location = &InputLocation{}
			for name, lv := range lf {
				if !locationFields[name] {
					errs = append(errs, fieldErr(prefix+"location."+name, "unknown field"))
					continue
				}
				var s string
				if string(lv) == "null" {
					continue
				}
				if err := json.Unmarshal(lv, &s); err != nil {
					errs = append(errs, fieldErr(prefix+"location."+name, "must be a string"))
					continue
				}
				switch name {
				case "city":
					in.Location.City = s
				case "region":
					in.Location.Region = s
				case "postal_code":
					in.Location.PostalCode = s
				case "country":
					in.Location.Country = s
				}
			}
		}
	}
	if v, ok := fields["attributes"]; ok && string(v) != "null" {
		t := bytes.TrimSpace(v)
		if len(t) == 0 || t[0] != '{' {
			errs = append(errs, fieldErr(prefix+"attributes", "must be an object"))
		} else {
			in.Attributes = v
		}
	}
	return in, errs
}

// Event validates the input and builds the (not yet normalised) event. now
// bounds occurred_at; source is the source the caller authenticated as.
func (in *CanonicalInput) Event(source string, now time.Time, prefix string) (*Event, []apperr.FieldError) {
	var errs []apperr.FieldError
	add := func(field, format string, args ...any) { errs = append(errs, fieldErr(prefix+field, format, args...)) }
	text := func(field, v string, max int) string {
		v = strings.TrimSpace(v)
		if len(v) > max {
			add(field, "is longer than %d bytes", max)
		}
		if strings.IndexFunc(v, func(r rune) bool { return unicode.IsControl(r) && r != '\t' }) >= 0 {
			add(field, "contains control characters")
		}
		return v
	}
	ev := &Event{Source: source, ReceivedAt: now}
	ev.SourceEventID = text("source_event_id", in.SourceEventID, maxIDLen)
	ev.Carrier = NormalizeCarrier(text("carrier", in.Carrier, maxShortLen))
	switch {
	case ev.Carrier == "":
		add("carrier", "is required")
	case !carrierRe.MatchString(ev.Carrier):
		add("carrier", "must be a carrier slug of letters, digits and underscores (e.g. fedex, ups, dhl_express)")
	}
	ev.TrackingNumber = NormalizeTracking(text("tracking_number", in.TrackingNumber, maxShortLen))
	switch {
	case ev.TrackingNumber == "":
		add("tracking_number", "is required")
	case !trackingRe.MatchString(ev.TrackingNumber):
		add("tracking_number", "must be 3 to 64 letters, digits or - _ . /")
	}
	if s := strings.TrimSpace(in.Status); s != "" {
		ev.Status = Status(s)
		if !ev.Status.Valid() {
			add("status", "unknown status %q; want one of pending, info_received, picked_up, in_transit, out_for_delivery, available_for_pickup, delivery_attempted, returning, delivered, returned, cancelled, failed", s)
		}
	}
	if r := strings.TrimSpace(in.Reason); r != "" {
		if _, ok := DefaultMappings().Reason(Reason(r)); !ok {
			add("reason", "unknown reason %q (see GET /api/v1/vocabulary)", r)
		} else {
			ev.Exception = &Exception{Reason: Reason(r)}
		}
	}
	if strings.TrimSpace(in.OccurredAt) == "" {
		add("occurred_at", "is required")
	} else if at, tzKnown, local, err := ParseEventTime(in.OccurredAt); err != nil {
		add("occurred_at", "%v", err)
	} else if err := checkEventTime(at, now); err != nil {
		add("occurred_at", "%v", err)
	} else {
		ev.OccurredAt, ev.TZKnown, ev.OccurredLocal = at, tzKnown, local
	}
	if l := in.Location; l != nil {
		ev.Location = location(text("location.city", l.City, maxShortLen*2), text("location.region", l.Region, maxShortLen*2),
			text("location.postal_code", l.PostalCode, maxShortLen), "")
		if c := strings.TrimSpace(l.Country); c != "" {
			cc := Country(c)
			if cc == "" {
				add("location.country", "must be an ISO 3166-1 alpha-2 (or alpha-3) country code")
			} else {
				if ev.Location == nil {
					ev.Location = &Location{}
				}
				ev.Location.Country = cc
			}
		}
	}
	dateField := func(field, v string) *time.Time {
		if strings.TrimSpace(v) == "" {
			return nil
		}
		t, err := ParseDateOrTime(v)
		if err != nil {
			add(field, "%v", err)
			return nil
		}
		return &t
	}
	ev.EstimatedDelivery = dateField("estimated_delivery", in.EstimatedDelivery)
	ev.PromisedDelivery = dateField("promised_delivery", in.PromisedDelivery)
	ev.OrderRef = text("order_ref", in.OrderRef, maxShortLen*2)
	ev.PickingRef = text("picking_ref", in.PickingRef, maxShortLen*2)
	ev.RawText = text("raw_text", in.RawText, maxTextLen)
	code := text("raw_code", in.RawCode, maxShortLen)
	table := text("raw_code_table", in.RawCodeTable, maxShortLen)
	if code != "" {
		if table == "" {
			if t, ok := carrierTables[ev.Carrier]; ok {
				table = t
			} else {
				table = "source:" + source
			}
		}
		ev.Codes = []CodeRef{{Table: table, Code: code}}
	} else if table != "" {
		add("raw_code", "is required when raw_code_table is given")
	}
	if len(in.Attributes) > 0 {
		if len(in.Attributes) > maxAttributesLen {
			add("attributes", "is larger than %d bytes", maxAttributesLen)
		} else {
			var attrs map[string]any
			if err := json.Unmarshal(in.Attributes, &attrs); err != nil {
				add("attributes", "must be an object")
			} else if len(attrs) > 0 {
				ev.Attributes = attrs
			}
		}
	}
	if ev.Status == "" && ev.Exception == nil && code == "" && ev.EstimatedDelivery == nil && ev.PromisedDelivery == nil &&
		len(errs) == 0 {
		add("status", "an event needs at least one of status, reason, raw_code, estimated_delivery or promised_delivery")
	}
	if ev.Status == "" && ev.Exception == nil && code == "" {
		ev.Activity = "eta_update"
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return ev, nil
}

// ParseCanonical reads canonical events from a request body: one JSON
// object, a JSON array of objects, or NDJSON (one object per line) when
// ndjson is set. A Standard Webhooks envelope {"type", "timestamp", "data"}
// is unwrapped. Invalid items are rejected one by one; the call fails only
// when the body as a whole cannot be read or holds no valid item.
func ParseCanonical(body []byte, ndjson bool, source string, now time.Time) (*Parsed, error) {
	p := &Parsed{}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, apperr.Invalid("empty body", fieldErr("(root)", "want a JSON object, an array of objects, or NDJSON"))
	}
	if ndjson {
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		line, idx := 0, 0
		for sc.Scan() {
			line++
			b := bytes.TrimSpace(sc.Bytes())
			if len(b) == 0 {
				continue
			}
			if idx >= MaxBatchItems {
				return nil, apperr.Invalid(fmt.Sprintf("a batch holds at most %d events", MaxBatchItems))
			}
			p.addItem(json.RawMessage(bytes.Clone(b)), idx, line, "", source, now)
			idx++
		}
		if err := sc.Err(); err != nil {
			return nil, apperr.BadRequest("read NDJSON: "+err.Error(), err)
		}
		return p.finish(idx, false)
	}
	switch body[0] {
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(body, &items); err != nil {
			return nil, syntaxError(err)
		}
		if len(items) > MaxBatchItems {
			return nil, apperr.Invalid(fmt.Sprintf("a batch holds at most %d events, got %d", MaxBatchItems, len(items)))
		}
		for i, it := range items {
			p.addItem(it, i, 0, fmt.Sprintf("[%d].", i), source, now)
		}
		return p.finish(len(items), false)
	case '{':
		if !json.Valid(body) {
			var v any
			return nil, syntaxError(json.Unmarshal(body, &v))
		}
		var env struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		if json.Unmarshal(body, &env) == nil && env.Type != "" && len(env.Data) > 0 {
			inner, err := ParseCanonical(env.Data, false, source, now)
			if err != nil {
				return nil, err
			}
			for i := range inner.Rejects {
				for j := range inner.Rejects[i].Errors {
					inner.Rejects[i].Errors[j].Field = "data." + strings.TrimPrefix(inner.Rejects[i].Errors[j].Field, ".")
				}
			}
			return inner, nil
		}
		p.addItem(body, 0, 0, "", source, now)
		return p.finish(1, true)
	}
	return nil, apperr.BadRequest("body must be a JSON object, an array of objects, or NDJSON", nil)
}

func (p *Parsed) addItem(raw json.RawMessage, idx, line int, prefix, source string, now time.Time) {
	in, errs := decodeCanonicalObject(raw, prefix)
	if len(errs) == 0 {
		var ev *Event
		ev, errs = in.Event(source, now, prefix)
		if len(errs) == 0 {
			p.Events = append(p.Events, ev)
			return
		}
	}
	p.Rejects = append(p.Rejects, ItemError{Index: idx, Line: line, Errors: errs})
}

// finish turns a delivery whose every item failed into one 422 (single is
// a lone object: its errors are the request's errors).
func (p *Parsed) finish(n int, single bool) (*Parsed, error) {
	if n == 0 {
		return nil, apperr.Invalid("the batch is empty")
	}
	if len(p.Events) == 0 {
		var all []apperr.FieldError
		for _, r := range p.Rejects {
			for _, e := range r.Errors {
				if r.Line > 0 {
					e.Field = fmt.Sprintf("line %d: %s", r.Line, e.Field)
				}
				all = append(all, e)
			}
		}
		if single {
			return nil, apperr.Invalid("the event is invalid", all...)
		}
		return nil, apperr.Invalid("no event of the batch is valid", all...)
	}
	return p, nil
}

// readLine reads one line of at most max bytes; longer lines are consumed
// and reported as too long, so one bad line never stops a file.
func readLine(r *bufio.Reader, max int) ([]byte, bool, error) {
	var buf []byte
	tooLong := false
	for {
		frag, err := r.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(frag) > max {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, frag...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && (len(buf) > 0 || tooLong) {
			return buf, tooLong, nil
		}
		return buf, tooLong, err
	}
}
