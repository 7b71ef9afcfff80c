package migrations

import (
	"context"
	"strings"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/migrate"
)

// Triage: cases (with their SLA clocks, priority and snooze state), the
// shipments and search terms of each case, the case timeline, pending
// min_count candidates, comments, proposed and executed actions, the
// account-user → customer mapping, and outbound webhook subscriptions and
// deliveries (the dead-letter list is the deliveries in state "dead").
//
// The queue listing at 100,000 open cases is served by the indexes that
// start with a filter column and end in (bucket, priority DESC, id DESC):
// each filter reads its rows already in queue order, so a page is a range
// scan and never a sort. bucket is "queue" (open, acknowledged), "snoozed"
// or "closed" (resolved, dismissed).
func init() {
	Migrations.MustRegister(triageUp(
		`CREATE TABLE triage_cases (
			id                    TEXT PRIMARY KEY,
			kind                  TEXT NOT NULL,
			fingerprint           TEXT NOT NULL,
			state                 TEXT NOT NULL,
			bucket                TEXT NOT NULL,
			title                 TEXT NOT NULL,
			category              TEXT NOT NULL DEFAULT '',
			reason                TEXT NOT NULL DEFAULT '',
			severity              TEXT NOT NULL,
			initial_severity      TEXT NOT NULL,
			queue                 TEXT NOT NULL DEFAULT '',
			team                  TEXT NOT NULL DEFAULT '',
			assignee_id           TEXT NOT NULL DEFAULT '',
			assignee_name         TEXT NOT NULL DEFAULT '',
			shipment_id           TEXT NOT NULL DEFAULT '',
			carrier               TEXT NOT NULL DEFAULT '',
			tracking_number       TEXT NOT NULL DEFAULT '',
			order_ref             TEXT NOT NULL DEFAULT '',
			picking_ref           TEXT NOT NULL DEFAULT '',
			customer_id           TEXT NOT NULL DEFAULT '',
			customer_name         TEXT NOT NULL DEFAULT '',
			customer_tier         TEXT NOT NULL DEFAULT '',
			sales_team            TEXT NOT NULL DEFAULT '',
			salesperson           TEXT NOT NULL DEFAULT '',
			order_value           DOUBLE PRECISION NOT NULL DEFAULT 0,
			currency              TEXT NOT NULL DEFAULT '',
			lane                  TEXT NOT NULL DEFAULT '',
			rule_id               TEXT NOT NULL DEFAULT '',
			rule_version          INTEGER NOT NULL DEFAULT 0,
			ruleset_version       {{BIGINT}} NOT NULL DEFAULT 0,
			tags                  TEXT NOT NULL DEFAULT '[]',
			auto_resolve          BOOLEAN NOT NULL DEFAULT TRUE,
			parent_id             TEXT NOT NULL DEFAULT '',
			child_count           INTEGER NOT NULL DEFAULT 0,
			event_count           INTEGER NOT NULL DEFAULT 0,
			first_event_at        {{TS}},
			last_event_at         {{TS}},
			last_event_id         TEXT NOT NULL DEFAULT '',
			opened_at             {{TS}} NOT NULL,
			acknowledged_at       {{TS}},
			first_acknowledged_at {{TS}},
			closed_at             {{TS}},
			close_reason          TEXT NOT NULL DEFAULT '',
			close_note            TEXT NOT NULL DEFAULT '',
			reopen_count          INTEGER NOT NULL DEFAULT 0,
			snoozed_until         {{TS}},
			snooze_until_event    BOOLEAN NOT NULL DEFAULT FALSE,
			snoozed_at            {{TS}},
			sla_started_at        {{TS}},
			respond_by            {{TS}},
			resolve_by            {{TS}},
			due_at                {{TS}},
			sla_state             TEXT NOT NULL DEFAULT 'none',
			sla_next_check_at     {{TS}},
			respond_breached_at   {{TS}},
			resolve_breached_at   {{TS}},
			business_hours        BOOLEAN NOT NULL DEFAULT FALSE,
			escalation_level      INTEGER NOT NULL DEFAULT 0,
			priority              INTEGER NOT NULL DEFAULT 0,
			priority_components   TEXT NOT NULL DEFAULT '{}',
			eta_risk              DOUBLE PRECISION,
			eta_detail            TEXT NOT NULL DEFAULT '',
			source                TEXT NOT NULL DEFAULT 'rules',
			detail                TEXT NOT NULL DEFAULT '',
			version               INTEGER NOT NULL DEFAULT 1,
			created_at            {{TS}} NOT NULL,
			updated_at            {{TS}} NOT NULL
		)`,
		// One live case per fingerprint; closed cases keep theirs for reopen.
		`CREATE UNIQUE INDEX triage_cases_live_fp ON triage_cases (fingerprint) WHERE bucket <> 'closed'`,
		`CREATE INDEX triage_cases_fp_closed ON triage_cases (fingerprint, closed_at)`,
		`CREATE INDEX triage_cases_queue ON triage_cases (bucket, priority DESC, id DESC)`,
		`CREATE INDEX triage_cases_age ON triage_cases (bucket, id)`,
		`CREATE INDEX triage_cases_due ON triage_cases (bucket, due_at, id)`,
		`CREATE INDEX triage_cases_state ON triage_cases (state, bucket, priority DESC, id DESC)`,
		`CREATE INDEX triage_cases_severity ON triage_cases (severity, bucket, priority DESC, id DESC)`,
		`CREATE INDEX triage_cases_team ON triage_cases (team, bucket, priority DESC, id DESC)`,
		`CREATE INDEX triage_cases_qname ON triage_cases (queue, bucket, priority DESC, id DESC)`,
		`CREATE INDEX triage_cases_assignee ON triage_cases (assignee_id, bucket, priority DESC, id DESC)`,
		`CREATE INDEX triage_cases_carrier ON triage_cases (carrier, bucket, priority DESC, id DESC)`,
		`CREATE INDEX triage_cases_customer ON triage_cases (customer_id, bucket, priority DESC, id DESC)`,
		`CREATE INDEX triage_cases_sales_team ON triage_cases (sales_team, bucket, priority DESC, id DESC)`,
		`CREATE INDEX triage_cases_sla ON triage_cases (sla_state, bucket, priority DESC, id DESC)`,
		`CREATE INDEX triage_cases_parent ON triage_cases (parent_id, bucket)`,
		`CREATE INDEX triage_cases_sla_check ON triage_cases (sla_next_check_at)`,
		`CREATE INDEX triage_cases_snooze ON triage_cases (bucket, snoozed_until)`,
		`CREATE INDEX triage_cases_disruption ON triage_cases (carrier, reason, opened_at)`,
		`CREATE TABLE triage_case_shipments (
			shipment_id TEXT NOT NULL,
			case_id     TEXT NOT NULL,
			PRIMARY KEY (shipment_id, case_id)
		)`,
		`CREATE INDEX triage_case_shipments_case ON triage_case_shipments (case_id)`,
		// Search terms: lower-case tokens of tracking number, order and
		// picking reference and customer name, plus "~" + the reversed
		// tracking number so a search by its last digits is a prefix scan.
		`CREATE TABLE triage_case_terms (
			term    TEXT {{COLLATE_C}} NOT NULL,
			case_id TEXT NOT NULL,
			PRIMARY KEY (term, case_id)
		)`,
		`CREATE INDEX triage_case_terms_case ON triage_case_terms (case_id)`,
		`CREATE TABLE triage_timeline (
			id         TEXT PRIMARY KEY,
			case_id    TEXT NOT NULL,
			at         {{TS}} NOT NULL,
			kind       TEXT NOT NULL,
			event_id   TEXT NOT NULL DEFAULT '',
			actor_type TEXT NOT NULL DEFAULT '',
			actor_id   TEXT NOT NULL DEFAULT '',
			actor_name TEXT NOT NULL DEFAULT '',
			summary    TEXT NOT NULL DEFAULT '',
			data       TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE INDEX triage_timeline_case ON triage_timeline (case_id, id)`,
		`CREATE TABLE triage_candidates (
			fingerprint TEXT NOT NULL,
			event_id    TEXT NOT NULL,
			shipment_id TEXT NOT NULL DEFAULT '',
			at          {{TS}} NOT NULL,
			PRIMARY KEY (fingerprint, event_id)
		)`,
		`CREATE INDEX triage_candidates_at ON triage_candidates (at)`,
		`CREATE TABLE triage_comments (
			id          TEXT PRIMARY KEY,
			case_id     TEXT NOT NULL,
			author_type TEXT NOT NULL,
			author_id   TEXT NOT NULL,
			author_name TEXT NOT NULL DEFAULT '',
			body        TEXT NOT NULL,
			mentions    TEXT NOT NULL DEFAULT '[]',
			created_at  {{TS}} NOT NULL
		)`,
		`CREATE INDEX triage_comments_case ON triage_comments (case_id, id)`,
		`CREATE TABLE triage_actions (
			id               TEXT PRIMARY KEY,
			case_id          TEXT NOT NULL,
			type             TEXT NOT NULL,
			params           TEXT NOT NULL,
			state            TEXT NOT NULL,
			origin           TEXT NOT NULL,
			rule_id          TEXT NOT NULL DEFAULT '',
			rationale        TEXT NOT NULL DEFAULT '',
			dedupe_key       TEXT NOT NULL,
			proposed_by      TEXT NOT NULL,
			proposed_by_name TEXT NOT NULL DEFAULT '',
			decided_by       TEXT NOT NULL DEFAULT '',
			decided_by_name  TEXT NOT NULL DEFAULT '',
			decided_at       {{TS}},
			decision_note    TEXT NOT NULL DEFAULT '',
			preview          TEXT NOT NULL DEFAULT '',
			previewed_at     {{TS}},
			idempotency_key  TEXT NOT NULL,
			run              INTEGER NOT NULL DEFAULT 0,
			attempts         INTEGER NOT NULL DEFAULT 0,
			last_error       TEXT NOT NULL DEFAULT '',
			result           TEXT NOT NULL DEFAULT '',
			started_at       {{TS}},
			finished_at      {{TS}},
			version          INTEGER NOT NULL DEFAULT 1,
			created_at       {{TS}} NOT NULL,
			updated_at       {{TS}} NOT NULL
		)`,
		`CREATE INDEX triage_actions_case ON triage_actions (case_id, id)`,
		`CREATE INDEX triage_actions_state ON triage_actions (state, id)`,
		`CREATE UNIQUE INDEX triage_actions_pending ON triage_actions (case_id, dedupe_key) WHERE state IN ('proposed', 'approved', 'executing')`,
		`CREATE TABLE triage_account_customers (
			user_id     TEXT NOT NULL,
			customer_id TEXT NOT NULL,
			created_at  {{TS}} NOT NULL,
			PRIMARY KEY (user_id, customer_id)
		)`,
		`CREATE TABLE triage_webhook_subscriptions (
			id                 TEXT PRIMARY KEY,
			url                TEXT NOT NULL,
			description        TEXT NOT NULL DEFAULT '',
			events             TEXT NOT NULL,
			secret             TEXT NOT NULL,
			prev_secret        TEXT NOT NULL DEFAULT '',
			prev_expires_at    {{TS}},
			active             BOOLEAN NOT NULL DEFAULT TRUE,
			created_by         TEXT NOT NULL DEFAULT '',
			created_at         {{TS}} NOT NULL,
			updated_at         {{TS}} NOT NULL
		)`,
		`CREATE TABLE triage_webhook_deliveries (
			id              TEXT PRIMARY KEY,
			subscription_id TEXT NOT NULL,
			message_id      TEXT NOT NULL,
			event_type      TEXT NOT NULL,
			subject_id      TEXT NOT NULL DEFAULT '',
			payload         TEXT NOT NULL,
			state           TEXT NOT NULL,
			attempts        INTEGER NOT NULL DEFAULT 0,
			replays         INTEGER NOT NULL DEFAULT 0,
			last_status     INTEGER NOT NULL DEFAULT 0,
			last_error      TEXT NOT NULL DEFAULT '',
			created_at      {{TS}} NOT NULL,
			last_attempt_at {{TS}},
			delivered_at    {{TS}},
			dead_at         {{TS}}
		)`,
		`CREATE INDEX triage_webhook_deliveries_state ON triage_webhook_deliveries (state, id)`,
		`CREATE INDEX triage_webhook_deliveries_sub ON triage_webhook_deliveries (subscription_id, id)`,
	), DropTables("triage_webhook_deliveries", "triage_webhook_subscriptions", "triage_account_customers", "triage_actions",
		"triage_comments", "triage_candidates", "triage_timeline", "triage_case_terms", "triage_case_shipments", "triage_cases"))
}

// triageUp is Up with one more token: {{COLLATE_C}} gives the search-term
// column byte order on PostgreSQL (whatever the database collation), so a
// prefix search is one index range on both databases.
func triageUp(stmts ...string) migrate.MigrationFunc {
	return func(ctx context.Context, db *bun.DB) error {
		c := ""
		if db.Dialect().Name() == dialect.PG {
			c = `COLLATE "C"`
		}
		out := make([]string, len(stmts))
		for i, s := range stmts {
			out[i] = strings.ReplaceAll(s, "{{COLLATE_C}}", c)
		}
		return Exec(ctx, db, out...)
	}
}
