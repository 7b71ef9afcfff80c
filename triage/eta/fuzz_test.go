package eta

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// FuzzLoadHistory: any bytes either load or fail with ErrInvalidData; never
// a panic, and every loaded record has both dates.
func FuzzLoadHistory(f *testing.F) {
	m, err := ParseMapping([]byte(miniMapping))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("id,promised,delivered,mode,country,value,po,order\r1,2-Jun-06,3-Jun-06,Air,KE,1,5/30/06,A\r"))
	f.Add([]byte("\ufeffid,promised,delivered,mode,country,value,po,order\n\"1\",2-Jun-06,2-Jun-06,,,x,,\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := LoadHistory(bytes.NewReader(b), m)
		if err != nil {
			return
		}
		for _, r := range h.Records {
			if r.Promised.IsZero() || r.Actual.IsZero() || len(r.Cat) != 2 || len(r.Num) != 3 {
				t.Fatalf("bad record %+v", r)
			}
		}
	})
}

// FuzzParseMapping: a mapping either validates or is rejected as invalid.
func FuzzParseMapping(f *testing.F) {
	f.Add([]byte(miniMapping))
	b, _ := presets.ReadFile("presets/scms.yaml")
	f.Add(b)
	f.Add([]byte(`{"promised":"a","actual":"b","date_formats":["2006"],"categorical":["x"],"baseline":["x"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMapping(b)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("parsed mapping does not validate: %v", err)
		}
	})
}

// FuzzUnmarshalLive: stored model bytes either decode to a model that can
// score without panicking, or fail with ErrBadModel.
func FuzzUnmarshalLive(f *testing.F) {
	m, _ := TrainLive(context.Background(), (&Synthetic{Seed: 1}).Completed(500), LiveOptions{Now: trainNow})
	good, _ := m.MarshalBinary()
	f.Add(good)
	f.Add([]byte(liveMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		var lm LiveModel
		if err := lm.UnmarshalBinary(b); err != nil {
			return
		}
		now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		_ = lm.Score(Features{Carrier: "carrier-01", Origin: "AA", Destination: "AB", Service: "express", Now: now, PickedUpAt: now.Add(-time.Hour), Promised: now.Add(24 * time.Hour), OpenExceptions: []string{"weather"}})
	})
}

// FuzzUnmarshalBooking: the same for the booking model.
func FuzzUnmarshalBooking(f *testing.F) {
	mp, _ := ParseMapping([]byte(miniMapping))
	var sb strings.Builder
	sb.WriteString("id,promised,delivered,mode,country,value,po,order\n")
	for i := range 300 {
		late := "2-Jun-06"
		if i%5 == 0 {
			late = "9-Jun-06"
		}
		sb.WriteString(strings.Join([]string{"x", "2-Jun-06", late, []string{"Air", "Truck"}[i%2], "KE", "1", "", ""}, ",") + "\n")
	}
	h, err := LoadHistory(strings.NewReader(sb.String()), mp)
	if err != nil {
		f.Fatal(err)
	}
	bm, err := TrainBooking(context.Background(), h.Records, 0, "mode", CandidateFeatures(h, h.Records), BookingSettings{L2: 1, LevelHalfLifeDays: 30, Features: map[string][]string{"Air": {"country"}, restStratum: {"value"}}}, time.Date(2006, 7, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		f.Fatal(err)
	}
	good, _ := bm.MarshalBinary()
	f.Add(good)
	f.Fuzz(func(t *testing.T, b []byte) {
		var m BookingModel
		if err := m.UnmarshalBinary(b); err != nil {
			return
		}
		_ = m.Score(&h.Records[0])
		_ = m.Score(&Record{})
	})
}
