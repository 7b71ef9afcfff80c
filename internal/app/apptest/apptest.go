// Package apptest runs whole Yardmaster processes inside tests, on the same
// code path as `yardmaster serve`.
package apptest

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/yardmaster/yardmaster/internal/app"
	"github.com/yardmaster/yardmaster/internal/config"
	"github.com/yardmaster/yardmaster/internal/logx"
	"github.com/yardmaster/yardmaster/internal/testenv"
)

// TestConfig returns a valid configuration for an in-process test app in a
// temporary data directory on port 0, with the embedded queue and SQLite.
func TestConfig(tb testing.TB) config.Config {
	tb.Helper()
	env := map[string]string{
		"YARDMASTER_ADDR":             "127.0.0.1:0",
		"YARDMASTER_DATA_DIR":         tb.TempDir(),
		"YARDMASTER_ADMIN_PASSWORD":   "admin password for tests",
		"YARDMASTER_SHUTDOWN_TIMEOUT": "10s",
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil)
	if err != nil {
		tb.Fatalf("test config: %v", err)
	}
	return cfg
}

// WithServices points a test configuration at the test PostgreSQL (a fresh
// schema) and the test Redis (a reserved DB number); skipped or failed per
// YARDMASTER_TEST_REQUIRE_ALL when they are not configured.
func WithServices(tb testing.TB, cfg config.Config) config.Config {
	tb.Helper()
	cfg.DatabaseURL = testenv.PostgresURL(tb)
	ro := testenv.RealRedis(tb)
	u := url.URL{Scheme: "redis", Host: ro.Addr, Path: "/" + strconv.Itoa(ro.DB)}
	cfg.RedisURL = u.String()
	return cfg
}

// Running is an app running in the background of a test.
type Running struct {
	*app.App
	URL    string
	cancel context.CancelFunc
	done   chan error
}

// Start opens and runs an app for a test; it stops at cleanup. Each setup
// function runs after Open and before Run (routes must exist before the
// server listens).
func Start(tb testing.TB, cfg config.Config, setup ...func(*app.App)) *Running {
	tb.Helper()
	return StartWith(tb, cfg, app.Options{}, setup...)
}

// StartWith is Start with further options (e.g. an injected clock or the
// demo); Config, Logger and Version are filled in when left empty.
func StartWith(tb testing.TB, cfg config.Config, opts app.Options, setup ...func(*app.App)) *Running {
	tb.Helper()
	opts.Config = cfg
	if opts.Logger == nil {
		opts.Logger = testLogger()
	}
	if opts.Version == "" {
		opts.Version = "test"
	}
	a, err := app.Open(context.Background(), opts)
	if err != nil {
		tb.Fatalf("open app: %v", err)
	}
	for _, fn := range setup {
		fn(a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	r := &Running{App: a, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx, ready) }()
	select {
	case addr := <-ready:
		r.URL = "http://" + addr.String()
	case err := <-r.done:
		a.Close()
		tb.Fatalf("run app: %v", err)
	case <-time.After(30 * time.Second):
		tb.Fatal("app did not start within 30s")
	}
	tb.Cleanup(func() { _ = r.Stop() })
	return r
}

// Stop shuts the app down gracefully and closes it; safe to call twice.
func (r *Running) Stop() error {
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	r.cancel = nil
	err := <-r.done
	if cerr := r.App.Close(); err == nil {
		err = cerr
	}
	return err
}

func testLogger() *slog.Logger {
	if os.Getenv("YARDMASTER_TEST_LOG") == "1" {
		return logx.New(os.Stderr, "debug")
	}
	return logx.Discard()
}
