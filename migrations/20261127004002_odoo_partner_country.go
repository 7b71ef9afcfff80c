package migrations

// The customer's country (ISO 3166 alpha-2) for rules (customer.country).
func init() {
	Migrations.MustRegister(Up(
		`ALTER TABLE odoo_partners ADD COLUMN country_code TEXT NOT NULL DEFAULT ''`,
	), Up(
		`ALTER TABLE odoo_partners DROP COLUMN country_code`,
	))
}
