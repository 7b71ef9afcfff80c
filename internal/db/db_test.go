package db_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
	"github.com/yardmaster/yardmaster/migrations"
)

func TestMigrationsRoundTrip(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		st, err := d.Migrations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st) != len(migrations.Migrations.Sorted()) {
			t.Fatalf("status lists %d migrations, want %d", len(st), len(migrations.Migrations.Sorted()))
		}
		for _, m := range st {
			if !m.Applied {
				t.Fatalf("migration %s not applied after Migrate", m.Name)
			}
		}
		down, err := d.Rollback(ctx)
		if err != nil {
			t.Fatalf("rollback: %v", err)
		}
		if len(down) == 0 {
			t.Fatal("rollback reverted nothing")
		}
		pending, err := d.Pending(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) != len(down) {
			t.Fatalf("pending after rollback = %v, want %v", pending, down)
		}
		up, err := d.Migrate(ctx)
		if err != nil {
			t.Fatalf("migrate up again: %v", err)
		}
		if len(up) != len(down) {
			t.Fatalf("re-applied %d migrations, want %d", len(up), len(down))
		}
		if p, _ := d.Pending(ctx); len(p) != 0 {
			t.Fatalf("pending after round trip: %v", p)
		}
	})
}

func TestNestedWriteTxRefused(t *testing.T) {
	d := testenv.DB(t)
	err := d.InTx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
		return d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error { return nil })
	})
	if !errors.Is(err, db.ErrNestedTx) {
		t.Fatalf("nested InTx error = %v, want ErrNestedTx", err)
	}
}

func TestSQLiteReadPoolIsReadOnly(t *testing.T) {
	d := testenv.DB(t)
	_, err := d.Read.ExecContext(context.Background(), "INSERT INTO settings (key, value, updated_at) VALUES ('x', 'y', CURRENT_TIMESTAMP)")
	if err == nil {
		t.Fatal("write through the read pool succeeded; it must be query_only")
	}
}

// A transaction is run again only for what a rerun can cure.
func TestIsRetryable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{fmt.Errorf("count grouped: %w", db.ErrRetryTx), true},
		{errors.New("ERROR: duplicate key value violates unique constraint \"x\" (SQLSTATE 23505)"), true},
		{errors.New("constraint failed: UNIQUE constraint failed: t.k (2067)"), true},
		{errors.New("ERROR: could not serialize access (SQLSTATE 40001)"), true},
		{errors.New("ERROR: deadlock detected (SQLSTATE 40P01)"), true},
		{errors.New("ERROR: null value in column (SQLSTATE 23502)"), false},
		{errors.New("connection refused"), false},
	} {
		if got := db.IsRetryable(c.err); got != c.want {
			t.Errorf("IsRetryable(%v) = %v", c.err, got)
		}
	}
}

func TestUniqueViolationDetected(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		ins := "INSERT INTO settings (key, value, updated_at) VALUES ('k', 'v', CURRENT_TIMESTAMP)"
		if _, err := d.ExecContext(ctx, ins); err != nil {
			t.Fatal(err)
		}
		_, err := d.ExecContext(ctx, ins)
		if !db.IsUniqueViolation(err) {
			t.Fatalf("IsUniqueViolation(%v) = false", err)
		}
	})
}
