package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRulesCLI runs the real binary: rules test on a file works offline
// and fails on a failing case; export → import round-trips; import
// --publish publishes; backtest prints a report.
func TestRulesCLI(t *testing.T) {
	dir := t.TempDir()
	env := cleanEnv("YARDMASTER_DATA_DIR=" + filepath.Join(dir, "data"))
	offline := cleanEnv("YARDMASTER_DATA_DIR=" + filepath.Join(dir, "never-created"))

	r := runCLI(t, offline, "rules", "test", "../../rules/starter.yaml")
	if r.code != 0 || !strings.Contains(r.stdout, "0 failed, 0 errors") {
		t.Fatalf("rules test starter: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "never-created")); err == nil {
		t.Fatal("rules test FILE touched the data directory")
	}
	b, err := os.ReadFile("../../rules/starter.yaml")
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(broken, []byte(strings.Replace(string(b), "when: shipment.attempts >= 2", "when: shipment.attempts >= 3", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, offline, "rules", "test", broken)
	if r.code == 0 || !strings.Contains(r.stdout, "FAIL  repeated_attempts / second attempt") {
		t.Fatalf("failing test not reported: %d %s", r.code, r.stdout)
	}
	r = runCLI(t, offline, "rules", "validate", `event.statuss == "x"`)
	if r.code == 0 || !strings.Contains(r.stdout, "did you mean event.status?") {
		t.Fatalf("validate: %d %s", r.code, r.stdout)
	}

	exported := filepath.Join(dir, "active.yaml")
	if r = runCLI(t, env, "rules", "export", "--ruleset", "active", "-o", exported); r.code != 0 {
		t.Fatalf("export: %d %s", r.code, r.stderr)
	}
	a, _ := os.ReadFile(exported)
	changed := strings.Replace(string(a), "description: Two or more failed", "description: Two or more (changed in git) failed", 1)
	if err := os.WriteFile(exported, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, env, "rules", "import", exported, "--publish", "--note", "from git")
	if r.code != 0 || !strings.Contains(r.stdout, "updated 1") || !strings.Contains(r.stdout, "version 2 published") {
		t.Fatalf("import --publish: %d %s %s", r.code, r.stdout, r.stderr)
	}
	again := filepath.Join(dir, "again.yaml")
	if r = runCLI(t, env, "rules", "export", "--ruleset", "2", "-o", again); r.code != 0 {
		t.Fatalf("export v2: %d %s", r.code, r.stderr)
	}
	if c, _ := os.ReadFile(again); string(c) != changed {
		t.Fatal("export → import → export is not byte-identical")
	}
	r = runCLI(t, env, "rules", "backtest", "--candidate", broken, "--json")
	var rep map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil || rep["events"] != 0.0 {
		t.Fatalf("backtest: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r = runCLI(t, env, "rules", "backtest"); r.code == 0 || !strings.Contains(r.stderr, "--candidate is required") {
		t.Fatalf("backtest without candidate: %d %s", r.code, r.stderr)
	}
}

// TestRulesHotSwitchTwoProcesses publishes through one `serve` process and
// watches a second one on the same database switch to the new version
// without a restart (acceptance 3), on SQLite and on PostgreSQL.
func TestRulesHotSwitchTwoProcesses(t *testing.T) {
	backends(t, func(t *testing.T, env []string) {
		r := runCLI(t, env, "tokens", "create", "--role", "analyst", "--name", "ann", "--json")
		var tok struct{ Token string }
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &tok) != nil {
			t.Fatalf("tokens create: %d %s %s", r.code, r.stdout, r.stderr)
		}
		r = runCLI(t, env, "sources", "add", "--name", "feed", "--kind", "canonical", "--json")
		var src struct{ Token string }
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &src) != nil {
			t.Fatalf("sources add: %d %s", r.code, r.stderr)
		}
		a := startServe(t, env)
		b := startServe(t, env)
		activeOn := func(s *served) string {
			_, m := httpGet(t, s.url+"/metrics")
			for _, line := range strings.Split(m, "\n") {
				if strings.HasPrefix(line, "yardmaster_rules_active_version ") {
					return strings.TrimPrefix(line, "yardmaster_rules_active_version ")
				}
			}
			return ""
		}
		if v := activeOn(b); v != "1" {
			t.Fatalf("process B starts on version %q", v)
		}
		post := func(url, token, body string) (int, map[string]any) {
			req, _ := http.NewRequest("POST", url, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&out)
			return resp.StatusCode, out
		}
		rule := `{"id":"feed_watch","name":"Feed watch","priority":5,"event_types":["source:feed"],"when":"event.trackingNumber == \"WATCH1\"",
		 "category":"feed_watch","severity":"low","tests":[
		  {"name":"hit","input":{"event":{"id":"e1","source":"feed","carrier":"ups","tracking_number":"WATCH1","occurred_at":"2026-03-04T10:00:00Z","received_at":"2026-03-04T10:05:00Z","tz_known":true,"physical":false}},"expect":{"match":true}},
		  {"name":"miss","input":{"event":{"id":"e2","source":"feed","carrier":"ups","tracking_number":"WATCH2","occurred_at":"2026-03-04T10:00:00Z","received_at":"2026-03-04T10:05:00Z","tz_known":true,"physical":false}},"expect":{"match":false}}]}`
		if code, out := post(a.url+"/api/v1/rules", tok.Token, rule); code != 201 {
			t.Fatalf("create rule on A: %d %v", code, out)
		}
		if code, out := post(a.url+"/api/v1/rulesets", tok.Token, `{"note":"e2e"}`); code != 201 {
			t.Fatalf("publish on A: %d %v", code, out)
		}
		published := time.Now()
		for activeOn(b) != "2" {
			if time.Since(published) > 5*time.Second {
				t.Fatalf("process B still on version %s 5 s after the publish", activeOn(b))
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("process B switched %v after the publish", time.Since(published).Round(10*time.Millisecond))
		// B evaluates its next event with the new version.
		code, out := post(b.url+"/api/v1/events", src.Token, `{"carrier":"ups","tracking_number":"WATCH1","status":"in_transit","occurred_at":"`+
			time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)+`"}`)
		if code != 202 {
			t.Fatalf("event on B: %d %v", code, out)
		}
		id := out["events"].([]any)[0].(map[string]any)["id"].(string)
		_, body := httpGet(t, b.url+"/api/v1/rules/evaluations/"+id, "Authorization", "Bearer "+tok.Token)
		if !strings.Contains(body, `"ruleset_version":2`) || !strings.Contains(body, `"rule_id":"feed_watch"`) {
			t.Fatalf("B's evaluation: %s", body)
		}
	})
}
