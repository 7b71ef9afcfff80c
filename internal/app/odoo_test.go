package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/internal/app/apptest"
	"github.com/yardmaster/yardmaster/odoo/odootest"
	"github.com/yardmaster/yardmaster/triage"
)

// TestOdooWiring runs a process configured for Odoo (the emulator): the
// periodic sync fills the mirror through the queue, /readyz reports the
// connector, and the triage executor previews and executes once.
func TestOdooWiring(t *testing.T) {
	srv := odootest.New(t)
	cfg := apptest.TestConfig(t)
	cfg.OdooURL, cfg.OdooDB, cfg.OdooUser, cfg.OdooAPIKey = srv.URL(), srv.DB(), srv.Login(), srv.APIKey()
	cfg.OdooSyncInterval, cfg.OdooTicketProjectID, cfg.OdooRateLimit = time.Second, 2, 100
	r := apptest.Start(t, cfg)
	if r.Odoo == nil || r.OdooExecutor() == nil {
		t.Fatal("connector not wired")
	}
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for {
		last, err := r.Odoo.LastSync(ctx)
		if err == nil && !last.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the periodic sync never completed (last %v, err %v)", last, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, body := get(t, r.URL+"/readyz")
	var rd struct {
		Checks map[string]struct {
			OK            bool            `json:"ok"`
			Informational bool            `json:"informational"`
			Detail        json.RawMessage `json:"detail"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(body), &rd); err != nil {
		t.Fatal(err)
	}
	var detail struct {
		Client *struct{ Circuit, Protocol string }
	}
	c := rd.Checks["odoo"]
	if err := json.Unmarshal(c.Detail, &detail); err != nil || !c.OK || !c.Informational || detail.Client == nil || detail.Client.Circuit != "closed" {
		t.Errorf("readiness odoo check: %s", body)
	}
	demo := srv.Demo()
	req := triage.ActionRequest{ActionID: "01TEST", Type: "schedule_activity", IdempotencyKey: "yardmaster-action-01TEST",
		Params: map[string]string{"summary": "Call the customer", "date_deadline": "2026-12-01"},
		Case:   triage.CaseRef{ID: "C1", TrackingNumber: demo.TrackingRef}}
	x := r.OdooExecutor()
	pv, err := x.Preview(ctx, req)
	if err != nil || !pv.Create || pv.Target.Model != "sale.order" || len(pv.Changes) == 0 {
		t.Fatalf("preview %+v %v", pv, err)
	}
	res, err := x.Execute(ctx, req)
	if err != nil || res.Target.Model != "mail.activity" || res.Target.ID == 0 || res.Replayed {
		t.Fatalf("execute %+v %v", res, err)
	}
	again, err := x.Execute(ctx, req)
	if err != nil || !again.Replayed || again.Target.ID != res.Target.ID {
		t.Errorf("second execute must find the first: %+v %v", again, err)
	}
	bad := req
	bad.IdempotencyKey, bad.Case = "yardmaster-action-02", triage.CaseRef{PickingRef: "WH/OUT/99999"}
	if _, err := x.Execute(ctx, bad); !errors.Is(err, triage.ErrPermanent) {
		t.Errorf("unknown picking must be permanent: %v", err)
	}
	srv.SetDown(true)
	bad.IdempotencyKey, bad.Case = "yardmaster-action-03", req.Case
	if _, err := x.Execute(ctx, bad); err == nil || errors.Is(err, triage.ErrPermanent) {
		t.Errorf("Odoo down must be retryable: %v", err)
	}
}
