package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
