package triage_test

import (
	"context"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
	"github.com/yardmaster/yardmaster/triage"
)

// Time sweeps emit synthetic events that the rules classify: a quiet
// shipment becomes a stale case, a second threshold adds to it, a rerun
// emits nothing, a passed promise becomes a late case, a label nobody
// picked up becomes a never-picked-up case.
func TestTimeSweeps(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		e.send("1ZQUIET", withLane("DE", "DE"))
		promised := e.clk.Now().Add(24 * time.Hour)
		e.send("1ZPROMISE", withLane("DE", "DE"), func(ev *intake.Event) { ev.PromisedDelivery = &promised })
		e.send("1ZLABEL", withStatus("info_received"))

		e.clk.Add(49 * time.Hour)
		out, err := e.svc.SweepShipments(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if out[triage.SweepPromised] != 1 || out[triage.SweepNeverPickedUp] != 1 || out[triage.SweepStale] != 0 {
			t.Fatalf("sweep at 49h = %v", out)
		}
		late := caseOf(t, e, "late_delivery")
		if late.TrackingNumber != "1ZPROMISE" {
			t.Errorf("late case for %s", late.TrackingNumber)
		}
		if np := caseOf(t, e, "never_picked_up"); np.TrackingNumber != "1ZLABEL" {
			t.Errorf("never-picked-up case for %s", np.TrackingNumber)
		}
		again, _ := e.svc.SweepShipments(e.ctx)
		if len(nonZero(again)) != 0 {
			t.Fatalf("a rerun emitted %v", again)
		}

		e.clk.Add(24 * time.Hour) // 73h after the last scan
		out, err = e.svc.SweepShipments(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		// 1ZQUIET and 1ZPROMISE are stale; the promise passed its 48h threshold.
		if out[triage.SweepStale] != 2 || out[triage.SweepPromised] != 1 {
			t.Fatalf("sweep at 73h = %v", out)
		}
		stale := caseOf(t, e, "stale_in_transit")
		if stale.TrackingNumber != "1ZQUIET" && stale.TrackingNumber != "1ZPROMISE" {
			t.Fatalf("stale case for %s", stale.TrackingNumber)
		}
		e.clk.Add(48 * time.Hour) // 121h: the next threshold
		out, _ = e.svc.SweepShipments(e.ctx)
		if out[triage.SweepStale] != 2 || out[triage.SweepPromised] != 0 {
			t.Fatalf("sweep at 121h = %v", out)
		}
		if c := e.get(stale.ID); c.EventCount < 2 {
			t.Errorf("the stale case has %d events after the second threshold", c.EventCount)
		}
		// A scan ends the episode: no stale event until 72h after it.
		e.send("1ZQUIET", withLane("DE", "DE"), withAttr("scan", "again"))
		out, _ = e.svc.SweepShipments(e.ctx)
		if out[triage.SweepStale] != 0 {
			t.Errorf("after a new scan: %v", out)
		}
	})
}

// A shipment silent for longer than the tracking-number reuse window (90
// days) is still the stale one: the sweep's event joins it, and the case
// (lost suspected, after 200 days) points at it, instead of starting a
// phantom next generation.
func TestSweepOfLongSilentShipment(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		e.send("1ZSILENT", withLane("DE", "DE"))
		var first string
		if err := d.Read.NewSelect().Table("intake_shipments").Column("id").Where("tracking_number = ?", "1ZSILENT").Scan(e.ctx, &first); err != nil {
			t.Fatal(err)
		}
		e.clk.Add(200 * 24 * time.Hour)
		out, err := e.svc.SweepShipments(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if out[triage.SweepStale] != 1 {
			t.Fatalf("sweep after 200 days = %v", out)
		}
		n, err := d.Read.NewSelect().Table("intake_shipments").Where("tracking_number = ?", "1ZSILENT").Count(e.ctx)
		if err != nil || n != 1 {
			t.Fatalf("%d shipments for one silent parcel (%v)", n, err)
		}
		if c := caseOf(t, e, "lost_suspected"); c.ShipmentID != first {
			t.Errorf("lost-suspected case on shipment %s, want %s", c.ShipmentID, first)
		}
	})
}

// A page of cases the clock sweep cannot change ends the sweep instead of
// being read again forever: here more than a page of cases whose snooze
// bucket and column say snoozed but whose state is open (bucket and state
// are normally written together), behind three real snoozes that end, and
// more than a page of closed cases left in the queue bucket with an SLA
// check due. The sweep wakes the real snoozes and returns.
func TestClockSweepEndsOnPageWithoutProgress(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, nil)
		now := e.clk.Now()
		const stuck = 520 // more than the sweep's page of 500
		snoozedUntil := now.Add(-3 * time.Hour)
		ids, err := triage.SeedCases(e.ctx, d, e.svc.Policy(), triage.SeedSpec{N: 3 + 2*stuck, Now: now, Seed: 3,
			Mutate: func(i int, c *triage.Case) {
				c.State, c.AcknowledgedAt, c.FirstAcknowledgedAt = triage.StateOpen, nil, nil
				switch {
				case i < 3:
					c.State, c.SnoozedUntil, c.SnoozedAt = triage.StateSnoozed, &snoozedUntil, &snoozedUntil
				case i < 3+stuck:
					c.Team = "stuck-snooze"
				default:
					c.Team = "stuck-sla"
					at := c.OpenedAt.Add(time.Hour)
					c.State, c.ClosedAt, c.CloseReason = triage.StateResolved, &at, "fixed"
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		// The inconsistent rows, written directly; the stuck snoozes sort
		// before the real ones.
		if _, err := d.NewUpdate().Table("triage_cases").Set("bucket = ?", triage.BucketSnoozed).
			Set("snoozed_until = ?", now.Add(-4*time.Hour)).Where("team = ?", "stuck-snooze").Exec(e.ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := d.NewUpdate().Table("triage_cases").Set("bucket = ?", triage.BucketQueue).
			Set("sla_next_check_at = ?", now.Add(-time.Hour)).Where("team = ?", "stuck-sla").Exec(e.ctx); err != nil {
			t.Fatal(err)
		}

		// The deadline only guards against a sweep that never returns.
		ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
		defer cancel()
		res, err := e.svc.SweepClocks(ctx)
		if err != nil {
			t.Fatalf("clock sweep: %v", err)
		}
		if res.Woken != 3 || res.SLAChanged != 0 {
			t.Fatalf("clock sweep = %+v, want 3 woken and no SLA change", res)
		}
		for _, id := range ids[:3] {
			if c := e.get(id); c.State != triage.StateOpen || c.SnoozedUntil != nil {
				t.Errorf("case %s after the sweep: state %s, snoozed until %v", id, c.State, c.SnoozedUntil)
			}
		}
		if c := e.get(ids[3]); c.State != triage.StateOpen {
			t.Errorf("an inconsistent case was changed to %s", c.State)
		}
		res, err = e.svc.SweepClocks(ctx)
		if err != nil || res != (triage.ClockSweepResult{}) {
			t.Fatalf("second clock sweep = %+v, %v", res, err)
		}
	})
}

func nonZero(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func caseOf(t *testing.T, e *env, category string) *triage.Case {
	t.Helper()
	page, err := e.svc.List(e.ctx, triage.ListFilter{Category: category})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Cases) == 0 {
		t.Fatalf("no %s case", category)
	}
	return page.Cases[0]
}
