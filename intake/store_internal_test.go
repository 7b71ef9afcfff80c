package intake

import (
	"context"
	"strings"
	"testing"

	"github.com/yardmaster/yardmaster/internal/testenv"
)

// SQLite has no statistics to go by: the plans of the filters that name a
// shipment must start from an index, not walk the table.
func TestListShipmentsUsesIndexesOnSQLite(t *testing.T) {
	d := testenv.DB(t)
	for _, tc := range []struct {
		f     ShipmentFilter
		index string
	}{
		{ShipmentFilter{Carrier: "ups", TrackingNumber: "1ZA"}, "sqlite_autoindex_intake_shipments"},
		{ShipmentFilter{TrackingNumber: "1ZA"}, "intake_shipments_tracking"},
		{ShipmentFilter{OrderRef: "SO-1"}, "intake_shipments_order"},
	} {
		q := shipmentListQuery(d.Read, tc.f, new([]shipmentRow))
		var plan []struct {
			ID      int    `bun:"id"`
			Parent  int    `bun:"parent"`
			NotUsed int    `bun:"notused"`
			Detail  string `bun:"detail"`
		}
		if err := d.Read.NewRaw("EXPLAIN QUERY PLAN "+q.String()).Scan(context.Background(), &plan); err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, p := range plan {
			lines = append(lines, p.Detail)
		}
		if got := strings.Join(lines, "\n"); !strings.Contains(got, tc.index) {
			t.Errorf("%+v: plan does not use %s:\n%s", tc.f, tc.index, got)
		}
	}
}
