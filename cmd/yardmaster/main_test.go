package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/internal/testenv"
)

// binary is the yardmaster binary built once for these tests: they run the
// real program, with real signals and exit codes.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "yardmaster-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "yardmaster")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build yardmaster: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cleanEnv is the environment without any YARDMASTER_ variable of the
// developer's shell, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "YARDMASTER_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = env
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return result{code, so.String(), se.String()}
}

func TestBadConfigurationExitsWithoutCreatingAnything(t *testing.T) {
	cases := []struct {
		name    string
		env     []string
		wantVar string
	}{
		{"unknown database scheme", []string{"YARDMASTER_DATABASE_URL=mysql://root@127.0.0.1/test"}, "YARDMASTER_DATABASE_URL"},
		{"unreachable redis", []string{"YARDMASTER_REDIS_URL=redis://127.0.0.1:1/0"}, "YARDMASTER_REDIS_URL"},
		{"non-numeric port", []string{"YARDMASTER_ADDR=127.0.0.1:http"}, "YARDMASTER_ADDR"},
		{"bad duration", []string{"YARDMASTER_SHUTDOWN_TIMEOUT=soon"}, "YARDMASTER_SHUTDOWN_TIMEOUT"},
		{"bad role", []string{"YARDMASTER_ROLE=both"}, "YARDMASTER_ROLE"},
		{"bad secret key", []string{"YARDMASTER_SECRET_KEY=short"}, "YARDMASTER_SECRET_KEY"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			r := runCLI(t, cleanEnv(append(tc.env, "YARDMASTER_DATA_DIR="+dataDir)...), "serve")
			if r.code == 0 {
				t.Fatalf("serve exited 0 with bad configuration; stderr: %s", r.stderr)
			}
			if !strings.Contains(r.stderr, tc.wantVar) {
				t.Fatalf("stderr does not name %s:\n%s", tc.wantVar, r.stderr)
			}
			if lines := strings.Count(strings.TrimSpace(r.stderr), "\n") + 1; lines > 3 {
				t.Errorf("want a short, clear message; got %d lines:\n%s", lines, r.stderr)
			}
			if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
				t.Fatalf("data directory was created despite the bad configuration (%v)", err)
			}
		})
	}
	// Several problems are all reported, one line each.
	r := runCLI(t, cleanEnv("YARDMASTER_ADDR=nope", "YARDMASTER_ROLE=x", "YARDMASTER_MAX_BODY_BYTES=big"), "serve")
	if r.code == 0 || strings.Count(r.stderr, "invalid configuration:") != 3 {
		t.Fatalf("want three problems reported:\n%s", r.stderr)
	}
}

// served is a yardmaster serve process started by a test.
type served struct {
	cmd    *exec.Cmd
	url    string
	stdout *bytes.Buffer
	done   chan error
}

var consoleRE = regexp.MustCompile(`Console:\s+(http://[^/\s]+)/`)

func startServe(t *testing.T, env []string, args ...string) *served {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = env
	pr, pw := io.Pipe()
	s := &served{cmd: cmd, stdout: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout = pw
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait(); pw.Close() }()
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			s.stdout.WriteString(line + "\n")
			if m := consoleRE.FindStringSubmatch(line); m != nil {
				urlc <- m[1]
			}
		}
	}()
	select {
	case s.url = <-urlc:
	case err := <-s.done:
		t.Fatalf("serve exited early: %v\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("serve did not print its URL within 30 s\n%s", stderr.String())
	}
	t.Logf("serve ready in %v at %s", time.Since(start).Round(time.Millisecond), s.url)
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

// stop sends SIGTERM and returns the exit code.
func (s *served) stop(t *testing.T) int {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
		return s.cmd.ProcessState.ExitCode()
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		t.Fatal("serve did not exit within 30 s of SIGTERM")
		return -1
	}
}

