package migrations

// Rules: drafts (the working copy analysts edit), every saved rule version,
// draft reference lists, immutable published ruleset versions, the active
// version row every process polls, evaluation records per event, hit
// counts per rule per day and backtest runs. Rule specs and records are
// TEXT (not JSONB) so their bytes round-trip exactly.
func init() {
	Migrations.MustRegister(Up(
		`CREATE TABLE rules (
			id         TEXT PRIMARY KEY,
			version    INTEGER NOT NULL,
			priority   INTEGER NOT NULL,
			mode       TEXT NOT NULL,
			spec       TEXT NOT NULL,
			created_by TEXT NOT NULL,
			created_at {{TS}} NOT NULL,
			updated_by TEXT NOT NULL,
			updated_at {{TS}} NOT NULL
		)`,
		`CREATE INDEX rules_priority ON rules (priority)`,
		`CREATE TABLE rule_versions (
			rule_id    TEXT NOT NULL,
			version    INTEGER NOT NULL,
			change     TEXT NOT NULL,
			spec       TEXT NOT NULL,
			changed_by TEXT NOT NULL,
			changed_at {{TS}} NOT NULL,
			PRIMARY KEY (rule_id, version)
		)`,
		`CREATE TABLE rule_lists (
			name       TEXT PRIMARY KEY,
			vals       TEXT NOT NULL,
			updated_by TEXT NOT NULL,
			updated_at {{TS}} NOT NULL
		)`,
		`CREATE TABLE rulesets (
			version      {{BIGINT}} PRIMARY KEY,
			hash         TEXT NOT NULL,
			status       TEXT NOT NULL,
			base_version {{BIGINT}} NOT NULL DEFAULT 0,
			rollback_of  {{BIGINT}} NOT NULL DEFAULT 0,
			rule_count   INTEGER NOT NULL,
			content      TEXT NOT NULL,
			note         TEXT NOT NULL DEFAULT '',
			created_by   TEXT NOT NULL,
			created_at   {{TS}} NOT NULL,
			decided_by   TEXT NOT NULL DEFAULT '',
			decided_at   {{TS}},
			decision_note TEXT NOT NULL DEFAULT '',
			published_at {{TS}}
		)`,
		`CREATE INDEX rulesets_hash ON rulesets (hash)`,
		`CREATE TABLE rules_active (
			id         INTEGER PRIMARY KEY,
			version    {{BIGINT}} NOT NULL,
			hash       TEXT NOT NULL,
			changed_at {{TS}} NOT NULL
		)`,
		`CREATE TABLE rule_evaluations (
			event_id        TEXT PRIMARY KEY,
			shipment_id     TEXT NOT NULL DEFAULT '',
			ruleset_version {{BIGINT}} NOT NULL,
			ruleset_hash    TEXT NOT NULL,
			primary_rule    TEXT NOT NULL DEFAULT '',
			category        TEXT NOT NULL DEFAULT '',
			severity        TEXT NOT NULL DEFAULT '',
			evaluated_at    {{TS}} NOT NULL,
			duration_us     INTEGER NOT NULL DEFAULT 0,
			record          TEXT NOT NULL,
			context         TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE INDEX rule_evaluations_shipment ON rule_evaluations (shipment_id, evaluated_at)`,
		`CREATE INDEX rule_evaluations_primary ON rule_evaluations (primary_rule, evaluated_at)`,
		`CREATE TABLE rule_hits (
			rule_id     TEXT NOT NULL,
			day         TEXT NOT NULL,
			matched     {{BIGINT}} NOT NULL DEFAULT 0,
			primary_hits {{BIGINT}} NOT NULL DEFAULT 0,
			suppressed  {{BIGINT}} NOT NULL DEFAULT 0,
			shadow      {{BIGINT}} NOT NULL DEFAULT 0,
			errors      {{BIGINT}} NOT NULL DEFAULT 0,
			last_hit_at {{TS}},
			PRIMARY KEY (rule_id, day)
		)`,
		`CREATE TABLE rule_backtests (
			id               TEXT PRIMARY KEY,
			status           TEXT NOT NULL,
			from_at          {{TS}},
			to_at            {{TS}},
			baseline_version {{BIGINT}} NOT NULL,
			baseline_hash    TEXT NOT NULL,
			candidate_hash   TEXT NOT NULL,
			candidate        TEXT NOT NULL,
			processed        {{BIGINT}} NOT NULL DEFAULT 0,
			position_at      {{TS}},
			report           TEXT NOT NULL DEFAULT '',
			error            TEXT NOT NULL DEFAULT '',
			cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
			created_by       TEXT NOT NULL,
			created_at       {{TS}} NOT NULL,
			started_at       {{TS}},
			finished_at      {{TS}},
			heartbeat_at     {{TS}}
		)`,
	), DropTables("rule_backtests", "rule_hits", "rule_evaluations", "rules_active", "rulesets", "rule_lists", "rule_versions", "rules"))
}
