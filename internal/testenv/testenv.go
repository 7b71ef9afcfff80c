// Package testenv gives tests real databases and a real Redis: a fresh,
// migrated SQLite file always; a fresh PostgreSQL schema when
// YARDMASTER_TEST_DATABASE_URL is set; the Redis at YARDMASTER_TEST_REDIS_URL
// (with a database number reserved for the calling test) or else an embedded
// Redis-protocol server. With YARDMASTER_TEST_REQUIRE_ALL=1 a missing service
// fails the test instead of skipping it, so CI cannot pass by skipping.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/config"
	"github.com/yardmaster/yardmaster/internal/db"
)

// Environment variables read by this package.
const (
	EnvDatabaseURL = "YARDMASTER_TEST_DATABASE_URL"
	EnvRedisURL    = "YARDMASTER_TEST_REDIS_URL"
	EnvRequireAll  = "YARDMASTER_TEST_REQUIRE_ALL"
)

// RequireAll reports whether missing services must fail tests.
func RequireAll() bool { return os.Getenv(EnvRequireAll) == "1" }

// Missing skips the test, or fails it under YARDMASTER_TEST_REQUIRE_ALL=1.
func Missing(tb testing.TB, what string) {
	tb.Helper()
	if RequireAll() {
		tb.Fatalf("%s is required (YARDMASTER_TEST_REQUIRE_ALL=1) but not available", what)
	}
	tb.Skipf("%s not available; set it to run this test", what)
}

// DB returns a fresh migrated SQLite database in a temporary directory.
func DB(tb testing.TB) *db.DB {
	tb.Helper()
	return SQLite(tb)
}

// SQLite returns a fresh migrated SQLite database.
func SQLite(tb testing.TB) *db.DB {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "yardmaster.db")
	d, err := db.Open(context.Background(), config.SQLite, path, db.Options{})
	if err != nil {
		tb.Fatalf("open sqlite: %v", err)
	}
	tb.Cleanup(func() { _ = d.Close() })
	if _, err := d.Migrate(context.Background()); err != nil {
		tb.Fatalf("migrate sqlite: %v", err)
	}
	return d
}

// PostgresURL returns the URL of a fresh, empty schema in the test
// PostgreSQL database (dropped at cleanup), or skips/fails when unset.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(EnvDatabaseURL)
	if base == "" {
		Missing(tb, "PostgreSQL ("+EnvDatabaseURL+")")
	}
	schema := "t_" + randomHex(6)
	ctx := context.Background()
	admin, err := db.Open(ctx, config.Postgres, base, db.Options{MaxOpenConns: 2})
	if err != nil {
		tb.Fatalf("connect to test postgres: %v", err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		_, _ = admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse %s: %v", EnvDatabaseURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Postgres returns a fresh migrated PostgreSQL database (its own schema).
func Postgres(tb testing.TB) *db.DB {
	tb.Helper()
	dsn := PostgresURL(tb)
	d, err := db.Open(context.Background(), config.Postgres, dsn, db.Options{MaxOpenConns: 8})
	if err != nil {
		tb.Fatalf("open postgres: %v", err)
	}
	tb.Cleanup(func() { _ = d.Close() })
	if _, err := d.Migrate(context.Background()); err != nil {
		tb.Fatalf("migrate postgres: %v", err)
	}
	return d
}

// EachDB runs fn as a subtest on SQLite, and on PostgreSQL when configured
// (skipped or failed per YARDMASTER_TEST_REQUIRE_ALL otherwise).
func EachDB(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// Redis returns connection options for a clean Redis database: a DB number
// of the real test Redis reserved for this test (flushed before and after),
// or a new embedded server.
func Redis(tb testing.TB) asynq.RedisClientOpt {
	tb.Helper()
	raw := os.Getenv(EnvRedisURL)
	if raw == "" {
		if RequireAll() {
			tb.Fatalf("Redis (%s) is required (YARDMASTER_TEST_REQUIRE_ALL=1) but not set", EnvRedisURL)
		}
		return EmbeddedRedis(tb)
	}
	return RealRedis(tb)
}

// RealRedis returns options for a reserved, flushed database number of the
// Redis at YARDMASTER_TEST_REDIS_URL; skips or fails when unset.
func RealRedis(tb testing.TB) asynq.RedisClientOpt {
	tb.Helper()
	raw := os.Getenv(EnvRedisURL)
	if raw == "" {
		Missing(tb, "Redis ("+EnvRedisURL+")")
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		tb.Fatalf("parse %s: %v", EnvRedisURL, err)
	}
	ctx := context.Background()
	// Reserve a database number with a lease key in DB 0, so test packages
	// running in parallel never share one.
	lease := redis.NewClient(&redis.Options{Addr: o.Addr, Username: o.Username, Password: o.Password, DB: 0})
	tb.Cleanup(func() { lease.Close() })
	token := randomHex(8)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		for n := 1; n < 16; n++ {
			key := fmt.Sprintf("yardmaster:testenv:db:%d", n)
			ok, err := lease.SetNX(ctx, key, token, 10*time.Minute).Result()
			if err != nil {
				tb.Fatalf("redis at %s: %v", o.Addr, err)
			}
			if !ok {
				continue
			}
			c := redis.NewClient(&redis.Options{Addr: o.Addr, Username: o.Username, Password: o.Password, DB: n})
			if err := c.FlushDB(ctx).Err(); err != nil {
				tb.Fatalf("flush redis db %d: %v", n, err)
			}
			tb.Cleanup(func() {
				_ = c.FlushDB(context.Background()).Err()
				c.Close()
				if v, _ := lease.Get(context.Background(), key).Result(); v == token {
					lease.Del(context.Background(), key)
				}
			})
			return asynq.RedisClientOpt{Addr: o.Addr, Username: o.Username, Password: o.Password, DB: n}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no free redis database number on %s after 2 minutes", o.Addr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// EmbeddedRedis starts a miniredis server for the test.
func EmbeddedRedis(tb testing.TB) asynq.RedisClientOpt {
	tb.Helper()
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		tb.Fatalf("start miniredis: %v", err)
	}
	tb.Cleanup(mr.Close)
	return asynq.RedisClientOpt{Addr: mr.Addr()}
}

// EachRedis runs fn on the embedded server and on the real test Redis.
func EachRedis(t *testing.T, fn func(t *testing.T, o asynq.RedisClientOpt)) {
	t.Helper()
	t.Run("embedded", func(t *testing.T) { fn(t, EmbeddedRedis(t)) })
	t.Run("redis", func(t *testing.T) { fn(t, RealRedis(t)) })
}

// Tx runs fn in a transaction that is rolled back, for store tests that
// need no commit.
func Tx(tb testing.TB, d *db.DB, fn func(ctx context.Context, tx bun.Tx)) {
	tb.Helper()
	ctx := context.Background()
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatalf("begin: %v", err)
	}
	defer func() { _ = tx.Rollback() }()
	fn(ctx, tx)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToLower(hex.EncodeToString(b))
}
