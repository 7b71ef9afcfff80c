package eta_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
	"github.com/yardmaster/yardmaster/triage/eta"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)

// lanes: carrier dhl ships DE→FR in 48 h and DE→US in 120 h; 4 h before
// delivery the parcel is out for delivery; every fifth US parcel has a
// weather exception (category external) and takes 36 h longer.
func deliver(t *testing.T, pipe *intake.Pipeline, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		dest, hours := "FR", 48.0
		if i%2 == 1 {
			dest, hours = "US", 120
		}
		weather := dest == "US" && i%5 == 1
		if weather {
			hours += 36
		}
		// a little spread around the lane time, deterministic
		hours += float64(i%7) - 3
		pick := t0.Add(time.Duration(i) * time.Hour)
		tn := fmt.Sprintf("JD%08d", i)
		ev := func(st intake.Status, at time.Time) *intake.Event {
			return &intake.Event{Carrier: "dhl", TrackingNumber: tn, Status: st, OccurredAt: at, TZKnown: true, Physical: true,
				OriginCountry: "DE", DestinationCountry: dest}
		}
		evs := []*intake.Event{ev(intake.StatusPickedUp, pick)}
		if weather {
			w := ev(intake.StatusInTransit, pick.Add(10*time.Hour))
			w.Exception = &intake.Exception{Reason: "weather"}
			evs = append(evs, w)
		}
		end := pick.Add(time.Duration(hours * float64(time.Hour)))
		evs = append(evs, ev(intake.StatusOutForDelivery, end.Add(-4*time.Hour)), ev(intake.StatusDelivered, end))
		for _, e := range evs {
			if _, err := pipe.SubmitEvents(ctx, "test", []*intake.Event{e}); err != nil {
				t.Fatalf("submit %s %s: %v", tn, e.Status, err)
			}
		}
	}
}

func newPipe(t *testing.T, d *db.DB, clk *clock) *intake.Pipeline {
	t.Helper()
	pipe := intake.NewPipeline(d, intake.PipelineOptions{Now: clk.Now, MaxWait: time.Millisecond})
	t.Cleanup(pipe.Close)
	return pipe
}

