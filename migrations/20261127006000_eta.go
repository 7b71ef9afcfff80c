package migrations

// ETA risk: trained live models, newest last. Each retraining stores one row
// (the model's own versioned binary form) so every process can load the
// latest and a bad model can be traced to its training run.
func init() {
	Migrations.MustRegister(Up(
		`CREATE TABLE eta_models (
			id          TEXT PRIMARY KEY,
			kind        TEXT NOT NULL,
			trained_at  {{TS}} NOT NULL,
			shipments   {{BIGINT}} NOT NULL,
			skipped     {{BIGINT}} NOT NULL,
			took_ms     {{BIGINT}} NOT NULL,
			model       {{BLOB}} NOT NULL,
			created_at  {{TS}} NOT NULL
		)`,
		`CREATE INDEX eta_models_kind ON eta_models (kind, id)`,
	), DropTables("eta_models"))
}
