// Package app builds one Yardmaster process from its configuration:
// database, queue, services, HTTP server, background workers. cmd/yardmaster
// calls Open and Run; end-to-end tests do the same with a temporary data
// directory, so the tested process is the shipped one.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/config"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/demo"
	"github.com/yardmaster/yardmaster/internal/logx"
	"github.com/yardmaster/yardmaster/internal/metrics"
	"github.com/yardmaster/yardmaster/internal/queue"
	"github.com/yardmaster/yardmaster/internal/secretbox"
	"github.com/yardmaster/yardmaster/odoo"
	"github.com/yardmaster/yardmaster/rules"
	"github.com/yardmaster/yardmaster/triage"
	"github.com/yardmaster/yardmaster/triage/digest"
	"github.com/yardmaster/yardmaster/web"
)

// Options for Open.
type Options struct {
	Config  config.Config
	Logger  *slog.Logger
	Now     func() time.Time
	Version string
	// Out receives the start-up banner (URL, first admin password).
	Out io.Writer
	// Demo seeds demo data (serve --demo).
	Demo bool
}

// App is one running Yardmaster process.
type App struct {
	Config  config.Config
	Log     *slog.Logger
	Now     func() time.Time
	Version string
	Out     io.Writer
	Demo    bool
	// demoClock is the demo's replay clock (nil unless Demo with no Now).
	demoClock *demo.Clock

	DB    *db.DB
	Box   *secretbox.Box
	Queue *queue.Queue
	Web   *web.Server
	// Intake receives events (set by wireIntake); rules and triage add
	// their pipeline stages to Intake.Pipeline.
	Intake *intake.Service
	// Rules classifies events (set by wireRules); triage chains after it
	// with Rules.SetNext, the Odoo mirror plugs in with Rules.SetLookup.
	Rules *rules.Service
	// Console is the browser UI (set by wireConsole on API processes).
	Console *web.Console
	// AI is the summarizer, its store and the anomaly sweeper (set by
	// wireAI); triage plugs its case source, proposer and spike sink in.
	AI *AI
	// Triage is the case queue (set by wireTriage).
	Triage *triage.Service
	// Odoo is the Odoo connector (client, mirror, executors), set by
	// wireOdoo; nil when YARDMASTER_ODOO_URL is not set.
	Odoo *odoo.Connector
	// Digest is the escalation digests service (set by wireDigest): the
	// console calls its subscription, preview, send-now and history methods.
	Digest *digest.Service

	// Addr is the bound HTTP address once Run listens.
	addrMu sync.Mutex
	addr   net.Addr

	pruners []Pruner
	closers []func() error
	// starters run in Run after the queue starts (e.g. loops of features).
	starters []func(ctx context.Context) error
}

// Pruner deletes expired rows of one kind and returns how many.
type Pruner struct {
	Name string
	Fn   func(ctx context.Context, now time.Time) (int, error)
}

// RunsAPI reports whether this process serves the API and console.
func (a *App) RunsAPI() bool { return a.Config.Role == "api" || a.Config.Role == "all" }

// RunsWorkers reports whether this process runs background jobs.
func (a *App) RunsWorkers() bool { return a.Config.Role == "worker" || a.Config.Role == "all" }

// AddPruner registers housekeeping for expired rows.
func (a *App) AddPruner(p Pruner) { a.pruners = append(a.pruners, p) }

// OnClose registers a function run by Close, in reverse order.
func (a *App) OnClose(fn func() error) { a.closers = append(a.closers, fn) }

// OnRun registers a function run by Run once the queue has started.
func (a *App) OnRun(fn func(ctx context.Context) error) { a.starters = append(a.starters, fn) }

// OpenDB opens (and, when migrate is true, migrates) the configured
// database. External dependencies are checked before anything is created.
func OpenDB(ctx context.Context, cfg config.Config, migrate bool, log *slog.Logger) (*db.DB, error) {
	dialect, dsn, err := config.ParseDatabaseURL(cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("YARDMASTER_DATABASE_URL: %w", err)
	}
	d, err := db.Open(ctx, dialect, dsn, db.Options{})
	if err != nil {
		if dialect == config.Postgres {
			return nil, fmt.Errorf("YARDMASTER_DATABASE_URL: %w", err)
		}
		return nil, fmt.Errorf("YARDMASTER_DATA_DIR / YARDMASTER_DATABASE_URL: %w", err)
	}
	if migrate {
		names, err := d.Migrate(ctx)
		if err != nil {
			d.Close()
			return nil, err
		}
		if len(names) > 0 && log != nil {
			log.Info("applied migrations", "count", len(names), "first", names[0], "last", names[len(names)-1])
		}
	}
	return d, nil
}

// SecretBox returns the box for the configured key, or the key file in
// DATA_DIR (created with a fresh key on first use).
func SecretBox(cfg config.Config, log *slog.Logger) (*secretbox.Box, error) {
	keyText := cfg.SecretKey
	if keyText == "" {
		path := filepath.Join(cfg.DataDir, "secret.key")
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			keyText = strings.TrimSpace(string(b))
		case errors.Is(err, os.ErrNotExist):
			keyText = secretbox.NewKey()
			if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
				return nil, fmt.Errorf("YARDMASTER_DATA_DIR: %w", err)
			}
			if err := os.WriteFile(path, []byte(keyText+"\n"), 0o600); err != nil {
				return nil, fmt.Errorf("write %s: %w", path, err)
			}
			if log != nil {
				log.Warn("generated a new secret key; back it up, stored secrets cannot be read without it", "path", path)
			}
		default:
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	}
	key, err := secretbox.ParseKey(keyText)
	if err != nil {
		return nil, fmt.Errorf("YARDMASTER_SECRET_KEY: %w", err)
	}
	return secretbox.New(key)
}

