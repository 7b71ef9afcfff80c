package intake

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/internal/apperr"
)

var pnow = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

func fieldsOf(err error) []string {
	e, ok := apperr.As(err)
	if !ok {
		return nil
	}
	var out []string
	for _, f := range e.Fields {
		out = append(out, f.Field)
	}
	return out
}

func TestParseCanonical(t *testing.T) {
	good := `{"source_event_id":"e1","carrier":"FedEx","tracking_number":"7729 4512","status":"in_transit","occurred_at":"2026-03-01T10:00:00+01:00","location":{"city":"Lyon","country":"FRA"},"attributes":{"dock":"B"}}`
	cases := []struct {
		name       string
		body       string
		ndjson     bool
		events     int
		rejects    int
		kind       apperr.Kind // 0 = no error
		wantFields []string
	}{
		{"object", good, false, 1, 0, 0, nil},
		{"array with a bad item", `[` + good + `,{"carrier":"ups","tracking_number":"1Z1","occurred_at":"nope","status":"in_transit"}]`, false, 1, 1, 0, nil},
		{"ndjson", good + "\n\n" + strings.Replace(good, "e1", "e2", 1) + "\n", true, 2, 0, 0, nil},
		{"unknown field named", `{"carrier":"ups","tracking_number":"1Z1","occurred_at":"2026-03-01T10:00:00Z","status":"in_transit","colour":"red"}`, false, 0, 0, apperr.KindInvalid, []string{"colour"}},
		{"unknown location field", `{"carrier":"ups","tracking_number":"1Z1","occurred_at":"2026-03-01T10:00:00Z","status":"in_transit","location":{"lat":1}}`, false, 0, 0, apperr.KindInvalid, []string{"location.lat"}},
		{"wrong type", `{"carrier":"ups","tracking_number":1,"occurred_at":"2026-03-01T10:00:00Z","status":"in_transit"}`, false, 0, 0, apperr.KindInvalid, []string{"tracking_number"}},
		{"bad status and country", `{"carrier":"ups","tracking_number":"1Z1","occurred_at":"2026-03-01T10:00:00Z","status":"teleported","location":{"country":"XX"}}`, false, 0, 0, apperr.KindInvalid, []string{"status", "location.country"}},
		{"missing required", `{"status":"in_transit"}`, false, 0, 0, apperr.KindInvalid, []string{"carrier", "tracking_number", "occurred_at"}},
		{"no information", `{"carrier":"ups","tracking_number":"1Z1","occurred_at":"2026-03-01T10:00:00Z"}`, false, 0, 0, apperr.KindInvalid, []string{"status"}},
		{"future", `{"carrier":"ups","tracking_number":"1Z1","occurred_at":"2026-03-09T10:00:00Z","status":"delivered"}`, false, 0, 0, apperr.KindInvalid, []string{"occurred_at"}},
		{"array all bad has paths", `[{"carrier":"ups"}]`, false, 0, 0, apperr.KindInvalid, []string{"[0].tracking_number", "[0].occurred_at"}},
		{"malformed", `{"carrier":`, false, 0, 0, apperr.KindBadRequest, nil},
		{"empty array", `[]`, false, 0, 0, apperr.KindInvalid, nil},
		{"standard webhooks envelope", `{"type":"shipment.event","timestamp":"2026-03-01T10:00:00Z","data":` + good + `}`, false, 1, 0, 0, nil},
		{"raw code only", `{"carrier":"fedex","tracking_number":"7729","occurred_at":"2026-03-01T10:00:00","raw_code":"DL"}`, false, 1, 0, 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParseCanonical([]byte(c.body), c.ndjson, "src", pnow)
			if c.kind != 0 {
				if apperr.KindOf(err) != c.kind {
					t.Fatalf("want %v, got %v", c.kind, err)
				}
				got := fieldsOf(err)
				for _, f := range c.wantFields {
					if !contains(got, f) {
						t.Errorf("field %q not reported in %v", f, got)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Events) != c.events || len(p.Rejects) != c.rejects {
				t.Fatalf("events %d rejects %+v", len(p.Events), p.Rejects)
			}
		})
	}
	p, _ := ParseCanonical([]byte(good), false, "src", pnow)
	ev := p.Events[0]
	DefaultMappings().Normalize(ev, nil)
	if ev.Carrier != "fedex" || ev.TrackingNumber != "77294512" || ev.Location.Country != "FR" || !ev.TZKnown ||
		!ev.OccurredAt.Equal(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)) || ev.Attributes["dock"] != "B" || ev.DedupKey != "id:e1" {
		t.Fatalf("event %+v", ev)
	}
	p, _ = ParseCanonical([]byte(`{"carrier":"fedex","tracking_number":"7729","occurred_at":"2026-03-01T10:00:00","raw_code":"DL"}`), false, "src", pnow)
	ev = p.Events[0]
	DefaultMappings().Normalize(ev, nil)
	if ev.Status != StatusDelivered || ev.TZKnown || ev.OccurredLocal == "" || !strings.HasPrefix(ev.DedupKey, "h:") {
		t.Fatalf("raw-code event %+v", ev)
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func TestParseProviderErrors(t *testing.T) {
	cases := []struct {
		name string
		kind Kind
		body string
		want apperr.Kind
	}{
		{"aftership not json", KindAfterShip, `nope`, apperr.KindBadRequest},
		{"aftership no msg", KindAfterShip, `{"event":"tracking_update"}`, apperr.KindInvalid},
		{"aftership no slug", KindAfterShip, `{"event":"tracking_update","msg":{"tracking_number":"1"}}`, apperr.KindInvalid},
		{"aftership msg wrong type", KindAfterShip, `{"event":"tracking_update","msg":[]}`, apperr.KindInvalid},
		{"aftership all checkpoints bad", KindAfterShip, `{"event":"tracking_update","msg":{"slug":"ups","tracking_number":"1Z","checkpoints":[{"tag":"InTransit","checkpoint_time":"yesterday"}]}}`, apperr.KindInvalid},
		{"easypost no description", KindEasyPost, `{"id":"evt_1"}`, apperr.KindInvalid},
		{"easypost no result", KindEasyPost, `{"id":"evt_1","description":"tracker.updated"}`, apperr.KindInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseBody(c.kind, []byte(c.body), false, "s", pnow)
			if apperr.KindOf(err) != c.want {
				t.Fatalf("want %v, got %v", c.want, err)
			}
		})
	}
	p, err := ParseBody(KindEasyPost, []byte(`{"id":"evt_1","description":"batch.updated"}`), false, "s", pnow)
	if err != nil || p.Ignored == "" || len(p.Events) != 0 {
		t.Fatalf("ignored event: %+v %v", p, err)
	}
}

func TestImportReaders(t *testing.T) {
	now := func() time.Time { return pnow }
	jsonl := `{"carrier":"ups","tracking_number":"1Z1","occurred_at":"2026-03-01T10:00:00Z","status":"picked_up"}

not json
{"carrier":"ups","tracking_number":"1Z1","occurred_at":"2026-03-01T11:00:00Z","status":"warp"}
{"carrier":"ups","tracking_number":"1Z1","occurred_at":"2026-03-01T12:00:00Z","raw_code":"005","raw_code_table":"ups.status_code"}`
	items := drain(t, NewJSONLReader(strings.NewReader(jsonl), "s", now))
	if len(items) != 4 {
		t.Fatalf("items %d", len(items))
	}
	wantLines := []int{1, 3, 4, 5}
	for i, it := range items {
		if it.Line != wantLines[i] {
			t.Errorf("item %d line %d, want %d", i, it.Line, wantLines[i])
		}
	}
	if items[0].Event == nil || items[1].Errors == nil || items[2].Errors == nil || items[3].Event == nil {
		t.Fatalf("items %+v", items)
	}

	csvIn := "Carrier,Tracking No,occurred_at,status,country,attr.dock,Notes\n" +
		"ups,1Z9,2026-03-01T10:00:00Z,in_transit,DE,B7,x\n" +
		"ups,1Z9,2026-03-01T11:00:00Z,bogus,DE,,y\n" +
		"ups,1Z9\n" +
		"\"ups,1Z9,2026-03-01T12:00:00Z,delivered,DE,,z\n"
	r, err := NewCSVReader(strings.NewReader(csvIn), "s", now, map[string]string{"Tracking No": "tracking_number"}, []string{"notes"})
	if err != nil {
		t.Fatal(err)
	}
	items = drain(t, r)
	if len(items) != 4 {
		t.Fatalf("csv items %d: %+v", len(items), items)
	}
	if items[0].Event == nil || items[0].Event.Location.Country != "DE" || items[0].Event.Attributes["dock"] != "B7" {
		t.Fatalf("csv item 0 %+v", items[0])
	}
	if items[1].Line != 3 || items[1].Errors == nil || items[2].Line != 4 || items[2].Errors == nil || items[3].Errors == nil {
		t.Fatalf("csv rejects %+v", items[1:])
	}
	if _, err := NewCSVReader(strings.NewReader("carrier,tracking,occurred_at\n"), "s", now, nil, nil); err == nil || !strings.Contains(err.Error(), "tracking") {
		t.Fatalf("unknown column: %v", err)
	}
}

func drain(t *testing.T, r ItemReader) []ImportItem {
	t.Helper()
	var out []ImportItem
	for {
		it, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, it)
	}
}
