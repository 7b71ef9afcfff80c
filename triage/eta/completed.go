package eta

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/intake"
)

// shipmentStateRow reads the columns of intake's shipment table that the
// training stream needs. The table belongs to intake; only its stable
// columns (id, status, updated_at and the JSON state, which is the exported
// intake.Shipment) are read.
type shipmentStateRow struct {
	bun.BaseModel `bun:"table:intake_shipments"`
	ID            string    `bun:"id"`
	Status        string    `bun:"status"`
	UpdatedAt     time.Time `bun:"updated_at"`
	State         string    `bun:"state"`
}

// completedPage is how many shipments one query reads; memory stays
// bounded by it whatever the table size.
const completedPage = 1000

// lastMileStatuses are the milestones whose first time is the shipment's
// LastMileAt.
var lastMileStatuses = []string{string(intake.StatusOutForDelivery), string(intake.StatusAvailableForPickup), string(intake.StatusDeliveryAttempted)}

// CompletedShipments streams the delivered shipments last updated at or
// after since from intake's tables, page by page in id order, as training
// input for TrainLive. Pages walk the primary key and the status and age
// filters are applied here: a filtered, id-ordered page query would make
// the database re-read and sort every delivered shipment for each page. LastMileAt is the first last-mile milestone found in
// the shipment's events; Exceptions are the categories of its exceptions
// (closed or still open). A state that does not decode ends the stream with
// the error.
func CompletedShipments(ctx context.Context, idb bun.IDB, since time.Time) iter.Seq2[Completed, error] {
	return func(yield func(Completed, error) bool) {
		after := ""
		for {
			var page []shipmentStateRow
			q := idb.NewSelect().Model(&page).Column("id", "status", "updated_at", "state").OrderExpr("id").Limit(completedPage)
			if after != "" {
				q = q.Where("id > ?", after)
			}
			if err := q.Scan(ctx); err != nil {
				yield(Completed{}, fmt.Errorf("read delivered shipments: %w", err))
				return
			}
			if len(page) == 0 {
				return
			}
			after = page[len(page)-1].ID
			full := len(page) == completedPage
			rows := page[:0]
			for _, r := range page {
				if r.Status == string(intake.StatusDelivered) && !r.UpdatedAt.Before(since) {
					rows = append(rows, r)
				}
			}
			ids := make([]string, len(rows))
			for i := range rows {
				ids[i] = rows[i].ID
			}
			lastMile, err := firstLastMile(ctx, idb, ids)
			if err != nil {
				yield(Completed{}, err)
				return
			}
			for i := range rows {
				var s intake.Shipment
				if err := json.Unmarshal([]byte(rows[i].State), &s); err != nil {
					yield(Completed{}, fmt.Errorf("decode shipment %s: %w", rows[i].ID, err))
					return
				}
				c := CompletedOf(&s)
				c.LastMileAt = lastMile[s.ID]
				if !yield(c, nil) {
					return
				}
			}
			if !full {
				return
			}
		}
	}
}

// firstLastMile returns, per shipment id, the earliest last-mile milestone
// time among its events.
func firstLastMile(ctx context.Context, idb bun.IDB, ids []string) (map[string]time.Time, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var out []struct {
		ShipmentID string    `bun:"shipment_id"`
		At         time.Time `bun:"at"`
	}
	if err := idb.NewSelect().Table("intake_events").ColumnExpr("shipment_id, MIN(occurred_at) AS at").
		Where("shipment_id IN (?)", bun.In(ids)).Where("status IN (?)", bun.In(lastMileStatuses)).
		GroupExpr("shipment_id").Scan(ctx, &out); err != nil {
		return nil, fmt.Errorf("read last-mile milestones: %w", err)
	}
	m := make(map[string]time.Time, len(out))
	for _, r := range out {
		m[r.ShipmentID] = r.At.UTC()
	}
	return m, nil
}

// CompletedOf turns a delivered shipment's state into a training example
// (without LastMileAt, which needs its events). Missing times stay zero and
// TrainLive skips the example.
func CompletedOf(s *intake.Shipment) Completed {
	c := Completed{Carrier: s.Carrier, Origin: s.OriginCountry, Destination: s.DestinationCountry}
	if s.PickedUpAt != nil {
		c.PickedUpAt = s.PickedUpAt.UTC()
	}
	if s.DeliveredAt != nil {
		c.DeliveredAt = s.DeliveredAt.UTC()
	}
	seen := map[string]bool{}
	add := func(cat string) {
		if cat != "" && !seen[cat] {
			seen[cat] = true
			c.Exceptions = append(c.Exceptions, cat)
		}
	}
	for _, e := range s.ClosedExceptions {
		add(e.Category)
	}
	for _, e := range s.OpenExceptions {
		add(e.Category)
	}
	return c
}

// FeaturesOf describes a shipment in flight at now for LiveModel.Score.
// The canonical shipment carries no service level, so Service is empty and
// the model's carrier×service groups are per carrier.
func FeaturesOf(s *intake.Shipment, now time.Time) Features {
	f := Features{Carrier: s.Carrier, Origin: s.OriginCountry, Destination: s.DestinationCountry, Now: now.UTC(),
		Milestone: s.Status, MilestoneAt: s.StatusAt.UTC()}
	if s.PickedUpAt != nil {
		f.PickedUpAt = s.PickedUpAt.UTC()
	}
	if s.PromisedDelivery != nil {
		f.Promised = s.PromisedDelivery.UTC()
	}
	if s.LastPhysicalScanAt != nil {
		f.LastScanAt = s.LastPhysicalScanAt.UTC()
	}
	seen := map[string]bool{}
	for _, e := range s.OpenExceptions {
		if e.Category != "" && !seen[e.Category] {
			seen[e.Category] = true
			f.OpenExceptions = append(f.OpenExceptions, e.Category)
		}
	}
	return f
}
