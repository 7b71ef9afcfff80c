// Package digest tells account teams what happened to their customers'
// shipments: scheduled escalation digests (per customer: cases opened,
// escalated, at risk or breached, resolved, what changed since the last
// digest, ETA risk, actions taken and awaiting approval) and immediate
// escalation notices when a case reaches a severity or breaches its SLA.
//
// It exists because account teams do not work the triage queue: they need
// a short, trustworthy summary in their own time zone, through the channel
// they read (email, a chat webhook, the customer's chatter in Odoo), sent
// exactly once per period and never as a flood.
//
// # Who gets what
//
// A Subscription belongs to a subscriber: a Yardmaster user (account users
// manage their own) or a team (the users whose team field names it; admins
// manage those). Its customers are the ones the Odoo mirror links to the
// subscriber — orders whose salesperson has the user's e-mail, or whose
// sales team has the team's name (Directory) — plus customers included by
// hand, minus customers excluded by hand. The schedule is a five-field cron
// expression (or @daily, @weekly, ...) evaluated in the subscriber's IANA
// time zone; a minimum severity filters cases; channels say where it goes.
//
// # Exactly once per period
//
// A periodic tick (internal/queue Every, TaskTick) finds, per enabled
// subscription whose next run is due, the latest scheduled time F at or
// before now. In one transaction it advances the subscription's cursor with
// a compare-and-set on the previous value, inserts the run row (unique per
// subscription, kind and scheduled time) and adds the send job to the outbox
// with the key "digest:<subscription>:<F>" — the outbox ignores a key it
// already holds. Several processes ticking at once therefore produce one run
// and one job. A period is identified by its scheduled time; it covers what
// happened since the end of the previous digest (so a digest missed while
// every process was down is sent once, covering the whole gap, not once per
// missed slot).
//
// The send job freezes the digest's content in the run on its first
// attempt, creates one delivery row per channel target and then works the
// deliveries that are not yet sent; every attempt is recorded with its
// outcome. A failed delivery fails the job, which the queue retries with
// exponential backoff; deliveries already sent are not repeated. SMTP has
// no idempotency key, so a crash between the server's acceptance and our
// commit can send one e-mail twice (at-least-once, like every mail system);
// webhooks carry a stable webhook-id for receivers to deduplicate, and the
// Odoo channel searches for its marker before posting, so it posts once.
//
// # Immediate escalation
//
// Escalations (a case reaching a subscription's immediate severity, or
// breaching its SLA) are read from an EscalationFeed after a stored
// watermark by a periodic job, because triage offers no push hook; they are
// grouped per subscription like Alertmanager groups alerts: the first
// escalation of an idle group waits group_wait for others to join, then one
// notice lists every case not yet notified; later escalations are sent at
// most once per group_interval; a group with nothing new is re-sent after
// repeat_interval while its cases are still escalated. A burst of hundreds
// of escalations in a minute is therefore one or two notices, each listing
// the grouped cases.
//
// The package reads cases through CaseSource, customers through Directory,
// escalations through EscalationFeed and posts to Odoo through OdooPoster:
// small interfaces that internal/app fills with triage, the Odoo mirror and
// the Odoo client, so this package imports neither. See docs/digests.md.
package digest
