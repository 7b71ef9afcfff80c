package migrations

// Digests: subscriptions (who gets what, when, through which channels), runs
// (one per subscription and scheduled time, holding the frozen content),
// deliveries (one per run and channel target) with every attempt, and the
// state of immediate escalation groups (Alertmanager-style timers).
func init() {
	Migrations.MustRegister(Up(
		`CREATE TABLE digest_subscriptions (
			id               TEXT PRIMARY KEY,
			name             TEXT NOT NULL,
			subscriber_kind  TEXT NOT NULL,
			user_id          TEXT NOT NULL DEFAULT '',
			team             TEXT NOT NULL DEFAULT '',
			timezone         TEXT NOT NULL,
			schedule         TEXT NOT NULL,
			min_severity     TEXT NOT NULL,
			customers        TEXT NOT NULL,
			channels         TEXT NOT NULL,
			webhook_secret   TEXT NOT NULL DEFAULT '',
			send_empty       BOOLEAN NOT NULL DEFAULT FALSE,
			immediate        TEXT NOT NULL,
			immediate_on     BOOLEAN NOT NULL DEFAULT FALSE,
			enabled          BOOLEAN NOT NULL DEFAULT TRUE,
			next_run_at      {{TS}},
			scheduled_through {{TS}} NOT NULL,
			covered_through  {{TS}} NOT NULL,
			version          {{BIGINT}} NOT NULL DEFAULT 0,
			created_by       TEXT NOT NULL DEFAULT '',
			created_at       {{TS}} NOT NULL,
			updated_at       {{TS}} NOT NULL
		)`,
		`CREATE INDEX digest_subscriptions_due ON digest_subscriptions (enabled, next_run_at)`,
		`CREATE INDEX digest_subscriptions_user ON digest_subscriptions (user_id)`,
		`CREATE TABLE digest_runs (
			id              TEXT PRIMARY KEY,
			subscription_id TEXT NOT NULL REFERENCES digest_subscriptions (id) ON DELETE CASCADE,
			kind            TEXT NOT NULL,
			scheduled_for   {{TS}} NOT NULL,
			period_start    {{TS}} NOT NULL,
			period_end      {{TS}} NOT NULL,
			status          TEXT NOT NULL,
			case_count      INTEGER NOT NULL DEFAULT 0,
			customer_count  INTEGER NOT NULL DEFAULT 0,
			content         TEXT NOT NULL DEFAULT '',
			error           TEXT NOT NULL DEFAULT '',
			requested_by    TEXT NOT NULL DEFAULT '',
			created_at      {{TS}} NOT NULL,
			updated_at      {{TS}} NOT NULL,
			finished_at     {{TS}},
			UNIQUE (subscription_id, kind, scheduled_for)
		)`,
		`CREATE INDEX digest_runs_subscription ON digest_runs (subscription_id, id)`,
		`CREATE INDEX digest_runs_status ON digest_runs (status, id)`,
		`CREATE TABLE digest_deliveries (
			id          TEXT PRIMARY KEY,
			run_id      TEXT NOT NULL REFERENCES digest_runs (id) ON DELETE CASCADE,
			channel     TEXT NOT NULL,
			target      TEXT NOT NULL,
			status      TEXT NOT NULL,
			attempts    INTEGER NOT NULL DEFAULT 0,
			last_error  TEXT NOT NULL DEFAULT '',
			external_id TEXT NOT NULL DEFAULT '',
			sent_at     {{TS}},
			lease_until {{TS}},
			updated_at  {{TS}} NOT NULL,
			UNIQUE (run_id, channel, target)
		)`,
		`CREATE TABLE digest_attempts (
			id          {{SERIAL}},
			delivery_id TEXT NOT NULL REFERENCES digest_deliveries (id) ON DELETE CASCADE,
			run_id      TEXT NOT NULL,
			attempt     INTEGER NOT NULL,
			at          {{TS}} NOT NULL,
			outcome     TEXT NOT NULL,
			detail      TEXT NOT NULL DEFAULT '',
			duration_ms INTEGER NOT NULL DEFAULT 0
		)`,
		`CREATE INDEX digest_attempts_run ON digest_attempts (run_id, id)`,
		`CREATE TABLE digest_alert_groups (
			subscription_id TEXT PRIMARY KEY REFERENCES digest_subscriptions (id) ON DELETE CASCADE,
			next_flush_at   {{TS}} NOT NULL,
			last_sent_at    {{TS}},
			version         {{BIGINT}} NOT NULL DEFAULT 0,
			created_at      {{TS}} NOT NULL
		)`,
		`CREATE INDEX digest_alert_groups_due ON digest_alert_groups (next_flush_at)`,
		`CREATE TABLE digest_alerts (
			subscription_id TEXT NOT NULL REFERENCES digest_subscriptions (id) ON DELETE CASCADE,
			case_id         TEXT NOT NULL,
			case_ref        TEXT NOT NULL DEFAULT '',
			title           TEXT NOT NULL DEFAULT '',
			customer_id     TEXT NOT NULL DEFAULT '',
			customer_name   TEXT NOT NULL DEFAULT '',
			severity        TEXT NOT NULL,
			kind            TEXT NOT NULL,
			first_at        {{TS}} NOT NULL,
			last_at         {{TS}} NOT NULL,
			notified_at     {{TS}},
			PRIMARY KEY (subscription_id, case_id)
		)`,
		`CREATE TABLE digest_state (
			key        TEXT PRIMARY KEY,
			value      TEXT NOT NULL,
			updated_at {{TS}} NOT NULL
		)`,
	), DropTables("digest_state", "digest_alerts", "digest_alert_groups", "digest_attempts", "digest_deliveries", "digest_runs", "digest_subscriptions"))
}
