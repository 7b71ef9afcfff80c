package intake

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
)

// checkParsed asserts what every successful parse guarantees, then runs the
// events through normalisation and the state machine.
func checkParsed(t *testing.T, p *Parsed, err error) {
	t.Helper()
	if err != nil {
		return
	}
	var s *Shipment
	for _, ev := range p.Events {
		if ev.Carrier == "" || ev.TrackingNumber == "" || ev.OccurredAt.IsZero() {
			t.Fatalf("incomplete event %+v", ev)
		}
		DefaultMappings().Normalize(ev, nil)
		if ev.DedupKey == "" || (ev.Status != "" && !ev.Status.Valid()) {
			t.Fatalf("bad normalised event %+v", ev)
		}
		if s == nil {
			s = NewShipment("s", ev, 1)
		}
		s.Apply(ev, pnow)
	}
}

func FuzzParseAfterShip(f *testing.F) {
	f.Add([]byte(`{"event":"tracking_update","event_id":"x","ts":1,"msg":{"slug":"fedex","tracking_number":"1","checkpoints":[{"checkpoint_time":"2026-01-01T00:00:00","tag":"InTransit","raw_tag":"DP"}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParseAfterShip(body, "s", pnow)
		checkParsed(t, p, err)
	})
}

func FuzzParseEasyPost(f *testing.F) {
	f.Add([]byte(`{"id":"evt_1","description":"tracker.updated","result":{"tracking_code":"1","carrier":"FedEx","tracking_details":[{"datetime":"2026-01-01T00:00:00Z","status":"failure","status_detail":"delayed","carrier_code":"DE","message":"Customer not available"}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParseEasyPost(body, "s", pnow)
		checkParsed(t, p, err)
	})
}

func FuzzParseCanonical(f *testing.F) {
	f.Add([]byte(`{"carrier":"ups","tracking_number":"1Z1","occurred_at":"2026-03-01T10:00:00Z","status":"in_transit"}`), false)
	f.Add([]byte(`[{"carrier":"ups","tracking_number":"1Z1","occurred_at":"2026-03-01T10:00:00Z","raw_code":"003","raw_code_table":"ups.status_code"}]`), false)
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		p, err := ParseCanonical(body, ndjson, "s", pnow)
		checkParsed(t, p, err)
	})
}

func drainFuzz(t *testing.T, r ItemReader) {
	t.Helper()
	prev := 0
	for i := 0; ; i++ {
		it, err := r.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			return
		}
		if it.Event == nil && len(it.Errors) == 0 {
			t.Fatalf("item without event or errors at line %d", it.Line)
		}
		if it.Line < prev {
			t.Fatalf("line numbers go backwards: %d after %d", it.Line, prev)
		}
		prev = it.Line
		if i > 100000 {
			t.Fatal("reader does not end")
		}
	}
}

func FuzzImportJSONL(f *testing.F) {
	f.Add([]byte("{\"carrier\":\"ups\",\"tracking_number\":\"1Z1\",\"occurred_at\":\"2026-03-01T10:00:00Z\",\"status\":\"in_transit\"}\n\nx\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		drainFuzz(t, NewJSONLReader(bytes.NewReader(data), "s", func() time.Time { return pnow }))
	})
}

func FuzzImportCSV(f *testing.F) {
	f.Add([]byte("carrier,tracking_number,occurred_at,status,attr.x\nups,1Z1,2026-03-01T10:00:00Z,in_transit,1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewCSVReader(bytes.NewReader(data), "s", func() time.Time { return pnow }, nil, nil)
		if err != nil {
			return
		}
		drainFuzz(t, r)
	})
}

func FuzzParseEventTime(f *testing.F) {
	f.Add("2024-05-01T10:11:00")
	f.Add("2024-05-01T10:11:00+08:00")
	f.Fuzz(func(t *testing.T, s string) {
		tm, known, local, err := ParseEventTime(s)
		if err == nil && !known && local == "" {
			t.Fatalf("local time without the original string: %v", tm)
		}
	})
}

func FuzzVerifyStandard(f *testing.F) {
	f.Add("msg_1", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", []byte(`{"test": 2432232314}`))
	v, err := NewVerifier(KindStandard, []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := hdr("webhook-id", id, "webhook-timestamp", ts, "webhook-signature", sig)
		_, _ = v.Verify(h, body, time.Unix(1614265330, 0))
	})
}

// FuzzShipmentApply folds arbitrary event sequences (each 3 bytes: status,
// reason, hour) and checks the state's invariants.
func FuzzShipmentApply(f *testing.F) {
	f.Add([]byte{3, 0, 1, 8, 5, 2, 6, 0, 9, 7, 0, 3, 2, 9, 10})
	statuses := append([]Status{""}, StatusPending, StatusInfoReceived, StatusPickedUp, StatusInTransit, StatusOutForDelivery,
		StatusAvailableForPickup, StatusDeliveryAttempted, StatusReturning, StatusDelivered, StatusReturned, StatusCancelled, StatusFailed)
	reasons := DefaultMappings().Reasons()
	f.Fuzz(func(t *testing.T, data []byte) {
		var s *Shipment
		for i := 0; i+2 < len(data) && i < 300; i += 3 {
			st := statuses[int(data[i])%len(statuses)]
			var reason Reason
			if r := int(data[i+1]) % (len(reasons) + 1); r > 0 {
				reason = reasons[r-1].Code
			}
			ev := &Event{Source: "s", Carrier: "ups", TrackingNumber: "1Z", Status: st, OccurredAt: t0.Add(time.Duration(data[i+2]) * time.Hour), TZKnown: true}
			if reason != "" {
				ev.Exception = &Exception{Reason: reason}
			}
			DefaultMappings().Normalize(ev, nil)
			if s == nil {
				s = NewShipment("s", ev, 1)
			}
			prevRank := s.Status.Rank()
			c := s.Apply(ev, pnow)
			if s.Status != "" && !s.Status.Valid() {
				t.Fatalf("invalid status %q", s.Status)
			}
			if c.StatusChanged && s.Status.Rank() < prevRank && !s.Status.regressionAllowed() && !c.Reopened {
				t.Fatalf("milestone regressed from rank %d to %q without an allowed reason", prevRank, s.Status)
			}
			seen := map[Reason]bool{}
			for _, o := range s.OpenExceptions {
				if seen[o.Reason] {
					t.Fatalf("reason %s open twice", o.Reason)
				}
				seen[o.Reason] = true
			}
			if len(s.ClosedExceptions) > maxClosedExceptions || len(s.EDDHistory) > maxEDDHistory {
				t.Fatal("histories exceed their bounds")
			}
		}
	})
}
