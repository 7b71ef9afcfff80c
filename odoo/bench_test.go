package odoo_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/yardmaster/yardmaster/internal/testenv"
	"github.com/yardmaster/yardmaster/odoo"
	"github.com/yardmaster/yardmaster/odoo/odootest"
)

// BenchmarkMirrorFullSync: first sync of 50,000 pickings and 20,000 orders
// (plus 4,043 partners, users, teams, tags) into a fresh SQLite mirror.
// Run with -benchtime=1x; records/s is the headline figure.
func BenchmarkMirrorFullSync(b *testing.B) {
	for _, protocol := range []string{odoo.ProtocolXMLRPC, odoo.ProtocolJSON2} {
		b.Run(protocol, func(b *testing.B) {
			ctx := context.Background()
			recs := 0
			for b.Loop() {
				b.StopTimer()
				d := testenv.DB(b)
				_, _, m := bigMirror(b, d, protocol)
				b.StartTimer()
				rep, err := m.Sync(ctx, odoo.SyncOptions{})
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range rep.Models {
					recs += r.Fetched
				}
			}
			b.ReportMetric(float64(recs)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkMirrorIncremental100: an incremental sync after 100 pickings
// changed (the steady state of the periodic job).
func BenchmarkMirrorIncremental100(b *testing.B) {
	ctx := context.Background()
	d := testenv.DB(b)
	srv, _, m := bigMirror(b, d, odoo.ProtocolXMLRPC)
	if _, err := m.Sync(ctx, odoo.SyncOptions{}); err != nil {
		b.Fatal(err)
	}
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		for i := range 100 {
			if err := srv.Write("stock.picking", []int64{int64(1 + i*499)}, map[string]any{"carrier_tracking_ref": fmt.Sprintf("1ZR%dN%d", round, i)}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		rep, err := m.Sync(ctx, odoo.SyncOptions{})
		if err != nil || fetched(rep)["stock.picking"] != 100 {
			b.Fatalf("%v %v", fetched(rep), err)
		}
	}
}

// BenchmarkLookupMany: enrichment of one group-commit batch (256 events)
// from the 70,000-record mirror; ns/op is per batch.
func BenchmarkLookupMany(b *testing.B) {
	ctx := context.Background()
	d := testenv.DB(b)
	srv, _, m := bigMirror(b, d, odoo.ProtocolXMLRPC)
	if _, err := m.Sync(ctx, odoo.SyncOptions{}); err != nil {
		b.Fatal(err)
	}
	rows, err := srv.Records("stock.picking", []any{[]any{"carrier_tracking_ref", "!=", false}}, "carrier_tracking_ref", "origin")
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]odoo.LookupKey, 256)
	for i := range keys {
		r := rows[(i*97)%len(rows)]
		switch i % 4 {
		case 0, 1:
			keys[i] = odoo.LookupKey{TrackingNumber: odoo.TrackingRefs(r["carrier_tracking_ref"].(string))[0]}
		case 2:
			keys[i] = odoo.LookupKey{OrderRef: r["origin"].(string)}
		default:
			keys[i] = odoo.LookupKey{TrackingNumber: fmt.Sprintf("UNKNOWN%d", i)}
		}
	}
	for b.Loop() {
		res, err := m.LookupMany(ctx, d.Read, keys)
		if err != nil || res[0] == nil || res[3] != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(keys))*float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

// BenchmarkDecodeSearchReadPage: decoding one 2,000-picking XML-RPC page
// through kolo (the client's hot spot in a full sync).
func BenchmarkDecodeSearchReadPage(b *testing.B) {
	srv := odootest.New(b, odootest.Options{Seed: &odootest.Seed{Customers: 200, Salespeople: 5, Orders: 2000, Pickings: 2000}})
	c, err := odoo.New(odoo.Options{URL: srv.URL(), DB: srv.DB(), Login: srv.Login(), APIKey: srv.APIKey(), Protocol: odoo.ProtocolXMLRPC, RateLimit: 1e6})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		recs, err := c.SearchRead(ctx, "stock.picking", nil, odoo.SearchOptions{Fields: odoo.PickingFields, Limit: 2000, Order: "id"})
		if err != nil || len(recs) != 2000 {
			b.Fatal(err)
		}
	}
}
