package triage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/db"
)

func isPG(idb bun.IDB) bool { return idb.Dialect().Name().String() == "pg" }

// lockCases loads cases by id for update (FOR UPDATE on PostgreSQL; SQLite
// has one writer), in id order so concurrent writers lock in one order.
func lockCases(ctx context.Context, tx bun.IDB, caseIDs []string) (map[string]*Case, error) {
	out := make(map[string]*Case, len(caseIDs))
	ids := append([]string(nil), caseIDs...)
	sort.Strings(ids)
	for _, part := range chunkStrings(ids, 500) {
		var rows []*Case
		q := tx.NewSelect().Model(&rows).Where("id IN (?)", bun.In(part)).OrderExpr("id")
		if isPG(tx) {
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx); err != nil {
			return nil, fmt.Errorf("load cases: %w", err)
		}
		for _, c := range rows {
			out[c.ID] = c
		}
		track(ctx, rows...)
	}
	return out, nil
}

// lockCase loads one case for update.
func lockCase(ctx context.Context, tx bun.IDB, id string) (*Case, error) {
	m, err := lockCases(ctx, tx, []string{id})
	if err != nil {
		return nil, err
	}
	c, ok := m[id]
	if !ok {
		return nil, apperr.NotFound("case "+id, sql.ErrNoRows)
	}
	return c, nil
}

// getCase reads one case.
func getCase(ctx context.Context, idb bun.IDB, id string) (*Case, error) {
	c := new(Case)
	if err := idb.NewSelect().Model(c).Where("id = ?", id).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, apperr.NotFound("case "+id, err)
		}
		return nil, fmt.Errorf("get case %s: %w", id, err)
	}
	return c, nil
}

// casesOfShipments returns the cases linked to the shipments whose bucket
// is one of buckets, locked for update.
func casesOfShipments(ctx context.Context, tx bun.IDB, shipmentIDs []string, buckets ...string) ([]*Case, map[string][]string, error) {
	links := map[string][]string{} // shipment → case ids
	var caseIDs []string
	seen := map[string]bool{}
	for _, part := range chunkStrings(shipmentIDs, 500) {
		var rows []caseShipment
		var err error
		if isPG(tx) {
			// Every event of every batch asks this: prepared once per
			// connection, it is not parsed and planned again each time.
			err = db.ScanPrepared(ctx, tx, &rows, `SELECT l.shipment_id, l.case_id FROM triage_case_shipments AS l `+
				`JOIN triage_cases AS c ON c.id = l.case_id WHERE l.shipment_id = ANY($1::text[]) AND c.bucket = ANY($2::text[]) `+
				`ORDER BY l.shipment_id, l.case_id`, part, buckets)
		} else {
			// The links drive the join: SQLite's planner, without
			// statistics, otherwise starts from every case in the buckets
			// (an index on bucket) and probes the links with each — work
			// growing with the open cases rather than with the batch.
			// CROSS JOIN fixes SQLite's loop order.
			err = tx.NewSelect().TableExpr("triage_case_shipments AS l").Join("CROSS JOIN triage_cases AS c ON c.id = l.case_id").
				ColumnExpr("l.shipment_id, l.case_id").
				Where("l.shipment_id IN (?)", bun.In(part)).Where("c.bucket IN (?)", bun.In(buckets)).
				OrderExpr("l.shipment_id, l.case_id").Scan(ctx, &rows)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("load cases of shipments: %w", err)
		}
		for _, r := range rows {
			links[r.ShipmentID] = append(links[r.ShipmentID], r.CaseID)
			if !seen[r.CaseID] {
				seen[r.CaseID] = true
				caseIDs = append(caseIDs, r.CaseID)
			}
		}
	}
	m, err := lockCases(ctx, tx, caseIDs)
	if err != nil {
		return nil, nil, err
	}
	out := make([]*Case, 0, len(m))
	for _, id := range caseIDs {
		if c := m[id]; c != nil {
			out = append(out, c)
		}
	}
	return out, links, nil
}

// casesByFingerprint returns, per fingerprint, the live case or else the
// most recently closed one (closed after closedAfter); with lock, locked
// for update and tracked for writing, else only read.
func casesByFingerprint(ctx context.Context, tx bun.IDB, fps []string, closedAfter time.Time, lock bool) (map[string]*Case, error) {
	out := map[string]*Case{}
	sort.Strings(fps)
	for _, part := range chunkStrings(fps, 500) {
		var rows []*Case
		q := tx.NewSelect().Model(&rows).Where("fingerprint IN (?)", bun.In(part)).
			Where("(bucket <> ? OR closed_at > ?)", BucketClosed, closedAfter.UTC()).OrderExpr("id")
		if lock && isPG(tx) {
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx); err != nil {
			return nil, fmt.Errorf("load cases by fingerprint: %w", err)
		}
		if lock {
			track(ctx, rows...)
		}
		for _, c := range rows {
			cur := out[c.Fingerprint]
			switch {
			case cur == nil:
				out[c.Fingerprint] = c
			case cur.Live():
			case c.Live():
				out[c.Fingerprint] = c
			case c.ClosedAt != nil && (cur.ClosedAt == nil || c.ClosedAt.After(*cur.ClosedAt)):
				out[c.Fingerprint] = c
			}
		}
	}
	return out, nil
}
