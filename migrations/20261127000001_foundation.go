package migrations

func init() {
	Migrations.MustRegister(Up(
		`CREATE TABLE settings (
			key        TEXT PRIMARY KEY,
			value      TEXT NOT NULL,
			updated_at {{TS}} NOT NULL
		)`,
		// The outbox: jobs written in the same transaction as the state that
		// causes them. id is the stable asynq task id.
		`CREATE TABLE outbox (
			id          TEXT PRIMARY KEY,
			task_type   TEXT NOT NULL,
			payload     {{BLOB}} NOT NULL,
			queue       TEXT NOT NULL,
			max_retry   INTEGER NOT NULL,
			timeout_ms  {{BIGINT}} NOT NULL,
			run_at      {{TS}} NOT NULL,
			request_id  TEXT NOT NULL DEFAULT '',
			created_at  {{TS}} NOT NULL,
			enqueued_at {{TS}},
			started_at  {{TS}},
			done_at     {{TS}},
			attempts    INTEGER NOT NULL DEFAULT 0,
			last_error  TEXT NOT NULL DEFAULT '',
			dead        BOOLEAN NOT NULL DEFAULT FALSE
		)`,
		`CREATE INDEX outbox_pending ON outbox (done_at, enqueued_at, run_at)`,
		`CREATE INDEX outbox_type ON outbox (task_type, created_at)`,
		`CREATE TABLE users (
			id            TEXT PRIMARY KEY,
			username      TEXT NOT NULL UNIQUE,
			display_name  TEXT NOT NULL DEFAULT '',
			email         TEXT NOT NULL DEFAULT '',
			role          TEXT NOT NULL,
			team          TEXT NOT NULL DEFAULT '',
			password_hash TEXT NOT NULL DEFAULT '',
			must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
			disabled      BOOLEAN NOT NULL DEFAULT FALSE,
			created_at    {{TS}} NOT NULL,
			updated_at    {{TS}} NOT NULL
		)`,
		`CREATE TABLE api_tokens (
			id           TEXT PRIMARY KEY,
			name         TEXT NOT NULL DEFAULT '',
			hash         TEXT NOT NULL,
			role         TEXT NOT NULL,
			scopes       TEXT NOT NULL DEFAULT '',
			user_id      TEXT NOT NULL DEFAULT '',
			created_by   TEXT NOT NULL DEFAULT '',
			created_at   {{TS}} NOT NULL,
			expires_at   {{TS}},
			last_used_at {{TS}},
			revoked_at   {{TS}}
		)`,
		// The audit chain. seq is assigned under the audit_head row lock, so
		// the chain has one order on every database.
		`CREATE TABLE audit_head (
			id   INTEGER PRIMARY KEY,
			seq  {{BIGINT}} NOT NULL,
			hash TEXT NOT NULL
		)`,
		`INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '')`,
		`CREATE TABLE audit_log (
			seq          {{BIGINT}} PRIMARY KEY,
			id           TEXT NOT NULL UNIQUE,
			at           {{TS}} NOT NULL,
			actor_type   TEXT NOT NULL,
			actor_id     TEXT NOT NULL,
			actor_name   TEXT NOT NULL DEFAULT '',
			action       TEXT NOT NULL,
			subject_type TEXT NOT NULL,
			subject_id   TEXT NOT NULL,
			before_json  TEXT NOT NULL DEFAULT '',
			after_json   TEXT NOT NULL DEFAULT '',
			detail       TEXT NOT NULL DEFAULT '',
			request_id   TEXT NOT NULL DEFAULT '',
			prev_hash    TEXT NOT NULL,
			hash         TEXT NOT NULL
		)`,
		`CREATE INDEX audit_subject ON audit_log (subject_type, subject_id, seq)`,
		`CREATE INDEX audit_at ON audit_log (at)`,
	), DropTables("audit_log", "audit_head", "api_tokens", "users", "outbox", "settings"))
}
