package db

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun/migrate"

	"github.com/yardmaster/yardmaster/migrations"
)

// MigrationStatus is one migration and whether it is applied.
type MigrationStatus struct {
	Name      string    `json:"name"`
	Comment   string    `json:"comment"`
	Applied   bool      `json:"applied"`
	GroupID   int64     `json:"group_id,omitempty"`
	AppliedAt time.Time `json:"applied_at,omitzero"`
}

func (d *DB) migrator() *migrate.Migrator {
	return migrate.NewMigrator(d.DB, migrations.Migrations,
		migrate.WithTableName("schema_migrations"),
		migrate.WithLocksTableName("schema_migration_locks"),
		migrate.WithMarkAppliedOnSuccess(true))
}

// withLock initialises the migration tables and holds the migration lock
// while fn runs, so several processes starting at once migrate once.
func (d *DB) withLock(ctx context.Context, fn func(m *migrate.Migrator) error) error {
	m := d.migrator()
	if err := m.Init(ctx); err != nil {
		return fmt.Errorf("migrate: init: %w", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := m.Lock(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("migrate: another process holds the migration lock (table schema_migration_locks): %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	defer func() { _ = m.Unlock(context.WithoutCancel(ctx)) }()
	return fn(m)
}

// Migrate applies every pending migration and returns their names.
func (d *DB) Migrate(ctx context.Context) ([]string, error) {
	var names []string
	err := d.withLock(ctx, func(m *migrate.Migrator) error {
		g, err := m.Migrate(ctx)
		if err != nil {
			return fmt.Errorf("migrate up: %w", err)
		}
		for _, mg := range g.Migrations {
			names = append(names, mg.Name+"_"+mg.Comment)
		}
		return nil
	})
	return names, err
}

// Rollback reverts the last applied migration group and returns the names.
func (d *DB) Rollback(ctx context.Context) ([]string, error) {
	var names []string
	err := d.withLock(ctx, func(m *migrate.Migrator) error {
		g, err := m.Rollback(ctx)
		if err != nil {
			return fmt.Errorf("migrate down: %w", err)
		}
		for _, mg := range g.Migrations {
			names = append(names, mg.Name+"_"+mg.Comment)
		}
		return nil
	})
	return names, err
}

// Migrations lists every known migration with its status.
func (d *DB) Migrations(ctx context.Context) ([]MigrationStatus, error) {
	m := d.migrator()
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("migrate: init: %w", err)
	}
	ms, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate status: %w", err)
	}
	out := make([]MigrationStatus, len(ms))
	for i, mg := range ms {
		out[i] = MigrationStatus{Name: mg.Name, Comment: mg.Comment, Applied: mg.IsApplied(), GroupID: mg.GroupID}
		if mg.IsApplied() {
			out[i].AppliedAt = mg.MigratedAt.UTC()
		}
	}
	return out, nil
}

// Pending returns the names of migrations not yet applied. It does not
// create the migration tables, so it is safe for readiness checks.
func (d *DB) Pending(ctx context.Context) ([]string, error) {
	var applied []string
	err := d.Read.NewSelect().Table("schema_migrations").Column("name").Scan(ctx, &applied)
	if err != nil {
		// No migration table yet: everything is pending.
		applied = nil
	}
	have := make(map[string]bool, len(applied))
	for _, n := range applied {
		have[n] = true
	}
	var pending []string
	for _, mg := range migrations.Migrations.Sorted() {
		if !have[mg.Name] {
			pending = append(pending, mg.Name+"_"+mg.Comment)
		}
	}
	return pending, nil
}
