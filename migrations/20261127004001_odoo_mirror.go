package migrations

// The Odoo mirror: local copies of the records rules enrichment reads
// (never a live call on the event path), plus the sync bookkeeping.
// Odoo ids are the primary keys; seen_gen marks rows seen by the latest
// full reconcile so rows deleted in Odoo can be removed.
func init() {
	Migrations.MustRegister(Up(
		`CREATE TABLE odoo_partners (
			id             {{BIGINT}} PRIMARY KEY,
			name           TEXT NOT NULL DEFAULT '',
			display_name   TEXT NOT NULL DEFAULT '',
			email          TEXT NOT NULL DEFAULT '',
			phone          TEXT NOT NULL DEFAULT '',
			ref            TEXT NOT NULL DEFAULT '',
			is_company     BOOLEAN NOT NULL DEFAULT FALSE,
			active         BOOLEAN NOT NULL DEFAULT TRUE,
			parent_id      {{BIGINT}} NOT NULL DEFAULT 0,
			commercial_id  {{BIGINT}} NOT NULL DEFAULT 0,
			salesperson_id {{BIGINT}} NOT NULL DEFAULT 0,
			tag_ids        TEXT NOT NULL DEFAULT '',
			write_date     {{TS}},
			synced_at      {{TS}} NOT NULL,
			seen_gen       {{BIGINT}} NOT NULL DEFAULT 0
		)`,
		`CREATE TABLE odoo_users (
			id         {{BIGINT}} PRIMARY KEY,
			name       TEXT NOT NULL DEFAULT '',
			login      TEXT NOT NULL DEFAULT '',
			email      TEXT NOT NULL DEFAULT '',
			partner_id {{BIGINT}} NOT NULL DEFAULT 0,
			active     BOOLEAN NOT NULL DEFAULT TRUE,
			write_date {{TS}},
			synced_at  {{TS}} NOT NULL,
			seen_gen   {{BIGINT}} NOT NULL DEFAULT 0
		)`,
		`CREATE TABLE odoo_teams (
			id         {{BIGINT}} PRIMARY KEY,
			name       TEXT NOT NULL DEFAULT '',
			leader_id  {{BIGINT}} NOT NULL DEFAULT 0,
			member_ids TEXT NOT NULL DEFAULT '',
			active     BOOLEAN NOT NULL DEFAULT TRUE,
			write_date {{TS}},
			synced_at  {{TS}} NOT NULL,
			seen_gen   {{BIGINT}} NOT NULL DEFAULT 0
		)`,
		`CREATE TABLE odoo_tags (
			id         {{BIGINT}} PRIMARY KEY,
			name       TEXT NOT NULL DEFAULT '',
			write_date {{TS}},
			synced_at  {{TS}} NOT NULL,
			seen_gen   {{BIGINT}} NOT NULL DEFAULT 0
		)`,
		`CREATE TABLE odoo_orders (
			id                  {{BIGINT}} PRIMARY KEY,
			name                TEXT NOT NULL DEFAULT '',
			state               TEXT NOT NULL DEFAULT '',
			client_order_ref    TEXT NOT NULL DEFAULT '',
			partner_id          {{BIGINT}} NOT NULL DEFAULT 0,
			shipping_partner_id {{BIGINT}} NOT NULL DEFAULT 0,
			salesperson_id      {{BIGINT}} NOT NULL DEFAULT 0,
			team_id             {{BIGINT}} NOT NULL DEFAULT 0,
			currency            TEXT NOT NULL DEFAULT '',
			amount_total        DOUBLE PRECISION NOT NULL DEFAULT 0,
			amount_untaxed      DOUBLE PRECISION NOT NULL DEFAULT 0,
			commitment_date     {{TS}},
			date_order          {{TS}},
			write_date          {{TS}},
			synced_at           {{TS}} NOT NULL,
			seen_gen            {{BIGINT}} NOT NULL DEFAULT 0
		)`,
		`CREATE INDEX odoo_orders_name ON odoo_orders (name)`,
		`CREATE INDEX odoo_orders_client_ref ON odoo_orders (client_order_ref)`,
		`CREATE TABLE odoo_pickings (
			id                {{BIGINT}} PRIMARY KEY,
			name              TEXT NOT NULL DEFAULT '',
			origin            TEXT NOT NULL DEFAULT '',
			state             TEXT NOT NULL DEFAULT '',
			picking_type_code TEXT NOT NULL DEFAULT '',
			scheduled_date    {{TS}},
			date_deadline     {{TS}},
			date_done         {{TS}},
			partner_id        {{BIGINT}} NOT NULL DEFAULT 0,
			user_id           {{BIGINT}} NOT NULL DEFAULT 0,
			sale_id           {{BIGINT}} NOT NULL DEFAULT 0,
			carrier           TEXT NOT NULL DEFAULT '',
			tracking_ref      TEXT NOT NULL DEFAULT '',
			write_date        {{TS}},
			synced_at         {{TS}} NOT NULL,
			seen_gen          {{BIGINT}} NOT NULL DEFAULT 0
		)`,
		`CREATE INDEX odoo_pickings_name ON odoo_pickings (name)`,
		`CREATE INDEX odoo_pickings_sale ON odoo_pickings (sale_id)`,
		// One row per tracking number in carrier_tracking_ref (several,
		// comma-separated, are common), normalized (upper case, no spaces).
		`CREATE TABLE odoo_tracking_refs (
			ref        TEXT NOT NULL,
			picking_id {{BIGINT}} NOT NULL,
			PRIMARY KEY (ref, picking_id)
		)`,
		`CREATE INDEX odoo_tracking_refs_picking ON odoo_tracking_refs (picking_id)`,
		`CREATE TABLE odoo_sync_state (
			model            TEXT PRIMARY KEY,
			cursor_at        {{TS}},
			generation       {{BIGINT}} NOT NULL DEFAULT 0,
			records          {{BIGINT}} NOT NULL DEFAULT 0,
			last_run_records {{BIGINT}} NOT NULL DEFAULT 0,
			last_run_at      {{TS}},
			last_success_at  {{TS}},
			last_full_at     {{TS}},
			last_error       TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE TABLE odoo_meta (
			key        TEXT PRIMARY KEY,
			value      TEXT NOT NULL,
			updated_at {{TS}} NOT NULL
		)`,
	), DropTables("odoo_meta", "odoo_sync_state", "odoo_tracking_refs", "odoo_pickings", "odoo_orders", "odoo_tags", "odoo_teams", "odoo_users", "odoo_partners"))
}
