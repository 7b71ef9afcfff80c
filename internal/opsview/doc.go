// Package opsview computes the read models behind the console's
// operations and scorecard pages: how late events arrive (event lag) and
// how carriers and lanes perform (on-time rate, exceptions by reason,
// transit time and current dwell).
//
// These are aggregates over intake's stored events and shipment states,
// read-only. They live here rather than in web so handlers stay free of
// SQL, and rather than in intake because they are reporting, not intake:
// intake stays the owner of its tables and opsview only reads them.
// Scorecards decode every recently active shipment state, so they are
// computed in the background and cached (Reports.TTL); a page never waits
// for more than the first computation.
package opsview
