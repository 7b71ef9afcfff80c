package migrations

// AI: the cache of validated model answers (keyed by the hash of the
// redacted prompt, so it never holds personal data), the latest summary of
// each case, and the anomaly detector's persisted state.
func init() {
	Migrations.MustRegister(Up(
		`CREATE TABLE ai_answer_cache (
			key           TEXT PRIMARY KEY,
			model         TEXT NOT NULL,
			answer        TEXT NOT NULL,
			prompt_tokens INTEGER NOT NULL DEFAULT 0,
			output_tokens INTEGER NOT NULL DEFAULT 0,
			created_at    {{TS}} NOT NULL
		)`,
		`CREATE INDEX ai_answer_cache_created ON ai_answer_cache (created_at)`,
		`CREATE TABLE ai_case_summaries (
			case_id         TEXT PRIMARY KEY,
			generated_by    TEXT NOT NULL,
			model           TEXT NOT NULL DEFAULT '',
			facts_hash      TEXT NOT NULL,
			fallback_reason TEXT NOT NULL DEFAULT '',
			likely_cause    TEXT NOT NULL,
			next_step_type  TEXT NOT NULL DEFAULT '',
			summary         TEXT NOT NULL,
			created_at      {{TS}} NOT NULL,
			updated_at      {{TS}} NOT NULL
		)`,
		`CREATE TABLE ai_anomaly_state (
			id         TEXT PRIMARY KEY,
			version    {{BIGINT}} NOT NULL,
			last_bucket {{TS}},
			snapshot   TEXT NOT NULL,
			updated_at {{TS}} NOT NULL
		)`,
	), DropTables("ai_anomaly_state", "ai_case_summaries", "ai_answer_cache"))
}
