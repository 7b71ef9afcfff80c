package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOdooSimAndSync runs `yardmaster odoo-sim`, points the connector at it
// from its printed exports, and runs check, sync, lookup and status.
func TestOdooSimAndSync(t *testing.T) {
	sim := exec.Command(binary, "odoo-sim", "--addr", "127.0.0.1:0", "--version", "18", "--orders", "40", "--pickings", "50")
	sim.Env = cleanEnv()
	out, err := sim.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Process.Kill(); _ = sim.Wait() })
	env := cleanEnv("YARDMASTER_DATA_DIR=" + filepath.Join(t.TempDir(), "data"))
	var tracking string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "demo order ") {
			tracking = line[strings.LastIndex(line, " ")+1:]
		}
		if kv, ok := strings.CutPrefix(line, "export "); ok {
			env = append(env, kv)
			if strings.HasPrefix(kv, "YARDMASTER_ODOO_TICKET_PROJECT_ID=") {
				break
			}
		}
	}
	if tracking == "" || len(env) < 6 {
		t.Fatalf("odoo-sim output lacks the exports (tracking %q, env %v)", tracking, env)
	}
	r := runCLI(t, env, "odoo", "check")
	if r.code != 0 || !strings.Contains(r.stdout, "Odoo 18.0") || !strings.Contains(r.stdout, "protocol xmlrpc") {
		t.Fatalf("odoo check: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, env, "odoo", "sync", "--json")
	var rep struct {
		Models []struct {
			Model   string
			Fetched int
			Full    bool
		}
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil || len(rep.Models) != 6 || rep.Models[5].Fetched != 50 || !rep.Models[5].Full {
		t.Fatalf("odoo sync: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, env, "odoo", "sync")
	if r.code != 0 || !strings.Contains(r.stdout, "stock.picking") || !strings.Contains(r.stdout, "incremental") {
		t.Fatalf("second sync: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, env, "odoo", "lookup", "--tracking", strings.ToLower(tracking))
	var ctx struct {
		MatchedBy string `json:"matched_by"`
		Order     *struct{ Name, URL string }
		Customer  *struct{ Name string }
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &ctx) != nil || ctx.MatchedBy != "tracking_number" || ctx.Order == nil || ctx.Customer == nil || !strings.Contains(ctx.Order.URL, "/odoo/sale.order/") {
		t.Fatalf("odoo lookup: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r = runCLI(t, env, "odoo", "lookup", "--tracking", "NOPE"); r.code == 0 || !strings.Contains(r.stderr, "not in the mirror") {
		t.Errorf("lookup miss: %d %s", r.code, r.stderr)
	}
	if r = runCLI(t, env, "odoo", "status"); r.code != 0 || !strings.Contains(r.stdout, "stock.picking") || !strings.Contains(r.stdout, "50") {
		t.Errorf("odoo status: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r = runCLI(t, cleanEnv("YARDMASTER_DATA_DIR="+t.TempDir()), "odoo", "sync"); r.code == 0 || !strings.Contains(r.stderr, "YARDMASTER_ODOO_URL") {
		t.Errorf("sync without configuration: %d %s", r.code, r.stderr)
	}
	_ = sim.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- sim.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("odoo-sim exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("odoo-sim did not stop on SIGTERM")
	}
}
