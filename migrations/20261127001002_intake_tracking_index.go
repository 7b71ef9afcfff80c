package migrations

// Look-ups by tracking number alone (a customer service agent rarely knows
// the carrier slug) need their own index; the (carrier, tracking_number)
// one serves only queries that name both.
func init() {
	Migrations.MustRegister(Up(
		`CREATE INDEX intake_shipments_tracking ON intake_shipments (tracking_number)`,
	), Up(`DROP INDEX IF EXISTS intake_shipments_tracking`))
}