func httpGet(t *testing.T, u string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func backends(t *testing.T, fn func(t *testing.T, env []string)) {
	t.Run("sqlite+embedded", func(t *testing.T) {
		fn(t, cleanEnv("YARDMASTER_DATA_DIR="+filepath.Join(t.TempDir(), "data"), "YARDMASTER_ADMIN_PASSWORD=admin password for tests"))
	})
	t.Run("postgres+redis", func(t *testing.T) {
		pg := testenv.PostgresURL(t)
		ro := testenv.RealRedis(t)
		ru := url.URL{Scheme: "redis", Host: ro.Addr, Path: "/" + strconv.Itoa(ro.DB)}
		fn(t, cleanEnv("YARDMASTER_DATA_DIR="+filepath.Join(t.TempDir(), "data"), "YARDMASTER_DATABASE_URL="+pg,
			"YARDMASTER_REDIS_URL="+ru.String(), "YARDMASTER_ADMIN_PASSWORD=admin password for tests"))
	})
}

func TestServeMigrateTokensAndGracefulStop(t *testing.T) {
	backends(t, func(t *testing.T, env []string) {
		// An admin token made by the CLI works against the running server.
		r := runCLI(t, env, "tokens", "create", "--role", "admin", "--name", "e2e", "--json")
		if r.code != 0 {
			t.Fatalf("tokens create: %d %s", r.code, r.stderr)
		}
		var tok struct{ Token, Role string }
		if err := json.Unmarshal([]byte(r.stdout), &tok); err != nil || !strings.HasPrefix(tok.Token, "ym_") || tok.Role != "admin" {
			t.Fatalf("tokens create --json printed %q (%v)", r.stdout, err)
		}

		s := startServe(t, env)
		if code, body := httpGet(t, s.url+"/healthz"); code != 200 {
			t.Fatalf("/healthz %d %s", code, body)
		}
		if code, body := httpGet(t, s.url+"/readyz"); code != 200 {
			t.Fatalf("/readyz %d %s", code, body)
		}
		if code, _ := httpGet(t, s.url+"/api/v1/tokens"); code != 401 {
			t.Fatalf("/api/v1/tokens without a token: %d, want 401", code)
		}
		if code, body := httpGet(t, s.url+"/api/v1/tokens", "Authorization", "Bearer "+tok.Token); code != 200 || !strings.Contains(body, `"e2e"`) {
			t.Fatalf("/api/v1/tokens with the token: %d %s", code, body)
		}
		_, metrics := httpGet(t, s.url+"/metrics")
		for _, want := range []string{"yardmaster_http_requests_total", "yardmaster_queue_tasks", "yardmaster_outbox_jobs"} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if code := s.stop(t); code != 0 {
			t.Fatalf("serve exited %d after SIGTERM, want 0", code)
		}

		// migrate status lists applied migrations; down then up round-trips.
		st := runCLI(t, env, "migrate", "status")
		if st.code != 0 || !strings.Contains(st.stdout, "20261127000001_foundation") || !strings.Contains(st.stdout, ", 0 pending") {
			t.Fatalf("migrate status: %d\n%s%s", st.code, st.stdout, st.stderr)
		}
		down := runCLI(t, env, "migrate", "down")
		if down.code != 0 || !strings.Contains(down.stdout, "reverted ") {
			t.Fatalf("migrate down: %d\n%s%s", down.code, down.stdout, down.stderr)
		}
		st = runCLI(t, env, "migrate", "status")
		if strings.Contains(st.stdout, ", 0 pending") {
			t.Fatalf("status after down shows nothing pending:\n%s", st.stdout)
		}
		up := runCLI(t, env, "migrate", "up")
		if up.code != 0 || strings.Count(up.stdout, "applied ") != strings.Count(down.stdout, "reverted ") {
			t.Fatalf("migrate up: %d\n%s%s", up.code, up.stdout, up.stderr)
		}
		st = runCLI(t, env, "migrate", "status")
		if !strings.Contains(st.stdout, ", 0 pending") {
			t.Fatalf("status after up:\n%s", st.stdout)
		}
	})
}

// SIGTERM while a request is still being received: the request completes
// and the process exits 0.
func TestSIGTERMDuringRequest(t *testing.T) {
	env := cleanEnv("YARDMASTER_DATA_DIR="+filepath.Join(t.TempDir(), "data"), "YARDMASTER_ADMIN_PASSWORD=admin password for tests")
	r := runCLI(t, env, "tokens", "create", "--role", "admin", "--json")
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(r.stdout), &tok); err != nil {
		t.Fatal(r.stdout, r.stderr)
	}
	s := startServe(t, env)
	body := `{"name":"made during shutdown","role":"viewer"}`
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", s.url+"/api/v1/tokens", pr)
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	type resp struct {
		code int
		body string
		err  error
	}
	rc := make(chan resp, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			rc <- resp{err: err}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		rc <- resp{code: res.StatusCode, body: string(b)}
	}()
	pw.Write([]byte(body[:10])) // the request has started arriving
	time.Sleep(200 * time.Millisecond)
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	pw.Write([]byte(body[10:]))
	pw.Close()
	got := <-rc
	if got.err != nil || got.code != 201 || !strings.Contains(got.body, `"token":"ym_`) {
		t.Fatalf("request in flight at SIGTERM: %+v", got)
	}
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
}

func TestConfigReferenceAndVersion(t *testing.T) {
	r := runCLI(t, cleanEnv(), "config", "reference")
	if r.code != 0 || !strings.Contains(r.stdout, "`YARDMASTER_DATABASE_URL`") {
		t.Fatalf("config reference: %d %s", r.code, r.stderr)
	}
	v := runCLI(t, cleanEnv(), "version")
	if v.code != 0 || !strings.HasPrefix(v.stdout, "yardmaster ") {
		t.Fatalf("version: %q", v.stdout)
	}
	chk := runCLI(t, cleanEnv("YARDMASTER_LLM_API_KEY=sk-secret-value"), "config", "check")
	if chk.code != 0 || strings.Contains(chk.stdout, "sk-secret-value") || !strings.Contains(chk.stdout, "YARDMASTER_LLM_API_KEY=(set)") {
		t.Fatalf("config check must mask secrets:\n%s", chk.stdout)
	}
}
