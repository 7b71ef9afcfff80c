package triage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/ids"
	"github.com/yardmaster/yardmaster/rules"
)

// SeedSpec shapes seeded cases.
type SeedSpec struct {
	N         int
	Now       time.Time
	Customers int // distinct customers (default 500)
	Users     []string
	Seed      uint64
	// Mutate adjusts case i before it is stored.
	Mutate func(i int, c *Case)
}

var seedCarriers = []string{"ups", "fedex", "dhl_express", "usps", "dpd"}
var seedTeams = []string{"exceptions", "customer-service", "carrier-claims", "trade-compliance", "warehouse", "key-accounts"}
var seedCategories = []string{"carrier_exception", "recipient_exception", "late_delivery", "stale_in_transit", "customs_exception", "edd_slipped"}

// SeedCases stores n realistic live cases directly (no pipeline), with
// their search terms and shipment links, the way the stage writes them:
// for tests and benchmarks that need a large queue quickly.
func SeedCases(ctx context.Context, d *db.DB, p Policy, spec SeedSpec) ([]string, error) {
	if spec.Customers <= 0 {
		spec.Customers = 500
	}
	r := rand.New(rand.NewPCG(spec.Seed, 42))
	svc, err := New(Options{DB: d, Policy: p, Now: func() time.Time { return spec.Now }})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, spec.N)
	const chunk = 1000
	for start := 0; start < spec.N; start += chunk {
		end := min(start+chunk, spec.N)
		err := d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			ch := svc.newChanges(ctx, spec.Now)
			for i := start; i < end; i++ {
				opened := spec.Now.Add(-time.Duration(r.IntN(7*24*3600)) * time.Second)
				sev := rules.Severities[r.IntN(4)]
				carrier := seedCarriers[r.IntN(len(seedCarriers))]
				cust := r.IntN(spec.Customers) + 1
				c := &Case{ID: ids.At(opened), Kind: KindShipment, State: StateOpen, Category: seedCategories[r.IntN(len(seedCategories))],
					Severity: sev, InitialSeverity: sev, Team: seedTeams[r.IntN(len(seedTeams))], Carrier: carrier,
					ShipmentID: ids.At(opened), TrackingNumber: fmt.Sprintf("1Z%04d%010d", r.IntN(10000), i),
					OrderRef: fmt.Sprintf("S%06d", i), PickingRef: fmt.Sprintf("WH/OUT/%06d", i),
					CustomerID: fmt.Sprint(cust), CustomerName: fmt.Sprintf("Customer %d GmbH", cust), SalesTeam: fmt.Sprintf("team-%d", cust%7),
					OrderValue: float64(r.IntN(20000)), Currency: "EUR", OpenedAt: opened, Source: "rules", Version: 1,
					CreatedAt: opened, UpdatedAt: opened, AutoResolve: true, EventCount: 1 + r.IntN(5)}
				c.Queue = c.Team
				c.Reason = c.Category
				c.Fingerprint = "s:" + c.ShipmentID + ":" + c.Category
				c.Title = caseTitle(c)
				if r.IntN(4) == 0 {
					c.CustomerTier = []string{"gold", "silver", "platinum"}[r.IntN(3)]
				}
				if len(spec.Users) > 0 && r.IntN(3) == 0 {
					c.AssigneeID = spec.Users[r.IntN(len(spec.Users))]
				}
				if r.IntN(5) == 0 {
					c.State = StateAcknowledged
					a := opened.Add(time.Hour)
					c.AcknowledgedAt, c.FirstAcknowledgedAt = &a, &a
				}
				svc.startClocks(c, p.slaFor(c.Severity, rules.SLA{}), opened)
				if spec.Mutate != nil {
					spec.Mutate(i, c)
				}
				c.Bucket = bucketOf(c.State)
				svc.evaluateSLA(c, spec.Now)
				c.PriorityComponents = p.computePriority(c, spec.Now)
				c.Priority = c.PriorityComponents.Score
				ch.add(c)
				ch.links = append(ch.links, caseShipment{ShipmentID: c.ShipmentID, CaseID: c.ID})
				out = append(out, c.ID)
			}
			return ch.flush(ctx, tx)
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ListPlan is SQLite's EXPLAIN QUERY PLAN of List's query for f, one
// detail per line, so tests can pin how the queue is read.
func (s *Service) ListPlan(ctx context.Context, f ListFilter) (string, error) {
	if err := f.Validate(); err != nil {
		return "", err
	}
	var rows []*Case
	q, err := s.listQuery(ctx, f, &rows)
	if err != nil {
		return "", err
	}
	res, err := s.db.Read.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q.String())
	if err != nil {
		return "", err
	}
	defer res.Close()
	var out []string
	for res.Next() {
		var id, parent, notused int
		var detail string
		if err := res.Scan(&id, &parent, &notused, &detail); err != nil {
			return "", err
		}
		out = append(out, detail)
	}
	return strings.Join(out, "\n"), res.Err()
}
