package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/app"
	"github.com/yardmaster/yardmaster/internal/app/apptest"
	"github.com/yardmaster/yardmaster/internal/config"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/queue"
	"github.com/yardmaster/yardmaster/triage/eta"
)

// The ETA feature end to end: delivered shipments go through the real
// pipeline, the retraining task learns from them and stores a model (the
// periodic and start-up trainings may store more), and a
// case the pipeline opens for a late-looking parcel gets its ETA risk and
// explanation through the case:eta_risk job, which also moves its priority.
func TestETARiskOnCase(t *testing.T) {
	if testing.Short() {
		t.Skip("whole app")
	}
	eachBackend(t, func(t *testing.T, cfg config.Config) {
		ctx := context.Background()
		// In the past, so debounced jobs are due at once.
		clk := &testClock{t: time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Hour)}
		r := apptest.StartWith(t, cfg, app.Options{Now: clk.now})
		now := clk.now()
		// 80 parcels DE→FR with ups: 48 h door to door, last mile 4 h.
		var evs []*intake.Event
		for i := range 80 {
			tn := fmt.Sprintf("1ZETA%07d", i)
			pick := now.Add(-20*24*time.Hour + time.Duration(i)*time.Hour)
			end := pick.Add(time.Duration(46+i%5) * time.Hour)
			for _, e := range []struct {
				st intake.Status
				at time.Time
			}{{intake.StatusPickedUp, pick}, {intake.StatusOutForDelivery, end.Add(-4 * time.Hour)}, {intake.StatusDelivered, end}} {
				evs = append(evs, &intake.Event{Carrier: "ups", TrackingNumber: tn, SourceEventID: fmt.Sprintf("%s-%s", tn, e.st), Status: e.st,
					OccurredAt: e.at, TZKnown: true, Physical: true, OriginCountry: "DE", DestinationCountry: "FR"})
			}
		}
		if _, err := r.Intake.Pipeline.SubmitEvents(ctx, "loadgen", evs); err != nil {
			t.Fatal(err)
		}
		if err := queue.Add(ctx, r.DB, queue.Job{Key: "eta:retrain:test", Type: eta.TaskRetrain, Queue: queue.QueueLow, RunAt: now}); err != nil {
			t.Fatal(err)
		}
		r.Queue.Kick()
		waitFor(t, r.DB, "a trained model", func(ctx context.Context, d *db.DB) bool {
			list, err := eta.Store{}.List(ctx, d.Read, eta.ModelKindLive, 5)
			return err == nil && len(list) > 0 && list[0].Shipments == 80
		})
		// A parcel picked up 40 h ago, promised in 2 h, being researched by
		// the carrier: the pipeline opens a case; its ETA risk is high.
		promise := now.Add(2 * time.Hour)
		_, err := r.Intake.Pipeline.SubmitEvents(ctx, "loadgen", []*intake.Event{
			{Carrier: "ups", TrackingNumber: "1Z999AA10123456784", SourceEventID: "p-1", Status: intake.StatusPickedUp, OccurredAt: now.Add(-40 * time.Hour),
				TZKnown: true, Physical: true, OriginCountry: "DE", DestinationCountry: "FR", PromisedDelivery: &promise},
			{Carrier: "ups", TrackingNumber: "1Z999AA10123456784", SourceEventID: "trace-1", Status: intake.StatusInTransit,
				RawText: "Package is being researched by UPS", OccurredAt: now.Add(-time.Hour), TZKnown: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			ID, Detail, Components string
			Risk                   float64
		}
		waitFor(t, r.DB, "the case's ETA risk", func(ctx context.Context, d *db.DB) bool {
			r.Queue.Kick()
			return d.Read.NewSelect().Table("triage_cases").Column("id", "eta_risk", "eta_detail", "priority_components").
				Where("tracking_number = ? AND eta_risk IS NOT NULL", "1Z999AA10123456784").Scan(ctx, &c.ID, &c.Risk, &c.Detail, &c.Components) == nil
		})
		if c.Risk < 0.5 || !strings.Contains(c.Detail, "risk of missing the promised date") || !strings.Contains(c.Detail, "Lane:") {
			t.Fatalf("case %s: risk %.3f, detail %q", c.ID, c.Risk, c.Detail)
		}
		if !strings.Contains(c.Components, "eta_risk") {
			t.Fatalf("priority components without the ETA risk: %s", c.Components)
		}
	})
}
