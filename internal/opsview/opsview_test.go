package opsview_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/opsview"
	"github.com/yardmaster/yardmaster/internal/secretbox"
	"github.com/yardmaster/yardmaster/internal/testenv"
)

var t0 = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)

// post sends canonical events through the intake service, as the events
// API does, at the given receive time.
type poster struct {
	t   *testing.T
	svc *intake.Service
	now *time.Time
}

func (p *poster) post(received time.Time, evs ...map[string]any) {
	p.t.Helper()
	*p.now = received
	var buf bytes.Buffer
	for _, e := range evs {
		if err := json.NewEncoder(&buf).Encode(e); err != nil {
			p.t.Fatal(err)
		}
	}
	h := http.Header{}
	h.Set("Content-Type", "application/x-ndjson")
	if _, err := p.svc.EventsFor(context.Background(), "feed", h, buf.Bytes()); err != nil {
		p.t.Fatal(err)
	}
}

func newIntake(t *testing.T, d *db.DB) *poster {
	t.Helper()
	key, err := secretbox.ParseKey(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	now := new(time.Time)
	*now = t0
	clock := func() time.Time { return *now }
	svc := intake.NewService(d, intake.NewRegistry(d, box, clock), intake.ServiceOptions{Now: clock, DefaultRate: 1000})
	t.Cleanup(svc.Close)
	if _, err := svc.Registry.Add(context.Background(), intake.AddSource{Name: "feed", Kind: intake.KindCanonical}); err != nil {
		t.Fatal(err)
	}
	return &poster{t: t, svc: svc, now: now}
}

func ev(tn, carrier, status, reason string, at time.Time, extra map[string]any) map[string]any {
	m := map[string]any{"source_event_id": tn + status + reason + at.Format(time.RFC3339), "carrier": carrier, "tracking_number": tn,
		"occurred_at": at.Format(time.RFC3339)}
	if status != "" {
		m["status"] = status
	}
	if reason != "" {
		m["reason"] = reason
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestScorecardsAndLag(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		p := newIntake(t, d)
		us := map[string]any{"location": map[string]string{"country": "US"}}
		de := map[string]any{"location": map[string]string{"country": "DE"}}
		promised := map[string]any{"promised_delivery": "2026-11-22T00:00:00Z"}
		// UPS 1: picked up, delivered on the promised day (on time), 2 days transit.
		p.post(t0.Add(10*time.Minute), ev("1ZA", "ups", "picked_up", "", t0, merge(us, promised)))
		p.post(t0.Add(48*time.Hour+5*time.Minute), ev("1ZA", "ups", "delivered", "", t0.Add(48*time.Hour), merge(us, promised)))
		// UPS 2: picked up, damaged, delivered late.
		p.post(t0.Add(2*time.Hour), ev("1ZB", "ups", "picked_up", "", t0.Add(time.Hour), merge(us, promised)))
		p.post(t0.Add(30*time.Hour), ev("1ZB", "ups", "", "damaged", t0.Add(29*time.Hour), us))
		p.post(t0.Add(80*time.Hour), ev("1ZB", "ups", "delivered", "", t0.Add(79*time.Hour), merge(us, promised)))
		// FedEx 1: picked up in DE, still in transit.
		p.post(t0.Add(3*time.Hour), ev("770", "fedex", "picked_up", "", t0.Add(time.Hour), de))

		now := t0.Add(100 * time.Hour)
		sc, err := opsview.Compute(context.Background(), d.Read, t0.Add(-24*time.Hour), now)
		if err != nil {
			t.Fatal(err)
		}
		if sc.Total.Shipments != 3 || sc.Total.Delivered != 2 || sc.Total.WithException != 1 {
			t.Fatalf("total %+v", sc.Total)
		}
		byCarrier := map[string]opsview.Scorecard{}
		for _, c := range sc.Carriers {
			byCarrier[c.Carrier] = c
		}
		ups := byCarrier["ups"]
		if ups.OnTime != 1 || ups.OnTimeKnown != 2 || ups.OnTimeRate() != 0.5 {
			t.Errorf("ups on time %d of %d", ups.OnTime, ups.OnTimeKnown)
		}
		if ups.ExceptionRate() != 0.5 || len(ups.Reasons) != 1 || ups.Reasons[0].Reason != "damaged" {
			t.Errorf("ups exceptions %v rate %v", ups.Reasons, ups.ExceptionRate())
		}
		if ups.TransitP50 != 48*time.Hour || ups.TransitP90 != 78*time.Hour {
			t.Errorf("ups transit p50 %v p90 %v", ups.TransitP50, ups.TransitP90)
		}
		fx := byCarrier["fedex"]
		if fx.Delivered != 0 || fx.DwellP50 != 99*time.Hour || fx.OnTimeRate() != -1 {
			t.Errorf("fedex %+v", fx)
		}
		if sc.Carriers[0].Carrier != "ups" {
			t.Errorf("carriers not by volume: %v", sc.Carriers[0].Carrier)
		}
		var days int
		for _, dd := range ups.Days {
			days += dd.Delivered
		}
		if days != 2 || len(ups.Days) != 6 {
			t.Errorf("ups days: %d deliveries over %d days", days, len(ups.Days))
		}

		lag, err := opsview.EventLag(context.Background(), d.Read, t0.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(lag) != 1 || lag[0].Source != "feed" || lag[0].Events != 6 {
			t.Fatalf("lag %+v", lag)
		}
		if lag[0].Max != 2*time.Hour || lag[0].P50 < 5*time.Minute {
			t.Errorf("lag p50 %v max %v", lag[0].P50, lag[0].Max)
		}
		dl, err := opsview.RecentDeliveries(context.Background(), d.Read, "feed", 10)
		if err != nil || len(dl) != 6 || dl[0].Outcome() != "accepted" {
			t.Errorf("deliveries %+v %v", dl, err)
		}

		// The cache computes once and serves the result until it is stale.
		clock := now
		r := opsview.NewReports(d.Read, func() time.Time { return clock }, nil)
		r.Window = 10 * 24 * time.Hour
		first, err := r.Scorecards(context.Background())
		if err != nil || first.Total.Shipments != 3 {
			t.Fatalf("cached scorecards %+v %v", first, err)
		}
		again, _ := r.Scorecards(context.Background())
		if again != first {
			t.Error("fresh cache recomputed")
		}
	})
}

func merge(ms ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
