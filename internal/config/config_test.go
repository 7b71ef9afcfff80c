package config_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/internal/config"
)

func load(env map[string]string, ov map[string]string) (config.Config, error) {
	return config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, ov)
}

func TestDefaults(t *testing.T) {
	c, err := load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.DataDir != "./data" || c.Role != "all" || !c.AutoMigrate ||
		c.MaxBodyBytes != 1<<20 || c.DedupRetention != 72*time.Hour || c.PublicURL != "http://127.0.0.1:8080" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestProblems(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want []string // substrings, one per expected problem line
	}{
		{"port", map[string]string{"YARDMASTER_ADDR": "localhost:http"}, []string{`YARDMASTER_ADDR: port "http" is not a number`}},
		{"no port", map[string]string{"YARDMASTER_ADDR": "localhost"}, []string{`YARDMASTER_ADDR: "localhost" is not host:port`}},
		{"db scheme", map[string]string{"YARDMASTER_DATABASE_URL": "mysql://x/y"}, []string{`YARDMASTER_DATABASE_URL: unknown database scheme "mysql"`}},
		{"redis scheme", map[string]string{"YARDMASTER_REDIS_URL": "http://x"}, []string{`YARDMASTER_REDIS_URL: unsupported scheme "http"`}},
		{"int", map[string]string{"YARDMASTER_MAX_BODY_BYTES": "1MB"}, []string{`YARDMASTER_MAX_BODY_BYTES: "1MB" is not a whole number`}},
		{"positive", map[string]string{"YARDMASTER_WORKER_CONCURRENCY": "0"}, []string{"YARDMASTER_WORKER_CONCURRENCY: must be greater than zero"}},
		{"dedup floor", map[string]string{"YARDMASTER_DEDUP_RETENTION": "1h"}, []string{"YARDMASTER_DEDUP_RETENTION: must be at least 72h"}},
		{"bool", map[string]string{"YARDMASTER_AUTO_MIGRATE": "sometimes"}, []string{`YARDMASTER_AUTO_MIGRATE: "sometimes" is not true or false`}},
		{"nonnegative", map[string]string{"YARDMASTER_LLM_COST_PER_1K_INPUT": "-0.1"}, []string{"YARDMASTER_LLM_COST_PER_1K_INPUT: must not be negative"}},
		{"llm token param", map[string]string{"YARDMASTER_LLM_TOKEN_PARAM": "tokens"}, []string{`YARDMASTER_LLM_TOKEN_PARAM: "tokens" is not one of auto, max_tokens, max_completion_tokens`}},
		{"odoo incomplete", map[string]string{"YARDMASTER_ODOO_URL": "https://acme.odoo.com"},
			[]string{"YARDMASTER_ODOO_DB: required", "YARDMASTER_ODOO_USER: required", "YARDMASTER_ODOO_API_KEY: required"}},
		{"password not echoed", map[string]string{"YARDMASTER_DATABASE_URL": "ftp://u:hunter2@x/y"}, []string{`unknown database scheme "ftp"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(tc.env, nil)
			if err == nil {
				t.Fatal("no error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d problem lines, want %d:\n%s", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.Contains(lines[i], w) || !strings.HasPrefix(lines[i], "invalid configuration: ") {
					t.Errorf("line %d = %q, want it to contain %q", i, lines[i], w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatal("a password from a URL was echoed")
			}
		})
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	c, err := load(map[string]string{"YARDMASTER_ADDR": "0.0.0.0:1"}, map[string]string{"ADDR": "127.0.0.1:2"})
	if err != nil || c.Addr != "127.0.0.1:2" {
		t.Fatalf("addr %q, err %v", c.Addr, err)
	}
}

func TestParseDatabaseURL(t *testing.T) {
	cases := []struct {
		url, dir string
		dialect  config.Dialect
		dsn      string
	}{
		{"", "/var/lib/ym", config.SQLite, "/var/lib/ym/yardmaster.db"},
		{"sqlite:///tmp/x.db", "", config.SQLite, "/tmp/x.db"},
		{"sqlite://rel/x.db", "", config.SQLite, "rel/x.db"},
		{"postgres://u@h/db", "", config.Postgres, "postgres://u@h/db"},
		{"postgresql://u@h/db", "", config.Postgres, "postgresql://u@h/db"},
	}
	for _, tc := range cases {
		d, dsn, err := config.ParseDatabaseURL(tc.url, tc.dir)
		if err != nil || d != tc.dialect || dsn != tc.dsn {
			t.Errorf("%q: %s %q %v", tc.url, d, dsn, err)
		}
	}
}

func TestRedactedMasksSecrets(t *testing.T) {
	c, err := load(map[string]string{"YARDMASTER_LLM_API_KEY": "sk-123", "YARDMASTER_LLM_BASE_URL": "http://x/v1", "YARDMASTER_LLM_MODEL": "m",
		"YARDMASTER_DATABASE_URL": "postgres://u:pw@h/db"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Redacted()
	if r["YARDMASTER_LLM_API_KEY"] != "(set)" || strings.Contains(r["YARDMASTER_DATABASE_URL"], "pw") {
		t.Fatalf("redacted: %v", r)
	}
}

// The README's configuration reference is the generated one.
func TestREADMEReferenceIsCurrent(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), config.Reference()) {
		t.Fatal("README.md's configuration table is stale: replace it with the output of `go run ./cmd/yardmaster config reference`")
	}
}
