package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSourcesAndImportCLI runs the real binary: sources add --json prints
// the secret once, list never does, and import streams a file through the
// pipeline reporting rejected lines by number.
func TestSourcesAndImportCLI(t *testing.T) {
	dir := t.TempDir()
	env := cleanEnv("YARDMASTER_DATA_DIR=" + dir)
	r := runCLI(t, env, "sources", "add", "--name", "acme-3pl", "--kind", "canonical", "--json")
	if r.code != 0 {
		t.Fatalf("sources add: %d %s", r.code, r.stderr)
	}
	var created map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil {
		t.Fatalf("sources add --json output %q: %v", r.stdout, err)
	}
	for _, k := range []string{"id", "name", "kind", "token"} {
		if created[k] == nil || created[k] == "" {
			t.Fatalf("sources add --json lacks %s: %v", k, created)
		}
	}
	token := created["token"].(string)
	r = runCLI(t, env, "sources", "add", "--name", "aftership-eu", "--kind", "aftership", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"secret":"`) {
		t.Fatalf("aftership source: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, env, "sources", "list", "--json")
	if r.code != 0 || strings.Contains(r.stdout, token) || strings.Count(r.stdout, "\n") != 2 {
		t.Fatalf("sources list: %d %q", r.code, r.stdout)
	}
	r = runCLI(t, env, "sources", "rotate", "aftership-eu", "--overlap", "1h", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"expires_at"`) {
		t.Fatalf("rotate: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, env, "sources", "add", "--name", "bad name", "--kind", "nope")
	if r.code == 0 || !strings.Contains(r.stderr, "name") || !strings.Contains(r.stderr, "kind") {
		t.Fatalf("invalid source accepted: %d %s", r.code, r.stderr)
	}

	file := filepath.Join(dir, "events.jsonl")
	lines := []string{
		`{"source_event_id":"a1","carrier":"ups","tracking_number":"1Z1","occurred_at":"2026-01-01T10:00:00Z","status":"picked_up"}`,
		`{"source_event_id":"a2","carrier":"ups","tracking_number":"1Z1","occurred_at":"yesterday","status":"in_transit"}`,
		`{"source_event_id":"a3","carrier":"ups","tracking_number":"1Z1","occurred_at":"2026-01-02T10:00:00Z","status":"delivered"}`,
		`{"source_event_id":"a1","carrier":"ups","tracking_number":"1Z1","occurred_at":"2026-01-01T10:00:00Z","status":"picked_up"}`,
	}
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, env, "import", file, "--source", "acme-3pl", "--json")
	if r.code != 0 {
		t.Fatalf("import: %d %s", r.code, r.stderr)
	}
	var sum struct {
		Lines, Accepted, Duplicates, Rejected int
		Rejects                               []struct{ Line int }
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("import summary %q: %v", r.stdout, err)
	}
	if sum.Lines != 4 || sum.Accepted != 2 || sum.Duplicates != 1 || sum.Rejected != 1 || sum.Rejects[0].Line != 2 {
		t.Fatalf("import summary %+v", sum)
	}
	r = runCLI(t, env, "import", file, "--source", "acme-3pl")
	if r.code != 0 || !strings.Contains(r.stderr, "line 2 rejected") || !strings.Contains(r.stdout, "0 events stored, 3 duplicates, 1 rejected") {
		t.Fatalf("second import: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, env, "import", file, "--source", "nosuch")
	if r.code == 0 {
		t.Fatal("import into an unknown source succeeded")
	}
}
