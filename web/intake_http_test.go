package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/app/apptest"
	"github.com/yardmaster/yardmaster/internal/auth"
)

type httpRes struct {
	status int
	ct     string
	hdr    http.Header
	body   map[string]any
}

func do(t *testing.T, method, url string, hdr map[string]string, body []byte) httpRes {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := httpRes{status: resp.StatusCode, ct: resp.Header.Get("Content-Type"), hdr: resp.Header}
	_ = json.Unmarshal(b, &r.body)
	return r
}

// TestIntakeHTTP drives the shipped process over loopback: signed
// webhooks, every rejection as problem+json, the read API and the sources
// admin API.
func TestIntakeHTTP(t *testing.T) {
	cfg := apptest.TestConfig(t)
	cfg.MaxBodyBytes = 64 << 10
	cfg.SourceRateLimit = 1000
	r := apptest.Start(t, cfg)
	ctx := context.Background()
	admin, _, err := auth.IssueToken(ctx, r.DB, time.Now(), auth.TokenSpec{Name: "t", Role: auth.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	bearer := map[string]string{"Authorization": "Bearer " + admin, "Content-Type": "application/json"}

	// Register an AfterShip source through the admin API.
	res := do(t, "POST", r.URL+"/api/v1/sources", bearer, []byte(`{"name":"aftership-eu","kind":"aftership"}`))
	if res.status != 201 || res.body["secret"] == "" {
		t.Fatalf("create source: %d %v", res.status, res.body)
	}
	secret := res.body["secret"].(string)
	body, err := os.ReadFile("../intake/testdata/payloads/aftership_tracking_update.json")
	if err != nil {
		t.Fatal(err)
	}
	// The payload's times are in 2024; the clock is real, so any past time works.
	hook := r.URL + "/v1/webhooks/aftership-eu"
	signed := map[string]string{"Content-Type": "application/json", "aftership-hmac-sha256": intake.SignAfterShip(secret, body)}

	res = do(t, "POST", hook, signed, body)
	if res.status != 202 {
		t.Fatalf("webhook: %d %v", res.status, res.body)
	}
	evs := res.body["events"].([]any)
	if len(evs) != 5 || res.body["duplicate"] != false {
		t.Fatalf("receipt %v", res.body)
	}
	firstID := evs[0].(map[string]any)["id"].(string)
	res = do(t, "POST", hook, signed, body)
	if res.status != 202 || res.body["duplicate"] != true {
		t.Fatalf("replay: %d %v", res.status, res.body)
	}

	problems := []struct {
		name   string
		url    string
		hdr    map[string]string
		body   []byte
		status int
	}{
		{"tampered", hook, signed, append(bytes.Clone(body[:len(body)-2]), []byte(" }")...), 401},
		{"no signature", hook, map[string]string{"Content-Type": "application/json"}, body, 401},
		{"unknown source", r.URL + "/v1/webhooks/nosuch", signed, body, 401},
		{"content type", hook, map[string]string{"Content-Type": "text/plain", "aftership-hmac-sha256": signed["aftership-hmac-sha256"]}, body, 415},
		{"too large", hook, signed, bytes.Repeat([]byte("x"), 70<<10), 413},
		{"schema", hook, map[string]string{"Content-Type": "application/json", "aftership-hmac-sha256": intake.SignAfterShip(secret, []byte(`{"event":"tracking_update","msg":{"slug":"ups"}}`))}, []byte(`{"event":"tracking_update","msg":{"slug":"ups"}}`), 422},
	}
	for _, p := range problems {
		res := do(t, "POST", p.url, p.hdr, p.body)
		if res.status != p.status || !strings.HasPrefix(res.ct, "application/problem+json") {
			t.Errorf("%s: %d %s %v", p.name, res.status, res.ct, res.body)
		}
		if p.status == 401 && strings.Contains(fmt.Sprint(res.body), "mismatch") {
			t.Errorf("%s: 401 hints at the cause: %v", p.name, res.body)
		}
		if p.status == 422 && res.body["errors"] == nil {
			t.Errorf("%s: 422 without field errors: %v", p.name, res.body)
		}
	}

	// Standard Webhooks replay → 409.
	res = do(t, "POST", r.URL+"/api/v1/sources", bearer, []byte(`{"name":"partner","kind":"standard"}`))
	swSecret := res.body["secret"].(string)
	cbody := []byte(`{"carrier":"ups","tracking_number":"1Z999","occurred_at":"2026-01-01T10:00:00Z","status":"in_transit"}`)
	old := time.Now().Add(-10 * time.Minute)
	sig, _ := intake.SignStandard(swSecret, "msg_1", old, cbody)
	res = do(t, "POST", r.URL+"/v1/webhooks/partner", map[string]string{"Content-Type": "application/json", "webhook-id": "msg_1",
		"webhook-timestamp": fmt.Sprint(old.Unix()), "webhook-signature": sig}, cbody)
	if res.status != 409 {
		t.Errorf("stale standard webhook: %d %v", res.status, res.body)
	}

	// Canonical source: events API with its token; rate limit → 429.
	res = do(t, "POST", r.URL+"/api/v1/sources", bearer, []byte(`{"name":"tpl","kind":"canonical"}`))
	tok := res.body["token"].(string)
	evHdr := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + tok}
	res = do(t, "POST", r.URL+"/api/v1/events", evHdr, []byte(`[{"carrier":"ups","tracking_number":"1Z1","occurred_at":"2026-01-01T10:00:00Z","status":"picked_up"},{"carrier":"ups","tracking_number":"1Z1","occurred_at":"2026-01-01T10:00:00Z","colour":"red"}]`))
	if res.status != 202 || len(res.body["rejected"].([]any)) != 1 {
		t.Fatalf("events batch: %d %v", res.status, res.body)
	}
	res = do(t, "POST", r.URL+"/api/v1/events", evHdr, []byte(`{"carrier":"ups","tracking_number":"1Z1","occurred_at":"2026-01-01T10:00:00Z","colour":"red"}`))
	if res.status != 422 || !strings.Contains(fmt.Sprint(res.body["errors"]), "colour") {
		t.Errorf("unknown field: %d %v", res.status, res.body)
	}
	// One token per 100 s, burst 1: the second request is limited however
	// slow the machine is.
	res = do(t, "POST", r.URL+"/api/v1/sources", bearer, []byte(`{"name":"tpl-slow","kind":"canonical","rate_limit":0.01}`))
	slowHdr := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + res.body["token"].(string)}
	if res = do(t, "POST", r.URL+"/api/v1/events", slowHdr, cbody); res.status != 202 {
		t.Fatalf("first limited request: %d %v", res.status, res.body)
	}
	res = do(t, "POST", r.URL+"/api/v1/events", slowHdr, cbody)
	if res.status != 429 || res.hdr.Get("Retry-After") == "" {
		t.Errorf("rate limit: %d %v", res.status, res.hdr)
	}
	// An API token scoped to the source may write too.
	scoped, _, _ := auth.IssueToken(ctx, r.DB, time.Now(), auth.TokenSpec{Name: "w", Role: auth.RoleAdmin, Scopes: []string{"events:write:source=partner"}})
	res = do(t, "POST", r.URL+"/api/v1/events", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + scoped}, cbody)
	if res.status != 202 {
		t.Errorf("scoped token: %d %v", res.status, res.body)
	}

	// Read API.
	res = do(t, "GET", r.URL+"/api/v1/shipments?carrier=fedex&tracking_number=7729%204512%203388", bearer, nil)
	list := res.body["shipments"].([]any)
	if res.status != 200 || len(list) != 1 {
		t.Fatalf("shipments: %d %v", res.status, res.body)
	}
	shipID := list[0].(map[string]any)["id"].(string)
	// The app's time sweep may find this 2024 shipment stale at any moment
	// and add its own event and no_updates exception: the carrier's five
	// events and its customs hold are what must be there.
	res = do(t, "GET", r.URL+"/api/v1/shipments/"+shipID, bearer, nil)
	if res.status != 200 {
		t.Fatalf("shipment detail: %d %v", res.status, res.body)
	}
	carrierEvents, customs := 0, 0
	for _, e := range res.body["events"].([]any) {
		if e.(map[string]any)["synthetic"] != true {
			carrierEvents++
		}
	}
	for _, o := range res.body["shipment"].(map[string]any)["open_exceptions"].([]any) {
		if o.(map[string]any)["reason"] == "customs_hold" {
			customs++
		}
	}
	if carrierEvents != 5 || customs != 1 {
		t.Fatalf("shipment detail: %d carrier events, %d customs holds: %v", carrierEvents, customs, res.body)
	}
	res = do(t, "GET", r.URL+"/api/v1/events/"+firstID, bearer, nil)
	pl, _ := res.body["payload"].(map[string]any)
	if res.status != 200 || pl == nil || pl["body_hash"] == "" {
		t.Fatalf("event detail: %d %v", res.status, res.body)
	}
	resp, err := http.Get(r.URL + "/api/v1/payloads/" + pl["id"].(string))
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("payload without auth: %v %v", resp.StatusCode, err)
	}
	res = do(t, "GET", r.URL+"/api/v1/events/nope", bearer, nil)
	if res.status != 404 {
		t.Errorf("missing event: %d", res.status)
	}
	res = do(t, "GET", r.URL+"/api/v1/unmapped", bearer, nil)
	if res.status != 200 {
		t.Errorf("unmapped: %d %v", res.status, res.body)
	}

	// Rotation with zero overlap: the old secret stops at once.
	res = do(t, "POST", r.URL+"/api/v1/sources/aftership-eu/rotate", bearer, []byte(`{"overlap":"0s"}`))
	if res.status != 200 || res.body["secret"] == secret {
		t.Fatalf("rotate: %d %v", res.status, res.body)
	}
	time.Sleep(10 * time.Millisecond)
	res = do(t, "POST", hook, signed, body)
	if res.status != 401 {
		t.Errorf("old secret after rotation without overlap: %d (the registry caches for up to 5 s in other processes; this one forgot it)", res.status)
	}

	// The routes are in the OpenAPI document.
	spec := do(t, "GET", r.URL+"/api/openapi.json", nil, nil)
	paths := spec.body["paths"].(map[string]any)
	for _, p := range []string{"/v1/webhooks/{source}", "/api/v1/events", "/api/v1/shipments", "/api/v1/shipments/{id}", "/api/v1/events/{id}", "/api/v1/unmapped", "/api/v1/sources"} {
		if paths[p] == nil {
			t.Errorf("OpenAPI lacks %s", p)
		}
	}
}
