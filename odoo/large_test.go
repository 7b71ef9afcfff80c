package odoo_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
	"github.com/yardmaster/yardmaster/odoo"
	"github.com/yardmaster/yardmaster/odoo/odootest"
)

// bigSeed is acceptance 4's size: 50,000 pickings and 20,000 orders.
var bigSeed = odootest.Seed{Customers: 2000, Salespeople: 40, Orders: 20000, Pickings: 50000}

func bigMirror(tb testing.TB, d *db.DB, protocol string) (*odootest.Server, *odoo.Client, *odoo.Mirror) {
	tb.Helper()
	version := 17
	if protocol == odoo.ProtocolJSON2 {
		version = 19
	}
	srv := odootest.New(tb, odootest.Options{Version: version, Seed: &bigSeed})
	c, err := odoo.New(odoo.Options{URL: srv.URL(), DB: srv.DB(), Login: srv.Login(), APIKey: srv.APIKey(), Protocol: protocol, RateLimit: 1000, Timeout: time.Minute})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := odoo.NewMirror(odoo.MirrorOptions{Client: c, DB: d})
	if err != nil {
		tb.Fatal(err)
	}
	return srv, c, m
}

// TestMirrorLargeSync is acceptance 4: a mirror sync of 50,000 pickings
// and 20,000 orders completes, and a second run after 100 pickings changed
// transfers exactly those 100 (counted by the emulator).
func TestMirrorLargeSync(t *testing.T) {
	if testing.Short() {
		t.Skip("large sync (70,000 records) skipped in -short")
	}
	for _, protocol := range []string{odoo.ProtocolXMLRPC, odoo.ProtocolJSON2} {
		t.Run(protocol, func(t *testing.T) {
			d := testenv.DB(t)
			srv, _, m := bigMirror(t, d, protocol)
			ctx := context.Background()
			start := time.Now()
			rep, err := m.Sync(ctx, odoo.SyncOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := fetched(rep)
			if got["stock.picking"] != 50000 || got["sale.order"] != 20000 {
				t.Fatalf("first sync fetched %v", got)
			}
			t.Logf("first sync: %v in %s, %d calls", got, time.Since(start).Round(time.Millisecond), total(srv.Stats().Calls))
			var n int
			if err := d.Read.NewSelect().Table("odoo_tracking_refs").ColumnExpr("count(*)").Scan(ctx, &n); err != nil || n == 0 {
				t.Fatalf("tracking refs: %d %v", n, err)
			}

			srv.ResetStats()
			for i := range 100 {
				id := int64(1 + i*499)
				if err := srv.Write("stock.picking", []int64{id}, map[string]any{"carrier_tracking_ref": fmt.Sprintf("1ZCHANGED%05d", i)}); err != nil {
					t.Fatal(err)
				}
			}
			srv.ResetStats()
			start = time.Now()
			rep, err = m.Sync(ctx, odoo.SyncOptions{})
			if err != nil {
				t.Fatal(err)
			}
			st := srv.Stats()
			t.Logf("second sync: %v in %s, calls %v", fetched(rep), time.Since(start).Round(time.Millisecond), st.Calls)
			for model, n := range fetched(rep) {
				want := 0
				if model == "stock.picking" {
					want = 100
				}
				if n != want || st.Records[model] != want {
					t.Errorf("%s: fetched %d, Odoo returned %d records, want %d", model, n, st.Records[model], want)
				}
			}
			if st.Calls["stock.picking.search_read"] != 1 || st.Calls["sale.order.search_read"] != 1 {
				t.Errorf("one page per model expected: %v", st.Calls)
			}
			res, err := m.Lookup(ctx, d.Read, odoo.LookupKey{TrackingNumber: "1ZCHANGED00042"})
			if err != nil || res.Picking.ID != 1+42*499 {
				t.Errorf("changed ref lookup: %+v %v", res, err)
			}
		})
	}
}

func total(calls map[string]int) int {
	n := 0
	for _, c := range calls {
		n += c
	}
	return n
}
