package ai

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
	"github.com/yardmaster/yardmaster/triage/ai/anomaly"
)

// recordingSink records spikes and checks it runs inside the sweep's
// transaction by writing through tx.
type recordingSink struct {
	mu     sync.Mutex
	spikes []anomaly.Spike
}

func (r *recordingSink) Disruption(ctx context.Context, tx bun.IDB, s anomaly.Spike) error {
	var n int
	if err := tx.NewSelect().Table("ai_anomaly_state").ColumnExpr("COUNT(*)").Scan(ctx, &n); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spikes = append(r.spikes, s)
	return nil
}

type sweepEnv struct {
	d    *db.DB
	clk  *clock
	pipe *intake.Pipeline
	rng  *rand.Rand
	seq  int
}

// hour stores one hour of events through the real intake pipeline: for
// each carrier two lanes of ~40 events, 5% exceptions, or rate for the
// carrier named spiking.
func (e *sweepEnv) hour(t *testing.T, spiking string, rate float64) {
	t.Helper()
	start := e.clk.now().Truncate(time.Hour)
	var evs []*intake.Event
	for _, c := range []string{"dhl", "ups"} {
		for _, lane := range [][2]string{{"NL", "DE"}, {"DE", "FR"}} {
			n := 35 + e.rng.IntN(10)
			for i := 0; i < n; i++ {
				e.seq++
				ev := &intake.Event{
					Carrier: c, TrackingNumber: fmt.Sprintf("TN%06d", e.seq%500), SourceEventID: fmt.Sprintf("ev%07d", e.seq),
					Status: intake.StatusInTransit, OccurredAt: start.Add(time.Duration(i) * time.Minute), TZKnown: true,
					OriginCountry: lane[0], DestinationCountry: lane[1],
				}
				p := 0.05
				if c == spiking {
					p = rate
				}
				if e.rng.Float64() < p {
					ev.Exception = &intake.Exception{Reason: "delayed", Category: "carrier", Severity: intake.SeverityWarning}
				}
				evs = append(evs, ev)
			}
		}
	}
	e.clk.t = start.Add(10 * time.Minute)
	if _, err := e.pipe.SubmitEvents(context.Background(), "test", evs); err != nil {
		t.Fatalf("submit: %v", err)
	}
	e.clk.t = start.Add(time.Hour)
}

func TestSweeperFindsSpikeInStoredEvents(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := &sweepEnv{d: d, clk: &clock{t: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)}, rng: rand.New(rand.NewPCG(1, 2))}
		e.pipe = intake.NewPipeline(d, intake.PipelineOptions{Now: e.clk.now, MaxWait: time.Millisecond})
		t.Cleanup(e.pipe.Close)
		for h := 0; h < 30; h++ {
			e.hour(t, "", 0)
		}
		spikeHour := e.clk.now()
		e.hour(t, "dhl", 0.5)
		e.clk.t = e.clk.t.Add(5 * time.Minute) // the sweep runs a little after the hour closed

		sink := &recordingSink{}
		sw := NewSweeper(SweeperOptions{
			DB: d, Sink: sink, Now: e.clk.now, Backfill: 48 * time.Hour,
			Detector: anomaly.Config{MinBaselineBuckets: 12},
		})
		got, err := sw.Sweep(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || len(sink.spikes) != 1 {
			t.Fatalf("spikes returned %d, reported %d, want 1 each: %+v", len(got), len(sink.spikes), got)
		}
		s := got[0]
		dhl := intake.NormalizeCarrier("dhl")
		if s.Carrier != dhl || s.Lane != nil || s.Reason != "delayed" || !s.Window.Start.Equal(spikeHour) {
			t.Errorf("spike %s lane=%v reason=%q window=%v", s.Carrier, s.Lane, s.Reason, s.Window)
		}
		if s.Volume < 70 || len(s.Evidence) == 0 {
			t.Fatalf("volume %d evidence %d", s.Volume, len(s.Evidence))
		}
		for _, ev := range s.Evidence {
			var carrier, reason string
			if err := d.NewSelect().Table("intake_events").Column("carrier", "reason").Where("id = ?", ev.EventID).Scan(ctx, &carrier, &reason); err != nil {
				t.Fatalf("evidence %s is not a stored event: %v", ev.EventID, err)
			}
			if carrier != dhl || reason != "delayed" || ev.At.Before(s.Window.Start) || !ev.At.Before(s.Window.End) {
				t.Errorf("evidence %+v (carrier %s reason %s) does not belong to the spike", ev, carrier, reason)
			}
		}
		// Nothing new closed: a second run reports nothing and keeps the state.
		if again, err := sw.Sweep(ctx); err != nil || len(again) != 0 {
			t.Fatalf("second sweep: %d spikes, %v", len(again), err)
		}
		// A normal hour afterwards is quiet; the state carried over.
		e.hour(t, "", 0)
		e.clk.t = e.clk.t.Add(time.Minute)
		if next, err := sw.Sweep(ctx); err != nil || len(next) != 0 {
			t.Fatalf("normal hour: %+v %v", next, err)
		}
		var version int64
		if err := d.NewSelect().Table("ai_anomaly_state").Column("version").Where("id = ?", stateID).Scan(ctx, &version); err != nil || version != 2 {
			t.Errorf("state version %d (%v), want 2 saves", version, err)
		}
	})
}

