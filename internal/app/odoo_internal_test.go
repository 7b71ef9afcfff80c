package app

import (
	"context"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/testenv"
	"github.com/yardmaster/yardmaster/odoo"
	"github.com/yardmaster/yardmaster/odoo/odootest"
)

func TestRulesLookupFromMirror(t *testing.T) {
	d := testenv.DB(t)
	srv := odootest.New(t)
	c, err := odoo.New(odoo.Options{URL: srv.URL(), DB: srv.DB(), Login: srv.Login(), APIKey: srv.APIKey(), RateLimit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	m, err := odoo.NewMirror(odoo.MirrorOptions{Client: c, DB: d})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := m.Sync(ctx, odoo.SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	demo := srv.Demo()
	l := rulesLookup{m: m}
	o, cu, err := l.Lookup(ctx, d.Read, &intake.Event{TrackingNumber: demo.TrackingRef, OccurredAt: time.Now()}, &intake.Shipment{})
	if err != nil || o == nil || cu == nil {
		t.Fatalf("lookup: %v %v %v", o, cu, err)
	}
	if !o.Known || o.ID != demo.OrderID || o.Ref != demo.OrderName || o.Amount <= 0 || o.Salesperson == "" || o.Team == "" {
		t.Errorf("order %+v", o)
	}
	if !cu.Known || cu.ID != demo.CustomerID || cu.Tier == "" || cu.Tier != toLower(cu.Tier) || len(cu.Country) != 2 {
		t.Errorf("customer %+v", cu)
	}
	// The shipment's order reference is used when the event has none.
	o, _, err = l.Lookup(ctx, d.Read, &intake.Event{TrackingNumber: "UNKNOWN"}, &intake.Shipment{OrderRef: demo.OrderName})
	if err != nil || o == nil || o.ID != demo.OrderID {
		t.Errorf("by shipment order ref: %+v %v", o, err)
	}
	o, cu, err = l.Lookup(ctx, d.Read, &intake.Event{TrackingNumber: "UNKNOWN"}, &intake.Shipment{})
	if err != nil || o != nil || cu != nil {
		t.Errorf("no match is not known, not an error: %v %v %v", o, cu, err)
	}
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}
