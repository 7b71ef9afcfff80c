package migrations

// Intake: sources and their credentials, raw payloads, provider delivery ids
// for dedup, canonical events (with the shipment state as of each event),
// shipments, and the unmapped-code tally.
func init() {
	Migrations.MustRegister(Up(
		`CREATE TABLE intake_sources (
			id          TEXT PRIMARY KEY,
			name        TEXT NOT NULL UNIQUE,
			kind        TEXT NOT NULL,
			status      TEXT NOT NULL,
			rate_limit  DOUBLE PRECISION NOT NULL DEFAULT 0,
			settings    TEXT NOT NULL DEFAULT '{}',
			created_at  {{TS}} NOT NULL,
			updated_at  {{TS}} NOT NULL,
			disabled_at {{TS}}
		)`,
		`CREATE TABLE intake_source_credentials (
			id         TEXT PRIMARY KEY,
			source_id  TEXT NOT NULL REFERENCES intake_sources (id) ON DELETE CASCADE,
			sealed     TEXT NOT NULL DEFAULT '',
			token_hash TEXT,
			created_at {{TS}} NOT NULL,
			expires_at {{TS}}
		)`,
		`CREATE INDEX intake_source_credentials_source ON intake_source_credentials (source_id, created_at)`,
		`CREATE UNIQUE INDEX intake_source_credentials_token ON intake_source_credentials (token_hash) WHERE token_hash IS NOT NULL`,
		`CREATE TABLE intake_payloads (
			id           TEXT PRIMARY KEY,
			source       TEXT NOT NULL,
			delivery_id  TEXT NOT NULL DEFAULT '',
			received_at  {{TS}} NOT NULL,
			content_type TEXT NOT NULL DEFAULT '',
			headers      TEXT NOT NULL DEFAULT '{}',
			body         {{BLOB}},
			body_hash    TEXT NOT NULL,
			size         INTEGER NOT NULL,
			event_count  INTEGER NOT NULL DEFAULT 0,
			rejected     INTEGER NOT NULL DEFAULT 0
		)`,
		`CREATE INDEX intake_payloads_received ON intake_payloads (received_at)`,
		`CREATE TABLE intake_deliveries (
			key         TEXT PRIMARY KEY,
			received_at {{TS}} NOT NULL,
			payload_id  TEXT NOT NULL DEFAULT '',
			result      TEXT NOT NULL DEFAULT '{}'
		)`,
		`CREATE INDEX intake_deliveries_received ON intake_deliveries (received_at)`,
		`CREATE TABLE intake_shipments (
			id                    TEXT PRIMARY KEY,
			ck                    TEXT NOT NULL,
			carrier               TEXT NOT NULL,
			tracking_number       TEXT NOT NULL,
			generation            INTEGER NOT NULL,
			status                TEXT NOT NULL DEFAULT '',
			status_at             {{TS}},
			first_seen_at         {{TS}} NOT NULL,
			last_event_at         {{TS}},
			last_physical_scan_at {{TS}},
			promised_delivery     {{TS}},
			estimated_delivery    {{TS}},
			open_exceptions       INTEGER NOT NULL DEFAULT 0,
			order_ref             TEXT NOT NULL DEFAULT '',
			picking_ref           TEXT NOT NULL DEFAULT '',
			event_count           INTEGER NOT NULL DEFAULT 0,
			updated_at            {{TS}} NOT NULL,
			state                 TEXT NOT NULL,
			UNIQUE (ck, generation)
		)`,
		`CREATE INDEX intake_shipments_carrier_tn ON intake_shipments (carrier, tracking_number)`,
		`CREATE INDEX intake_shipments_status ON intake_shipments (status, last_physical_scan_at)`,
		`CREATE INDEX intake_shipments_order ON intake_shipments (order_ref)`,
		`CREATE INDEX intake_shipments_picking ON intake_shipments (picking_ref)`,
		`CREATE TABLE intake_events (
			id              TEXT PRIMARY KEY,
			dkey            TEXT NOT NULL UNIQUE,
			source          TEXT NOT NULL,
			shipment_id     TEXT NOT NULL,
			carrier         TEXT NOT NULL,
			tracking_number TEXT NOT NULL,
			status          TEXT NOT NULL DEFAULT '',
			reason          TEXT NOT NULL DEFAULT '',
			activity        TEXT NOT NULL DEFAULT '',
			occurred_at     {{TS}} NOT NULL,
			received_at     {{TS}} NOT NULL,
			unmapped        BOOLEAN NOT NULL DEFAULT FALSE,
			synthetic       BOOLEAN NOT NULL DEFAULT FALSE,
			payload_id      TEXT NOT NULL DEFAULT '',
			doc             TEXT NOT NULL,
			shipment_state  TEXT NOT NULL,
			change          TEXT NOT NULL DEFAULT '{}'
		)`,
		`CREATE INDEX intake_events_shipment ON intake_events (shipment_id, occurred_at)`,
		`CREATE INDEX intake_events_source ON intake_events (source, id)`,
		`CREATE TABLE intake_unmapped (
			source        TEXT NOT NULL,
			code_table    TEXT NOT NULL,
			code          TEXT NOT NULL,
			events        INTEGER NOT NULL DEFAULT 0,
			unmapped      INTEGER NOT NULL DEFAULT 0,
			sample_text   TEXT NOT NULL DEFAULT '',
			last_event_id TEXT NOT NULL DEFAULT '',
			first_seen_at {{TS}} NOT NULL,
			last_seen_at  {{TS}} NOT NULL,
			PRIMARY KEY (source, code_table, code)
		)`,
	), DropTables("intake_unmapped", "intake_events", "intake_shipments", "intake_deliveries", "intake_payloads",
		"intake_source_credentials", "intake_sources"))
}
