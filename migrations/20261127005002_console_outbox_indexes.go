package migrations

// Indexes for the console's operations page, so it stays fast while the
// outbox holds a large backlog (e.g. 100,000 summaries waiting): the
// oldest job not done, and the failing and dead jobs (a partial index: the
// few rows with an error).
func init() {
	Migrations.MustRegister(Up(
		`CREATE INDEX outbox_open_created ON outbox (done_at, created_at)`,
		`CREATE INDEX outbox_failing ON outbox (created_at) WHERE done_at IS NULL AND last_error <> ''`,
	), Up(
		`DROP INDEX IF EXISTS outbox_failing`,
		`DROP INDEX IF EXISTS outbox_open_created`,
	))
}
