package intake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/yardmaster/yardmaster/internal/apperr"
)

// Parsed is what one delivery (a webhook, an API request, a file line)
// carries: its provider id, its events before normalisation, and the items
// that were rejected (a batch stores its valid items and reports the rest).
type Parsed struct {
	DeliveryID string
	Events     []*Event
	Rejects    []ItemError
	// Ignored explains a well-formed delivery that carries no shipment
	// events (e.g. an EasyPost batch.updated event).
	Ignored string
}

// ItemError reports one rejected item of a batch. Index counts items from 0;
// Line is the 1-based line of NDJSON/JSONL/CSV input.
type ItemError struct {
	Index  int                 `json:"index"`
	Line   int                 `json:"line,omitempty"`
	Errors []apperr.FieldError `json:"errors"`
}

func fieldErr(field, format string, args ...any) apperr.FieldError {
	return apperr.FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// syntaxError turns a JSON decoding error into a problem with the byte
// offset, so a client can find the fault.
func syntaxError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errorsAs(err, &se):
		return apperr.BadRequest(fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, se.Error()), err)
	case errorsAs(err, &te):
		f := te.Field
		if f == "" {
			f = "(root)"
		}
		return apperr.Invalid("wrong JSON type", fieldErr(f, "must be %s, not %s", jsonTypeName(te.Type.Kind().String()), te.Value))
	}
	return apperr.BadRequest("malformed JSON: "+err.Error(), err)
}

func jsonTypeName(k string) string {
	switch k {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "bool":
		return "a boolean"
	case "ptr", "interface":
		return "a value"
	}
	return "a number"
}

// str is a JSON value read leniently as a string: providers send numbers
// where documentation says strings (UPS codes, postal codes) and null for
// absent values.
type str string

func (s *str) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || string(b) == "null" {
		*s = ""
		return nil
	}
	if b[0] == '"' {
		// Fast path: a plain string without escapes.
		if len(b) >= 2 && b[len(b)-1] == '"' && bytes.IndexByte(b[1:len(b)-1], '\\') < 0 && bytes.IndexByte(b[1:len(b)-1], '"') < 0 && utf8.Valid(b[1:len(b)-1]) {
			*s = str(b[1 : len(b)-1])
			return nil
		}
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = str(v)
		return nil
	}
	if b[0] == '{' || b[0] == '[' {
		return fmt.Errorf("want a string")
	}
	*s = str(strings.TrimSpace(string(b)))
	return nil
}

func (s str) S() string { return strings.TrimSpace(string(s)) }

// location builds a Location, or nil when nothing is known.
func location(city, region, postal, country string) *Location {
	l := Location{City: strings.TrimSpace(city), Region: strings.TrimSpace(region), PostalCode: strings.TrimSpace(postal), Country: Country(country)}
	if l == (Location{}) {
		return nil
	}
	return &l
}

// factsEvent carries shipment-level facts of a provider payload (carrier
// EDD, promised date) as an event of their own, so they are kept even when
// every checkpoint of a re-sent history is a duplicate.
func factsEvent(base Event, at time.Time, edd, promised *time.Time) *Event {
	if edd == nil && promised == nil {
		return nil
	}
	ev := base
	ev.OccurredAt, ev.TZKnown, ev.OccurredLocal = at.UTC(), true, ""
	ev.Activity = "eta_update"
	ev.EstimatedDelivery, ev.PromisedDelivery = edd, promised
	return &ev
}