// Open builds the process. Nothing listens until Run.
func Open(ctx context.Context, opts Options) (_ *App, err error) {
	cfg := opts.Config
	if opts.Logger == nil {
		opts.Logger = logx.Discard()
	}
	// The demo replays days of traffic on its own clock (see demo.Clock).
	var demoClock *demo.Clock
	if opts.Now == nil && opts.Demo {
		demoClock = demo.NewClock()
		opts.Now = demoClock.Now
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	a := &App{Config: cfg, Log: opts.Logger, Now: opts.Now, Version: opts.Version, Out: opts.Out, Demo: opts.Demo, demoClock: demoClock}
	defer func() {
		if err != nil {
			_ = a.Close()
		}
	}()
	// Check the external queue before creating any file.
	if cfg.RedisURL != "" {
		ro, err := queue.ParseRedisURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("YARDMASTER_REDIS_URL: %w", err)
		}
		if err := queue.Ping(ctx, ro); err != nil {
			return nil, fmt.Errorf("YARDMASTER_REDIS_URL: %w", err)
		}
	}
	a.DB, err = OpenDB(ctx, cfg, cfg.AutoMigrate, a.Log)
	if err != nil {
		return nil, err
	}
	a.OnClose(a.DB.Close)
	if !cfg.AutoMigrate {
		pending, err := a.DB.Pending(ctx)
		if err != nil {
			return nil, err
		}
		if len(pending) > 0 {
			return nil, fmt.Errorf("database schema is not current (%d pending migrations, first %s): run `yardmaster migrate up` or set YARDMASTER_AUTO_MIGRATE=true", len(pending), pending[0])
		}
	}
	a.Box, err = SecretBox(cfg, a.Log)
	if err != nil {
		return nil, err
	}
	a.Queue, err = queue.Open(ctx, a.DB, queue.Options{RedisURL: cfg.RedisURL, Concurrency: cfg.Concurrency, Logger: a.Log,
		Now: a.Now, ShutdownTimeout: cfg.ShutdownTimeout})
	if err != nil {
		return nil, fmt.Errorf("YARDMASTER_REDIS_URL: %w", err)
	}
	a.Web = web.New(web.Options{DB: a.DB, Logger: a.Log, Now: a.Now, Version: a.Version, MaxBodyBytes: cfg.MaxBodyBytes,
		Checks: []web.Check{
			{Name: "database", Fn: func(ctx context.Context) (any, error) { return string(a.DB.Engine), a.DB.Ping(ctx) }},
			{Name: "redis", Fn: func(ctx context.Context) (any, error) {
				mode := "external"
				if a.Queue.Embedded() {
					mode = "embedded (not durable across restarts)"
				}
				return mode, a.Queue.Check(ctx)
			}},
			{Name: "migrations", Fn: func(ctx context.Context) (any, error) {
				pending, err := a.DB.Pending(ctx)
				if err == nil && len(pending) > 0 {
					err = fmt.Errorf("%d pending migrations", len(pending))
				}
				return map[string]any{"pending": len(pending)}, err
			}},
		}})
	if a.Config.Role == "worker" {
		a.Web.App.Use(workerOnlyOps)
	}
	a.registerHousekeeping()
	if err := a.wireFeatures(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// Addr returns the bound HTTP address, or nil before Run listens.
func (a *App) Addr() net.Addr {
	a.addrMu.Lock()
	defer a.addrMu.Unlock()
	return a.addr
}

// Run starts the queue, the workers and the HTTP server and blocks until ctx
// is cancelled; then it shuts down gracefully: stop accepting, drain
// in-flight requests and running jobs (bounded by SHUTDOWN_TIMEOUT).
func (a *App) Run(ctx context.Context, ready chan<- net.Addr) error {
	collector := a.Queue.Collector()
	if err := metrics.Registry.Register(collector); err == nil {
		defer metrics.Registry.Unregister(collector)
	}
	if err := a.Queue.Start(ctx, a.RunsWorkers()); err != nil {
		return err
	}
	queueStopped := false
	stopQueue := func() {
		if !queueStopped {
			queueStopped = true
			a.Queue.Shutdown()
		}
	}
	defer stopQueue()
	for _, s := range a.starters {
		if err := s(ctx); err != nil {
			return err
		}
	}
	bound := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	go func() { errc <- a.Web.Listen(a.Config.Addr, bound) }()
	select {
	case addr := <-bound:
		a.addrMu.Lock()
		a.addr = addr
		a.addrMu.Unlock()
		a.Log.Info("yardmaster listening", "addr", addr.String(), "role", a.Config.Role, "database", string(a.DB.Engine),
			"queue", map[bool]string{true: "embedded redis (not durable across restarts)", false: "redis"}[a.Queue.Embedded()],
			"version", a.Version)
		if ready != nil {
			ready <- addr
		}
	case err := <-errc:
		return fmt.Errorf("YARDMASTER_ADDR: %w", err)
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("http server: %w", err)
		}
	}
	a.Log.Info("shutting down: draining requests and jobs", "grace", a.Config.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout)
	defer cancel()
	if err := a.Web.Shutdown(sctx); err != nil {
		a.Log.Error("http shutdown", "err", err)
	}
	stopQueue()
	a.Log.Info("shutdown complete")
	return nil
}

// Close releases everything Open acquired, in reverse order.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}
