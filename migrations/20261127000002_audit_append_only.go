package migrations

import (
	"context"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// The audit trail is append-only in the database too: updates and deletes
// of audit_log are refused by triggers. (Verify still detects changes made
// by someone who drops the triggers.)
func init() {
	Migrations.MustRegister(func(ctx context.Context, db *bun.DB) error {
		if db.Dialect().Name() == dialect.PG {
			return Exec(ctx, db,
				`CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$`,
				`CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
				FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()`)
		}
		return Exec(ctx, db,
			`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
			BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`,
			`CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
			BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`)
	}, func(ctx context.Context, db *bun.DB) error {
		if db.Dialect().Name() == dialect.PG {
			return Exec(ctx, db, `DROP TRIGGER IF EXISTS audit_log_no_update ON audit_log`,
				`DROP FUNCTION IF EXISTS audit_log_append_only()`)
		}
		return Exec(ctx, db, `DROP TRIGGER IF EXISTS audit_log_no_update`, `DROP TRIGGER IF EXISTS audit_log_no_delete`)
	})
}
