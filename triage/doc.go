// Package triage turns classified shipment events into a work queue people
// can run: cases with owners, SLA clocks, priorities and a history, and
// actions on Odoo that a person approves and a worker executes exactly
// once.
//
// It exists because a rule match is not yet work. Someone has to own the
// exception, answer it in time, decide what to change in Odoo, and be able
// to show afterwards who did what and why. Alerting tools stop at the
// alert (Alertmanager calls human responses out of scope) or bolt the
// queue on with weak approvals and no SLA; this package is the queue.
//
// The pieces:
//
//   - Stage (stage.go): the intake pipeline stage after rules. Inside the
//     batch transaction it upserts one case per fingerprint (shipment +
//     category, or the rule's grouping keys; min_count within a window
//     before a case opens), records each event and its evaluation on the
//     case timeline, escalates severity, auto-resolves on delivery,
//     reopens on a new match, wakes snooze-until-next-event cases,
//     proposes the rule's actions and groups disruptions.
//   - Lifecycle (lifecycle.go): open → acknowledged → resolved | dismissed
//     (with reason codes), snooze until a time and/or the next event,
//     assignment to a user or team, comments with @mentions, bulk
//     operations on ids or a filter — one code path, set-wise writes.
//   - SLA and priority (sla.go, priority.go, calendar.go): respond-by and
//     resolve-by clocks from the rule or severity defaults, optionally in
//     business hours; at-risk and breach bands with escalation; a score
//     whose components are stored for the console.
//   - Actions (actions.go, execute.go, executor.go): proposals from rules,
//     people and the AI; previews; approval with four-eyes; execution by a
//     worker through the outbox with a stable idempotency key; retries and
//     person-driven retry of final failures.
//   - Sweeps (sweeps.go): time conditions as synthetic events, and the
//     clock sweep for snoozes and SLA bands.
//   - Disruptions (disruption.go), outbound Standard Webhooks with a
//     dead-letter list (webhooks.go), account-user scoping (access.go),
//     listing, detail and stats (list.go).
//
// Every mutation runs in one transaction through a changeset (changes.go)
// that also writes the timeline, one audit entry per case or action change
// or external call, the outbound deliveries and the outbox jobs, with
// multi-row statements — so 5,000 cases are acknowledged in one request
// without 5,000 round trips. See docs/triage.md.
package triage
