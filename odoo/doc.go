// Package odoo connects Yardmaster to Odoo: a client over XML-RPC (Odoo
// 16-18, via github.com/kolo/xmlrpc) and JSON-2 (Odoo 19+) behind one
// interface, with typed errors from Odoo's fault codes, per-call timeouts,
// jittered retries of what is safe to retry, a circuit breaker and a
// process-wide rate limit; the executors of the four write-back actions
// (idempotent through a marker, previewable); and the local mirror of
// pickings, orders, customers, salespeople and teams that rules enrichment
// reads without ever calling Odoo on the event path.
//
// The package stands alone: it imports only internal plumbing (db, queue,
// metrics, ids) and bun, never intake, rules, triage or web. Those packages
// declare the small interfaces they need and internal/app plugs this one in.
// See docs/odoo.md for the operator and integrator view.
package odoo
