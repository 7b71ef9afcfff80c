package eta_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/ids"
	"github.com/yardmaster/yardmaster/internal/testenv"
	"github.com/yardmaster/yardmaster/triage/eta"
)

// shipmentFixture is a row of intake's shipment table, written directly so
// the benchmark can hold many delivered shipments without replaying their
// events.
type shipmentFixture struct {
	bun.BaseModel  `bun:"table:intake_shipments"`
	ID             string    `bun:"id,pk"`
	CK             string    `bun:"ck"`
	Carrier        string    `bun:"carrier"`
	TrackingNumber string    `bun:"tracking_number"`
	Generation     int       `bun:"generation"`
	Status         string    `bun:"status"`
	FirstSeenAt    time.Time `bun:"first_seen_at"`
	UpdatedAt      time.Time `bun:"updated_at"`
	State          string    `bun:"state"`
}

// fillDelivered writes n delivered synthetic shipments.
func fillDelivered(b *testing.B, d *db.DB, n int, now time.Time) {
	b.Helper()
	ctx := context.Background()
	s := &eta.Synthetic{Seed: 31}
	batch := make([]shipmentFixture, 0, 2000)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if _, err := d.NewInsert().Model(&batch).Exec(ctx); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	i := 0
	for c, err := range s.Completed(n) {
		if err != nil {
			b.Fatal(err)
		}
		tn := "SYN" + strconv.Itoa(i)
		pick, del := c.PickedUpAt, c.DeliveredAt
		sh := intake.Shipment{ID: ids.New(), Carrier: c.Carrier, TrackingNumber: tn, Status: intake.StatusDelivered, StatusAt: del,
			FirstSeenAt: pick, PickedUpAt: &pick, DeliveredAt: &del, OriginCountry: c.Origin, DestinationCountry: c.Destination,
			EventCount: 3, UpdatedAt: del, Generation: 1}
		for _, e := range c.Exceptions {
			sh.ClosedExceptions = append(sh.ClosedExceptions, intake.ClosedException{OpenException: intake.OpenException{Category: e, OpenedAt: pick}, ClearedAt: del})
		}
		st, _ := json.Marshal(&sh)
		batch = append(batch, shipmentFixture{ID: sh.ID, CK: c.Carrier + ":" + tn, Carrier: c.Carrier, TrackingNumber: tn, Generation: 1,
			Status: string(intake.StatusDelivered), FirstSeenAt: pick.UTC(), UpdatedAt: now.UTC(), State: string(st)})
		if len(batch) == cap(batch) {
			flush()
		}
		i++
	}
	flush()
}

// BenchmarkRetrainFromDB retrains the live model from delivered shipments
// stored in SQLite (the production path: paged reads, JSON decoding of each
// shipment's state, a last-mile query per page, training, storing the
// model). ETA_BENCH_SHIPMENTS sets the count (default 100,000).
func BenchmarkRetrainFromDB(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("ETA_BENCH_SHIPMENTS")); err == nil && v > 0 {
		n = v
	}
	d := testenv.DB(b)
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	fillDelivered(b, d, n, now)
	svc := eta.NewService(eta.ServiceOptions{DB: d, Now: func() time.Time { return now }, History: 10 * 365 * 24 * time.Hour})
	b.ResetTimer()
	for b.Loop() {
		info, err := svc.Retrain(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if info.Shipments+info.Skipped != int64(n) {
			b.Fatal(fmt.Sprintf("trained %d + skipped %d, want %d", info.Shipments, info.Skipped, n))
		}
	}
	b.ReportMetric(float64(n)/(b.Elapsed().Seconds()/float64(b.N)), "shipments/s")
}
