package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/internal/app/apptest"
	"github.com/yardmaster/yardmaster/internal/auth"
)

// rulesDo sends JSON (or raw bytes with a content type) and decodes a JSON
// answer.
func rulesDo(t *testing.T, method, url, token, ct string, body string) httpRes {
	t.Helper()
	hdr := map[string]string{"Authorization": "Bearer " + token}
	if ct != "" {
		hdr["Content-Type"] = ct
	}
	return do(t, method, url, hdr, []byte(body))
}

// rawGet returns the status, content type and body bytes.
func rawGet(t *testing.T, url, token string) (int, string, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

const ruleJSON = `{"id":"acme_watch","name":"Acme watch","priority":5,"event_types":["status:in_transit"],
 "when":"event.trackingNumber == \"%s\"","category":"acme_watch","severity":"high",
 "tests":[
  {"name":"hit","input":{"event":{"id":"e1","source":"s","carrier":"ups","tracking_number":"ACME1","status":"in_transit","occurred_at":"2026-03-04T10:00:00Z","received_at":"2026-03-04T10:05:00Z","tz_known":true,"physical":true}},"expect":{"match":true,"category":"acme_watch"}},
  {"name":"miss","input":{"event":{"id":"e2","source":"s","carrier":"ups","tracking_number":"OTHER","status":"in_transit","occurred_at":"2026-03-04T10:00:00Z","received_at":"2026-03-04T10:05:00Z","tz_known":true,"physical":true}},"expect":{"match":false}}]%s}`

// TestRulesHTTP drives the rules API of the shipped process: validation,
// the environment reference, role checks, drafts with optimistic locking,
// a publish blocked by a failing test, four-eyes approval, diff, rollback,
// YAML export/import, an evaluation from a real webhook and a backtest.
func TestRulesHTTP(t *testing.T) {
	cfg := apptest.TestConfig(t)
	cfg.RulesFourEyes = true
	r := apptest.Start(t, cfg)
	ctx := context.Background()
	token := func(name string, role auth.Role) string {
		tok, _, err := auth.IssueToken(ctx, r.DB, time.Now(), auth.TokenSpec{Name: name, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	ann, bob, viewer, admin := token("ann", auth.RoleAnalyst), token("bob", auth.RoleAnalyst), token("viewer", auth.RoleViewer), token("admin", auth.RoleAdmin)
	api := r.URL + "/api/v1"
	const js = "application/json"

	// Validation with positions and suggestions.
	res := rulesDo(t, "POST", api+"/rules/validate", viewer, js, `{"when":"event.statuss == \"in_transit\""}`)
	errs, _ := res.body["errors"].([]any)
	if res.status != 200 || res.body["ok"] != false || len(errs) != 1 {
		t.Fatalf("validate: %d %v", res.status, res.body)
	}
	e0 := errs[0].(map[string]any)
	if e0["line"] != 1.0 || e0["column"] != 7.0 || !strings.Contains(e0["message"].(string), "did you mean event.status?") {
		t.Fatalf("validate error: %v", e0)
	}
	res = rulesDo(t, "POST", api+"/rules/validate", viewer, js, `{"when":"shipment.dwellHours / shipment.attempts > 2"}`)
	if res.body["ok"] != true || len(res.body["warnings"].([]any)) != 1 {
		t.Fatalf("validate warnings: %v", res.body)
	}
	res = rulesDo(t, "POST", api+"/rules/validate", viewer, js, `{"when":"true","extra":1}`)
	if res.status != 422 {
		t.Fatalf("unknown field: %d", res.status)
	}
	res = rulesDo(t, "GET", api+"/rules/env", viewer, "", "")
	if res.status != 200 || len(res.body["fields"].([]any)) < 80 || len(res.body["functions"].([]any)) < 10 {
		t.Fatalf("env: %d", res.status)
	}

	// The starter ruleset is installed and active.
	res = rulesDo(t, "GET", api+"/rulesets/active", viewer, "", "")
	if res.status != 200 || res.body["version"] != 1.0 {
		t.Fatalf("active: %d %v", res.status, res.body["version"])
	}

	// Viewers read, analysts write.
	failing := fmt.Sprintf(ruleJSON, "NOPE", "")
	if res = rulesDo(t, "POST", api+"/rules", viewer, js, failing); res.status != 403 {
		t.Fatalf("viewer create: %d", res.status)
	}
	if res = rulesDo(t, "POST", api+"/rules", ann, js, failing); res.status != 201 {
		t.Fatalf("create: %d %v", res.status, res.body)
	}
	// Publishing with a failing test case is refused with the report.
	res = rulesDo(t, "POST", api+"/rulesets", ann, js, `{"note":"watch acme"}`)
	if res.status != 422 || !strings.HasPrefix(res.ct, "application/problem+json") || res.body["report"] == nil {
		t.Fatalf("publish with failing test: %d %v", res.status, res.body)
	}
	// Stale update conflicts; a correct one passes.
	if res = rulesDo(t, "PUT", api+"/rules/acme_watch", ann, js, fmt.Sprintf(ruleJSON, "ACME1", `,"version":9`)); res.status != 409 {
		t.Fatalf("stale update: %d %v", res.status, res.body)
	}
	if res = rulesDo(t, "PUT", api+"/rules/acme_watch", ann, js, fmt.Sprintf(ruleJSON, "ACME1", `,"version":1`)); res.status != 200 {
		t.Fatalf("update: %d %v", res.status, res.body)
	}
	// Four-eyes: pending, the author cannot approve, another analyst can.
	res = rulesDo(t, "POST", api+"/rulesets", ann, js, `{"note":"watch acme"}`)
	if res.status != 202 {
		t.Fatalf("publish: %d %v", res.status, res.body)
	}
	if res = rulesDo(t, "POST", api+"/rulesets/2/approve", ann, js, `{}`); res.status != 403 {
		t.Fatalf("self approval: %d %v", res.status, res.body)
	}
	if res = rulesDo(t, "POST", api+"/rulesets/2/approve", bob, js, `{"note":"ok"}`); res.status != 200 || res.body["active"] != true {
		t.Fatalf("approve: %d %v", res.status, res.body)
	}
	res = rulesDo(t, "GET", api+"/rulesets/1/diff/2", viewer, "", "")
	if res.status != 200 || len(res.body["added"].([]any)) != 1 {
		t.Fatalf("diff: %d %v", res.status, res.body)
	}

	// A real webhook event is evaluated with version 2; its record explains it.
	res = rulesDo(t, "POST", api+"/sources", admin, js, `{"name":"feed","kind":"canonical"}`)
	if res.status != 201 {
		t.Fatalf("source: %d %v", res.status, res.body)
	}
	srcToken := res.body["token"].(string)
	occurred := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	res = rulesDo(t, "POST", api+"/events", srcToken, js, fmt.Sprintf(`{"carrier":"ups","tracking_number":"ACME1","status":"in_transit","occurred_at":%q}`, occurred))
	if res.status != 202 {
		t.Fatalf("event: %d %v", res.status, res.body)
	}
	evID := res.body["events"].([]any)[0].(map[string]any)["id"].(string)
	status, _, raw := rawGet(t, api+"/rules/evaluations/"+evID, viewer)
	var ev struct {
		Record struct {
			RulesetVersion int64 `json:"ruleset_version"`
			Outcome        struct {
				RuleID string `json:"rule_id"`
			} `json:"outcome"`
		} `json:"record"`
	}
	if status != 200 || json.Unmarshal(raw, &ev) != nil || ev.Record.RulesetVersion != 2 || ev.Record.Outcome.RuleID != "acme_watch" {
		t.Fatalf("evaluation: %d %s", status, raw)
	}
	res = rulesDo(t, "GET", api+"/rules/acme_watch/hits?days=7", viewer, "", "")
	if days := res.body["days"].([]any); res.status != 200 || len(days) != 1 {
		t.Fatalf("hits: %d %v", res.status, res.body)
	}

	// Rollback to version 1 is immediate and audited.
	if res = rulesDo(t, "POST", api+"/rulesets/1/rollback", bob, js, `{"note":"incident"}`); res.status != 201 || res.body["version"] != 3.0 {
		t.Fatalf("rollback: %d %v", res.status, res.body)
	}

	// YAML export and import round-trip.
	status, ct, yml := rawGet(t, api+"/rules/export?ruleset=draft", viewer)
	if status != 200 || !strings.HasPrefix(ct, "application/yaml") || !strings.Contains(string(yml), "acme_watch") {
		t.Fatalf("export: %d %s", status, ct)
	}
	res = rulesDo(t, "POST", api+"/rules/import?replace=true", ann, "application/yaml", string(yml))
	if res.status != 200 || len(res.body["unchanged"].([]any)) == 0 || len(res.body["created"].([]any)) != 0 {
		t.Fatalf("import: %d %v", res.status, res.body)
	}
	if res = rulesDo(t, "POST", api+"/rules/import", ann, "application/yaml", "format: nope\n"); res.status != 422 {
		t.Fatalf("bad import: %d %v", res.status, res.body)
	}

	// A backtest of the drafts against the active version over stored events.
	res = rulesDo(t, "POST", api+"/backtests", ann, js, `{"candidate":"draft"}`)
	if res.status != 202 {
		t.Fatalf("backtest: %d %v", res.status, res.body)
	}
	id := res.body["id"].(string)
	deadline := time.Now().Add(30 * time.Second)
	for {
		res = rulesDo(t, "GET", api+"/backtests/"+id, viewer, "", "")
		if res.body["status"] == "done" {
			break
		}
		if res.body["status"] == "failed" || time.Now().After(deadline) {
			t.Fatalf("backtest: %v", res.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rep := res.body["report"].(map[string]any)
	if rep["events"] != 1.0 || rep["changed"] != 1.0 {
		t.Fatalf("backtest report: %v", rep)
	}
	if res = rulesDo(t, "POST", api+"/backtests", ann, js, `{"from":"2026-03-02T00:00:00Z","to":"2026-03-01T00:00:00Z"}`); res.status != 422 {
		t.Fatalf("bad range: %d", res.status)
	}
}
