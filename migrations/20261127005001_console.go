package migrations

// Console state: browser sessions (stored by the hash of the cookie value,
// with the CSRF token of the session), login throttling counters shared by
// every API process, and saved views of the triage queue.
func init() {
	Migrations.MustRegister(Up(
		`CREATE TABLE console_sessions (
			id           TEXT PRIMARY KEY,
			user_id      TEXT NOT NULL,
			csrf         TEXT NOT NULL,
			created_at   {{TS}} NOT NULL,
			last_seen_at {{TS}} NOT NULL,
			expires_at   {{TS}} NOT NULL,
			ip           TEXT NOT NULL DEFAULT '',
			user_agent   TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE INDEX console_sessions_user ON console_sessions (user_id)`,
		`CREATE INDEX console_sessions_expires ON console_sessions (expires_at)`,
		`CREATE TABLE console_login_failures (
			key          TEXT PRIMARY KEY,
			failures     INTEGER NOT NULL,
			window_start {{TS}} NOT NULL,
			locked_until {{TS}}
		)`,
		`CREATE TABLE console_saved_views (
			id         TEXT PRIMARY KEY,
			user_id    TEXT NOT NULL,
			page       TEXT NOT NULL,
			name       TEXT NOT NULL,
			query      TEXT NOT NULL,
			shared     BOOLEAN NOT NULL DEFAULT FALSE,
			created_at {{TS}} NOT NULL,
			UNIQUE (user_id, page, name)
		)`,
		`CREATE INDEX console_saved_views_page ON console_saved_views (page, shared)`,
	), DropTables("console_saved_views", "console_login_failures", "console_sessions"))
}
