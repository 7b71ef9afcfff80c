package intake_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
)

// The shipment list filters each find exactly their shipments, on both
// databases, after the write path dropped the indexes they did not need.
func TestListShipmentsFilters(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d, time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC))
		ctx := context.Background()
		for _, ev := range []*intake.Event{
			{Carrier: "ups", TrackingNumber: "1ZA", OrderRef: "SO-1"},
			{Carrier: "ups", TrackingNumber: "1ZB"},
			{Carrier: "fedex", TrackingNumber: "1ZA", PickingRef: "WH/OUT/7"},
		} {
			ev.OccurredAt, ev.TZKnown, ev.Status = e.clk.Now(), true, intake.StatusInTransit
			if _, err := e.svc.Pipeline.SubmitEvents(ctx, intake.SyntheticSource, []*intake.Event{ev}); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			name string
			f    intake.ShipmentFilter
			want []string // carrier:number, newest first
		}{
			{"carrier and number", intake.ShipmentFilter{Carrier: "UPS", TrackingNumber: "1za"}, []string{"ups:1ZA"}},
			{"carrier", intake.ShipmentFilter{Carrier: "ups"}, []string{"ups:1ZB", "ups:1ZA"}},
			{"number", intake.ShipmentFilter{TrackingNumber: "1ZA"}, []string{"fedex:1ZA", "ups:1ZA"}},
			{"order", intake.ShipmentFilter{OrderRef: "SO-1"}, []string{"ups:1ZA"}},
			{"unknown order", intake.ShipmentFilter{OrderRef: "SO-2"}, nil},
			{"none", intake.ShipmentFilter{}, []string{"fedex:1ZA", "ups:1ZB", "ups:1ZA"}},
		} {
			list, err := e.svc.Store.ListShipments(ctx, d.Read, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range list {
				got = append(got, s.Carrier+":"+s.TrackingNumber)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			}
		}
	})
}
