package intake

import (
	"fmt"
	"strings"
	"time"
)

// ParseBody reads a delivery's body according to the source kind. For the
// canonical and standard kinds, ndjson selects NDJSON (content type
// application/x-ndjson). The events are not yet normalised.
func ParseBody(kind Kind, body []byte, ndjson bool, source string, now time.Time) (*Parsed, error) {
	switch kind {
	case KindAfterShip:
		return ParseAfterShip(body, source, now)
	case KindEasyPost:
		return ParseEasyPost(body, source, now)
	case KindStandard, KindCanonical:
		return ParseCanonical(body, ndjson, source, now)
	}
	return nil, fmt.Errorf("parse: unknown source kind %q", kind)
}

// IsNDJSON reports whether a content type announces NDJSON/JSON Lines.
func IsNDJSON(contentType string) bool {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	return ct == "application/x-ndjson" || ct == "application/ndjson" || ct == "application/jsonl" || ct == "application/x-jsonlines"
}

// IsJSON reports whether a content type is JSON (application/json or a
// +json suffix).
func IsJSON(contentType string) bool {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	return ct == "application/json" || strings.HasSuffix(ct, "+json")
}
