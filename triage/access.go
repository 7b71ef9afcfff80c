package triage

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/auth"
)

// Account users (role account) read only the cases of their customers.
// A customer is theirs when either
//
//   - an admin mapped the Odoo customer (res.partner id) to the user
//     (PUT /api/v1/users/{id}/customers, table triage_account_customers), or
//   - the user's team (users.team) equals the case's sales team, which
//     comes from the Odoo mirror (the order's or customer's sales team).
//
// Everyone with cases:read_all (viewers, managers, analysts, admins) reads
// every case. A case an account user may not read is reported as not
// found, so its existence does not leak.

// accessScope limits what a caller sees; nil means everything.
type accessScope struct {
	customers []string
	team      string
}

func (a *accessScope) allows(c *Case) bool {
	if a == nil {
		return true
	}
	if a.team != "" && strings.EqualFold(c.SalesTeam, a.team) {
		return true
	}
	for _, id := range a.customers {
		if c.CustomerID == id {
			return true
		}
	}
	return false
}

// apply restricts a case query to the scope.
func (a *accessScope) apply(q *bun.SelectQuery) *bun.SelectQuery {
	if a == nil {
		return q
	}
	if len(a.customers) == 0 && a.team == "" {
		return q.Where("1 = 0")
	}
	return q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
		if len(a.customers) > 0 {
			q = q.WhereOr("customer_id IN (?)", bun.In(a.customers))
		}
		if a.team != "" {
			q = q.WhereOr("sales_team = ?", a.team)
		}
		return q
	})
}

// scopeOf returns the caller's scope. Background work (no principal) sees
// everything.
func (s *Service) scopeOf(ctx context.Context, idb bun.IDB) (*accessScope, error) {
	p, ok := auth.From(ctx)
	if !ok || p.Can(auth.PermCasesReadAll) {
		return nil, nil
	}
	if !p.Can(auth.PermCasesRead) {
		return nil, apperr.Forbidden("your role (" + string(p.Role) + ") cannot read cases")
	}
	uid := p.UserID
	if uid == "" && p.Kind == "user" {
		uid = p.ID
	}
	sc := &accessScope{}
	if uid == "" {
		return sc, nil // an account token without a user sees nothing
	}
	custs, err := customersOf(ctx, idb, uid)
	if err != nil {
		return nil, err
	}
	sc.customers = custs
	u, err := auth.GetUser(ctx, idb, uid)
	if err == nil && !u.Disabled {
		sc.team = strings.TrimSpace(u.Team)
	} else if err != nil && apperr.KindOf(err) != apperr.KindNotFound {
		return nil, err
	}
	return sc, nil
}

// checkCaseAccess reports a case the caller may not read as not found.
func (s *Service) checkCaseAccess(ctx context.Context, idb bun.IDB, c *Case) error {
	sc, err := s.scopeOf(ctx, idb)
	if err != nil {
		return err
	}
	if !sc.allows(c) {
		return apperr.NotFound("case "+c.ID, nil)
	}
	return nil
}

func customersOf(ctx context.Context, idb bun.IDB, userID string) ([]string, error) {
	var out []string
	if err := idb.NewSelect().Model((*accountCustomer)(nil)).Column("customer_id").Where("user_id = ?", userID).
		OrderExpr("customer_id").Scan(ctx, &out); err != nil {
		return nil, fmt.Errorf("customers of user %s: %w", userID, err)
	}
	return out, nil
}

// AccountCustomers returns the customer ids mapped to a user.
func (s *Service) AccountCustomers(ctx context.Context, userID string) ([]string, error) {
	if _, err := auth.GetUser(ctx, s.db.Read, userID); err != nil {
		return nil, err
	}
	out, err := customersOf(ctx, s.db.Read, userID)
	if out == nil {
		out = []string{}
	}
	return out, err
}

// SetAccountCustomers replaces the customers mapped to a user (Odoo
// res.partner ids as strings).
func (s *Service) SetAccountCustomers(ctx context.Context, userID string, customerIDs []string) ([]string, error) {
	var fe []apperr.FieldError
	clean := map[string]bool{}
	for i, c := range customerIDs {
		c = strings.TrimSpace(c)
		if c == "" || len(c) > 64 {
			fe = append(fe, apperr.FieldError{Field: fmt.Sprintf("customer_ids[%d]", i), Message: "1-64 characters"})
			continue
		}
		clean[c] = true
	}
	if len(clean) > 10000 {
		fe = append(fe, apperr.FieldError{Field: "customer_ids", Message: "at most 10000"})
	}
	if len(fe) > 0 {
		return nil, apperr.Invalid("invalid customer ids", fe...)
	}
	list := make([]string, 0, len(clean))
	for c := range clean {
		list = append(list, c)
	}
	sort.Strings(list)
	err := s.db.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if _, err := auth.GetUser(ctx, tx, userID); err != nil {
			return err
		}
		before, err := customersOf(ctx, tx, userID)
		if err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*accountCustomer)(nil)).Where("user_id = ?", userID).Exec(ctx); err != nil {
			return fmt.Errorf("clear account customers: %w", err)
		}
		now := s.now().UTC()
		rows := make([]accountCustomer, 0, len(list))
		for _, c := range list {
			rows = append(rows, accountCustomer{UserID: userID, CustomerID: c, CreatedAt: now})
		}
		for i := 0; i < len(rows); i += 1000 {
			part := rows[i:min(i+1000, len(rows))]
			if _, err := tx.NewInsert().Model(&part).Exec(ctx); err != nil {
				return fmt.Errorf("store account customers: %w", err)
			}
		}
		_, err = audit.Append(ctx, tx, now, audit.Record{Action: "user.customers_set", SubjectType: "user", SubjectID: userID,
			Before: before, After: list})
		return err
	})
	if err != nil {
		return nil, err
	}
	return list, nil
}
