package migrations

// Every event writes its shipment row, and every index on intake_shipments
// costs it an index entry. intake_shipments_carrier_tn duplicated the
// (ck, generation) key (ck is carrier:tracking_number), intake_shipments_picking
// served no query, and intake_shipments_order indexed the empty reference
// of every shipment that has none (most of them): it now holds only the
// shipments with a reference, which are the only ones a filter on one finds.
func init() {
	Migrations.MustRegister(Up(
		`DROP INDEX IF EXISTS intake_shipments_carrier_tn`,
		`DROP INDEX IF EXISTS intake_shipments_picking`,
		`DROP INDEX IF EXISTS intake_shipments_order`,
		`CREATE INDEX intake_shipments_order ON intake_shipments (order_ref) WHERE order_ref <> ''`,
	), Up(
		`DROP INDEX IF EXISTS intake_shipments_order`,
		`CREATE INDEX intake_shipments_order ON intake_shipments (order_ref)`,
		`CREATE INDEX intake_shipments_picking ON intake_shipments (picking_ref)`,
		`CREATE INDEX intake_shipments_carrier_tn ON intake_shipments (carrier, tracking_number)`,
	))
}