func TestSweeperHistoricSpikesOnlyTrainBaselines(t *testing.T) {
	d := testenv.DB(t)
	e := &sweepEnv{d: d, clk: &clock{t: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)}, rng: rand.New(rand.NewPCG(3, 4))}
	e.pipe = intake.NewPipeline(d, intake.PipelineOptions{Now: e.clk.now, MaxWait: time.Millisecond})
	t.Cleanup(e.pipe.Close)
	for h := 0; h < 20; h++ {
		e.hour(t, "", 0)
	}
	e.hour(t, "ups", 0.6)
	for h := 0; h < 8; h++ { // the spike is now 8 hours old
		e.hour(t, "", 0)
	}
	sink := &recordingSink{}
	sw := NewSweeper(SweeperOptions{DB: d, Sink: sink, Now: e.clk.now, Backfill: 48 * time.Hour, Detector: anomaly.Config{MinBaselineBuckets: 12}})
	got, err := sw.Sweep(context.Background())
	if err != nil || len(got) != 0 || len(sink.spikes) != 0 {
		t.Fatalf("a spike older than the report window was reported: %+v %v", got, err)
	}
}

// BenchmarkSweepBucketSQLite measures one sweep over one closed hour of
// 20,000 stored events (40 carriers × 5 lanes) on SQLite: the grouped count
// by ULID range, the detector, the state save.
func BenchmarkSweepBucketSQLite(b *testing.B) {
	d := testenv.DB(b)
	clk := &clock{t: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)}
	pipe := intake.NewPipeline(d, intake.PipelineOptions{Now: clk.now, MaxWait: time.Millisecond})
	defer pipe.Close()
	start := clk.t
	var evs []*intake.Event
	for i := 0; i < 20000; i++ {
		ev := &intake.Event{
			Carrier: fmt.Sprintf("c%02d", i%40), TrackingNumber: fmt.Sprintf("T%07d", i), SourceEventID: fmt.Sprintf("e%07d", i),
			Status: intake.StatusInTransit, OccurredAt: start, TZKnown: true,
			OriginCountry: []string{"NL", "DE", "FR", "BE", "PL"}[i%5], DestinationCountry: "DE",
		}
		if i%17 == 0 {
			ev.Exception = &intake.Exception{Reason: "delayed", Category: "carrier", Severity: intake.SeverityWarning}
		}
		evs = append(evs, ev)
		if len(evs) == 500 {
			if _, err := pipe.SubmitEvents(context.Background(), "bench", evs); err != nil {
				b.Fatal(err)
			}
			evs = nil
		}
	}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		if _, err := d.NewDelete().Table("ai_anomaly_state").Where("1 = 1").Exec(context.Background()); err != nil {
			b.Fatal(err)
		}
		now := start.Add(time.Hour + time.Minute)
		sw := NewSweeper(SweeperOptions{DB: d, Now: func() time.Time { return now }, Backfill: time.Hour + time.Minute})
		b.StartTimer()
		if _, err := sw.Sweep(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
