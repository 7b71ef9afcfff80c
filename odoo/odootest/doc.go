// Package odootest is an Odoo server emulator for tests and demos: real HTTP
// on a real port, answering /xmlrpc/2/common, /xmlrpc/2/object (and, for the
// version 19 profile, JSON-2 at /json/2/<model>/<method> and /web/version)
// the way Odoo 16–19 do, byte for byte where the project's reference
// (odoo-api.md) gives the bytes: CPython's marshaller framing per version,
// faults answered with HTTP 200, False for empty values, the exact fault
// strings, login cooldown, "None"/recordset marshalling traps after commit.
//
// It exists because no real Odoo can run where Yardmaster is tested, and a
// mock of our own client would only test the client against itself. The
// emulator holds an in-memory ORM for the models the connector uses
// (res.partner, res.users, crm.team, sale.order, stock.picking,
// mail.activity, mail.activity.type, mail.message, ir.model, ir.model.data,
// helpdesk.ticket (switchable), project.task, ...) with Odoo's domain
// operators, ordering, write_date tracking and deterministic demo data sized
// for benchmarks (tens of thousands of pickings), plus fault injection:
// latency, downtime (502/503), connection resets, serialization failures,
// access errors, and "committed, then failed" answers.
//
// Use New(t) in tests or Start(Options{...}) elsewhere; `yardmaster
// odoo-sim` serves one for demos. The package imports nothing of
// Yardmaster, so any package's tests can use it.
package odootest
