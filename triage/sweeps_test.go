package triage_test

import (
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