func TestServiceRetrainStoreScore(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		clk := &clock{t: t0.Add(30 * 24 * time.Hour)}
		pipe := newPipe(t, d, clk)
		svc := eta.NewService(eta.ServiceOptions{DB: d, Now: clk.Now})
		if _, err := svc.Retrain(ctx); !errors.Is(err, eta.ErrNoModel) {
			t.Fatalf("retrain with no deliveries: %v, want ErrNoModel", err)
		}
		if _, err := svc.Score(ctx, &intake.Shipment{Carrier: "dhl"}); !errors.Is(err, eta.ErrNoModel) {
			t.Fatalf("score before training: %v, want ErrNoModel", err)
		}
		deliver(t, pipe, 240)
		// One shipment still in flight is not training data.
		if _, err := pipe.SubmitEvents(ctx, "test", []*intake.Event{{Carrier: "dhl", TrackingNumber: "JDLIVE1", Status: intake.StatusPickedUp,
			OccurredAt: clk.Now().Add(-30 * time.Hour), TZKnown: true, Physical: true, OriginCountry: "DE", DestinationCountry: "FR",
			PromisedDelivery: ptr(clk.Now().Add(24 * time.Hour))}, {Carrier: "dhl", TrackingNumber: "JDLIVE1", Status: intake.StatusInTransit,
			OccurredAt: clk.Now().Add(-2 * time.Hour), TZKnown: true, Physical: true}}); err != nil {
			t.Fatal(err)
		}
		info, err := svc.Retrain(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Shipments != 240 || info.Skipped != 0 || info.Kind != eta.ModelKindLive {
			t.Fatalf("trained %+v, want 240 shipments", info)
		}
		m, got, err := svc.Model(ctx)
		if err != nil || got.ID != info.ID {
			t.Fatalf("model %v %v", got, err)
		}
		// The in-flight parcel: picked up 30 h ago on the 48 h lane, promise
		// in 24 h (so 54 h in all): likely on time; p50 near pickup + 48 h.
		sh, err := intake.Store{}.ListShipments(ctx, d.Read, intake.ShipmentFilter{TrackingNumber: "JDLIVE1"})
		if err != nil || len(sh) != 1 {
			t.Fatalf("in-flight shipment: %v %v", sh, err)
		}
		p, err := svc.Score(ctx, sh[0])
		if err != nil {
			t.Fatal(err)
		}
		if !(p.PMiss > 0 && p.PMiss < 0.35) {
			t.Fatalf("P(miss) %.3f for a parcel with 6 h of slack on a 48 h lane", p.PMiss)
		}
		if h := p.P50.Sub(*sh[0].PickedUpAt).Hours(); math.Abs(h-48) > 6 {
			t.Fatalf("p50 %.1f h after pickup, want ≈ 48", h)
		}
		if !strings.Contains(eta.Describe(p), "risk of missing the promised date") {
			t.Fatalf("describe: %s", eta.Describe(p))
		}
		// The same parcel on the slow lane with the same promise is late.
		slow := *sh[0]
		slow.DestinationCountry = "US"
		if ps := m.Score(eta.FeaturesOf(&slow, clk.Now())); ps.PMiss < 0.9 {
			t.Fatalf("P(miss) %.3f on the 120 h lane with 54 h allowed", ps.PMiss)
		}
		// Exceptions and last mile were learned from the stored events.
		if m.ExcDelay["external"] < 20 {
			t.Fatalf("external (weather) delay %.1f h, want ≈ 36; learned %v", m.ExcDelay["external"], m.ExcDelay)
		}
		ofd := *sh[0]
		ofd.Status, ofd.StatusAt = intake.StatusOutForDelivery, clk.Now().Add(-time.Hour)
		po := m.Score(eta.FeaturesOf(&ofd, clk.Now()))
		if h := po.P50.Sub(clk.Now()).Hours(); h < 1 || h > 6 {
			t.Fatalf("out for delivery for 1 h: p50 in %.1f h, want ≈ 3 (last mile takes 4 h)", h)
		}

		// Another process sees the stored model; after a newer one is
		// trained it switches within the refresh interval.
		other := eta.NewService(eta.ServiceOptions{DB: d, Now: clk.Now, Refresh: time.Minute})
		if _, oi, err := other.Model(ctx); err != nil || oi.ID != info.ID {
			t.Fatalf("other process: %v %v", oi, err)
		}
		clk.Add(time.Second)
		info2, err := svc.Retrain(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, oi, _ := other.Model(ctx); oi.ID != info.ID {
			t.Fatal("refreshed before the interval")
		}
		clk.Add(time.Minute)
		if _, oi, _ := other.Model(ctx); oi.ID != info2.ID {
			t.Fatalf("other process still on %s, want %s", oi.ID, info2.ID)
		}
		// Old models are pruned to the newest five.
		for range 6 {
			clk.Add(time.Second)
			if _, err := svc.Retrain(ctx); err != nil {
				t.Fatal(err)
			}
		}
		list, err := eta.Store{}.List(ctx, d.Read, eta.ModelKindLive, 50)
		if err != nil || len(list) != 5 {
			t.Fatalf("%d models kept (%v), want 5", len(list), err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// caseLink records what ScoreCase writes; it stands for triage's storage of
// the risk, which is tested in triage and end to end in internal/app.
type caseLink struct {
	shipment string
	risk     float64
	detail   string
	calls    int
}

func (c *caseLink) CaseShipment(context.Context, string) (string, bool, error) {
	return c.shipment, c.shipment != "", nil
}

func (c *caseLink) SetETARisk(_ context.Context, _ string, risk float64, detail string) error {
	c.risk, c.detail = risk, detail
	c.calls++
	return nil
}

func TestScoreCase(t *testing.T) {
	d := testenv.DB(t)
	ctx := context.Background()
	clk := &clock{t: t0.Add(30 * 24 * time.Hour)}
	pipe := newPipe(t, d, clk)
	svc := eta.NewService(eta.ServiceOptions{DB: d, Now: clk.Now})
	link := &caseLink{}
	// No model, no shipment: nothing recorded, no error.
	if err := svc.ScoreCase(ctx, link, "c1"); err != nil || link.calls != 0 {
		t.Fatalf("no shipment: %v, %d calls", err, link.calls)
	}
	deliver(t, pipe, 60)
	_, err := pipe.SubmitEvents(ctx, "test", []*intake.Event{{Carrier: "dhl", TrackingNumber: "JDCASE", Status: intake.StatusPickedUp,
		OccurredAt: clk.Now().Add(-70 * time.Hour), TZKnown: true, Physical: true, OriginCountry: "DE", DestinationCountry: "FR",
		PromisedDelivery: ptr(clk.Now().Add(-2 * time.Hour))}})
	if err != nil {
		t.Fatal(err)
	}
	sh, err := intake.Store{}.ListShipments(ctx, d.Read, intake.ShipmentFilter{TrackingNumber: "JDCASE"})
	if err != nil || len(sh) != 1 {
		t.Fatalf("case shipment: %v %v", sh, err)
	}
	link.shipment = sh[0].ID
	if err := svc.ScoreCase(ctx, link, "c1"); err != nil || link.calls != 0 {
		t.Fatalf("before training: %v, %d calls", err, link.calls)
	}
	if _, err := svc.Retrain(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.ScoreCase(ctx, link, "c1"); err != nil || link.calls != 1 {
		t.Fatalf("score: %v, %d calls", err, link.calls)
	}
	if link.risk != 1 || !strings.HasPrefix(link.detail, "100% risk") {
		t.Fatalf("promise already passed: risk %v, detail %q", link.risk, link.detail)
	}
}
