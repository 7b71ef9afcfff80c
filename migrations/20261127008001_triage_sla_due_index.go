package migrations

// "What breaches next": the queue filtered by SLA state and sorted by due
// date. Without this index SQLite walks the due-date index and reads every
// queued case to check its SLA state (620 ms on 87,000 cases with none
// breached, in BenchmarkConsolePages).
func init() {
	Migrations.MustRegister(Up(
		`CREATE INDEX triage_cases_sla_due ON triage_cases (sla_state, bucket, due_at, id)`,
	), Up(
		`DROP INDEX IF EXISTS triage_cases_sla_due`,
	))
}
