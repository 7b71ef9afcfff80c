// Package db opens Yardmaster's database: a pure-Go SQLite file by default,
// PostgreSQL in production, both through bun with one schema.
//
// SQLite gets two pools on the same file: a read pool with many connections
// (WAL lets readers run beside the writer) and a write pool with exactly one
// connection, so writes queue in Go instead of fighting over SQLite's lock.
// Write transactions begin IMMEDIATE, so a transaction never has to upgrade a
// read lock to a write lock (the classic SQLite deadlock); a nested write
// transaction on the same context is refused instead of waiting forever for
// the one connection.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/yardmaster/yardmaster/internal/config"
)

// DB is an open database. The embedded *bun.DB is the write pool; Read is
// the read pool (the same pool on PostgreSQL).
type DB struct {
	*bun.DB
	Read   *bun.DB
	Engine config.Dialect
	// Path is the SQLite file, or "" on PostgreSQL.
	Path string
	// batch is the pool of InBatchTx on PostgreSQL (nil: the write pool).
	batch *bun.DB
}

// Options tune the pools.
type Options struct {
	// MaxOpenConns caps the PostgreSQL pool and the SQLite read pool.
	MaxOpenConns int
}

// ErrNestedTx is returned when InTx is called inside another InTx on the
// same context: on SQLite it would wait forever for the single writer.
var ErrNestedTx = errors.New("db: nested write transaction")

// Open opens the database named by dialect and dsn (see
// config.ParseDatabaseURL). For SQLite the parent directory is created.
func Open(ctx context.Context, dialect config.Dialect, dsn string, opts Options) (*DB, error) {
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = 16
	}
	switch dialect {
	case config.SQLite:
		return openSQLite(ctx, dsn, opts)
	case config.Postgres:
		return openPostgres(ctx, dsn, opts)
	default:
		return nil, fmt.Errorf("db: unknown dialect %q", dialect)
	}
}

func sqliteDSN(path string, write bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Add("_pragma", "cache_size(-32000)")
	q.Add("_time_format", "sqlite")
	if write {
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + path + "?" + q.Encode()
}

func openSQLite(ctx context.Context, path string, opts Options) (*DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("db: create data directory: %w", err)
		}
	}
	w, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		return nil, fmt.Errorf("db: open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	// The write connection must exist (and the WAL be set) before readers
	// open the file with query_only.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("db: open sqlite %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("db: open sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(opts.MaxOpenConns)
	r.SetMaxIdleConns(opts.MaxOpenConns)
	d := &DB{
		DB:     bun.NewDB(w, sqlitedialect.New()),
		Read:   bun.NewDB(r, sqlitedialect.New()),
		Engine: config.SQLite,
		Path:   path,
	}
	return d, nil
}

func openPostgres(ctx context.Context, dsn string, opts Options) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("db: open postgres: %w", err)
	}
	if !strings.Contains(dsn, "default_query_exec_mode") {
		// bun formats every value into the statement text, so pgx's
		// default (prepare and cache each statement) would prepare every
		// distinct query — a second round trip and an evicted cache entry
		// per query. Parameterised statements (Insert) ask for the cache
		// explicitly.
		cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	}
	s := stdlib.OpenDB(*cfg)
	s.SetMaxOpenConns(opts.MaxOpenConns)
	s.SetMaxIdleConns(opts.MaxOpenConns)
	s.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.PingContext(pctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("db: connect to postgres: %w", err)
	}
	b := bun.NewDB(s, pgdialect.New())
	// The group commit of the event pipeline gets connections of its own
	// on which sequential scans are off: every read of its batches is a
	// key lookup an index serves, but until autovacuum first analyzes a
	// young table (a minute or more after a fresh install) PostgreSQL has
	// no statistics, guesses that an IN list of keys matches a third of
	// the table and scans all of it, so each batch costs more as the table
	// grows. Set once when a connection opens, this costs no round trip
	// per batch. Its hot lookups are prepared statements (ScanPrepared)
	// whose best plan does not depend on the keys, so they are planned
	// once. The settings are sent as SET statements rather than startup
	// parameters, which connection poolers such as PgBouncer refuse.
	bs := stdlib.OpenDB(*cfg.Copy(), stdlib.OptionAfterConnect(func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, batchSessionSettings)
		return err
	}))
	bs.SetMaxOpenConns(BatchConns)
	bs.SetMaxIdleConns(BatchConns)
	bs.SetConnMaxIdleTime(5 * time.Minute)
	return &DB{DB: b, Read: b, Engine: config.Postgres, batch: bun.NewDB(bs, pgdialect.New())}, nil
}

// batchSessionSettings are the pipeline connections' settings (see
// openPostgres).
const batchSessionSettings = "SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan"

// BatchConns is the size of InBatchTx's pool on PostgreSQL: one connection
// per committer of the event pipeline, which never runs more.
const BatchConns = 4

// IsPostgres reports whether the database is PostgreSQL.
func (d *DB) IsPostgres() bool { return d.Engine == config.Postgres }

type txKey struct{}

// InTx runs fn in a write transaction, committing when fn returns nil. The
// context passed to fn is marked so that a nested InTx fails fast.
func (d *DB) InTx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	if ctx.Value(txKey{}) != nil {
		return ErrNestedTx
	}
	ctx = context.WithValue(ctx, txKey{}, true)
	return d.DB.RunInTx(ctx, nil, fn)
}

// Ping checks both pools.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.DB.PingContext(ctx); err != nil {
		return err
	}
	if d.Read != d.DB {
		return d.Read.PingContext(ctx)
	}
	return nil
}

// Close closes both pools. On SQLite it checkpoints the WAL first so the
// file is complete on its own.
func (d *DB) Close() error {
	var errs []error
	if d.Engine == config.SQLite {
		_, _ = d.DB.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	}
	if d.Read != d.DB {
		errs = append(errs, d.Read.Close())
	}
	if d.batch != nil {
		errs = append(errs, d.batch.Close())
	}
	errs = append(errs, d.DB.Close())
	return errors.Join(errs...)
}

// ErrRetryTx marks a transaction that found a row it had read without a
// lock changed by another; running it again sees the change.
var ErrRetryTx = errors.New("db: a row read without a lock changed; run the transaction again")

// IsRetryable reports an error that running the transaction again can
// cure: a unique violation from a concurrent insert of the same key,
// ErrRetryTx, or PostgreSQL's serialization failure or deadlock.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return errors.Is(err, ErrRetryTx) || IsUniqueViolation(err) ||
		strings.Contains(s, "SQLSTATE 40001") || strings.Contains(s, "SQLSTATE 40P01")
}

// IsUniqueViolation reports whether err is a unique-constraint violation on
// either database, for callers that turn it into a conflict or a no-op.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "SQLSTATE 23505") ||
		strings.Contains(s, "duplicate key value violates unique constraint")
}

// IsNoRows reports whether err is sql.ErrNoRows.
func IsNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
