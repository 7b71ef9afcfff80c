package migrations

// Every index on a per-event table costs each webhook an index insert.
// rule_evaluations_primary and rule_evaluations_shipment served no query
// (records are read by event id), while pruning by evaluated_at, which had
// no index, scanned the whole table for every slice of 5,000; one index on
// evaluated_at replaces both. intake_events_source served no query either
// (streams and sweeps go by id range).
func init() {
	Migrations.MustRegister(Up(
		`DROP INDEX IF EXISTS rule_evaluations_primary`,
		`DROP INDEX IF EXISTS rule_evaluations_shipment`,
		`CREATE INDEX rule_evaluations_evaluated ON rule_evaluations (evaluated_at)`,
		`DROP INDEX IF EXISTS intake_events_source`,
	), Up(
		`CREATE INDEX intake_events_source ON intake_events (source, id)`,
		`DROP INDEX IF EXISTS rule_evaluations_evaluated`,
		`CREATE INDEX rule_evaluations_shipment ON rule_evaluations (shipment_id, evaluated_at)`,
		`CREATE INDEX rule_evaluations_primary ON rule_evaluations (primary_rule, evaluated_at)`,
	))
}
