package digestodoo

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/triage/digest"
)

// Directory reads customer links from the Odoo mirror tables
// (migrations/20261127004001_odoo_mirror.go).
type Directory struct {
	idb bun.IDB
}

var _ digest.Directory = (*Directory)(nil)

// NewDirectory returns a directory over the mirror in idb (the read pool).
func NewDirectory(idb bun.IDB) *Directory { return &Directory{idb: idb} }

type partnerRow struct {
	ID            int64  `bun:"id"`
	Name          string `bun:"name"`
	DisplayName   string `bun:"display_name"`
	CommercialID  int64  `bun:"commercial_id"`
	SalespersonID int64  `bun:"salesperson_id"`
}

type orderLink struct {
	PartnerID     int64 `bun:"partner_id"`
	SalespersonID int64 `bun:"salesperson_id"`
}

// chunk bounds IN lists (SQLite allows 32,766 parameters; PostgreSQL 65,535).
const chunk = 5000

// CustomersOf returns the customers linked to the account.
func (d *Directory) CustomersOf(ctx context.Context, a digest.Account) ([]digest.Customer, error) {
	var emails []string
	for _, e := range a.Emails {
		if e = strings.ToLower(strings.TrimSpace(e)); e != "" {
			emails = append(emails, e)
		}
	}
	var users, teams []int64
	if len(emails) > 0 {
		err := d.idb.NewSelect().Table("odoo_users").Column("id").Where("active = ?", true).
			WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
				return q.Where("LOWER(email) IN (?)", bun.In(emails)).WhereOr("LOWER(login) IN (?)", bun.In(emails))
			}).Scan(ctx, &users)
		if err != nil {
			return nil, fmt.Errorf("odoo mirror users: %w", err)
		}
	}
	if t := strings.TrimSpace(a.Team); t != "" {
		if err := d.idb.NewSelect().Table("odoo_teams").Column("id").Where("active = ? AND LOWER(name) = ?", true, strings.ToLower(t)).
			Scan(ctx, &teams); err != nil {
			return nil, fmt.Errorf("odoo mirror teams: %w", err)
		}
	}
	if len(users) == 0 && len(teams) == 0 {
		return nil, nil
	}
	// Partners of the orders, with the order's salesperson as a fallback.
	var links []orderLink
	q := d.idb.NewSelect().Table("odoo_orders").Column("partner_id", "salesperson_id").Where("state <> ?", "cancel").
		WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			if len(users) > 0 {
				q = q.WhereOr("salesperson_id IN (?)", bun.In(users))
			}
			if len(teams) > 0 {
				q = q.WhereOr("team_id IN (?)", bun.In(teams))
			}
			return q
		}).OrderExpr("date_order DESC NULLS LAST, id DESC")
	if err := q.Scan(ctx, &links); err != nil {
		return nil, fmt.Errorf("odoo mirror orders: %w", err)
	}
	fallback := map[int64]int64{}
	var partnerIDs []int64
	for _, l := range links {
		if l.PartnerID == 0 {
			continue
		}
		if _, ok := fallback[l.PartnerID]; !ok {
			fallback[l.PartnerID] = l.SalespersonID
			partnerIDs = append(partnerIDs, l.PartnerID)
		}
	}
	if len(users) > 0 {
		var own []int64
		if err := d.idb.NewSelect().Table("odoo_partners").Column("id").Where("active = ? AND salesperson_id IN (?)", true, bun.In(users)).
			Scan(ctx, &own); err != nil {
			return nil, fmt.Errorf("odoo mirror partners: %w", err)
		}
		for _, id := range own {
			if _, ok := fallback[id]; !ok {
				fallback[id] = 0
				partnerIDs = append(partnerIDs, id)
			}
		}
	}
	parts, err := d.partners(ctx, partnerIDs)
	if err != nil {
		return nil, err
	}
	// Map each partner to its commercial partner (the company).
	commercial := map[int64]int64{}
	var companies []int64
	for _, p := range parts {
		c := p.ID
		if p.CommercialID > 0 {
			c = p.CommercialID
		}
		if _, ok := commercial[c]; !ok {
			companies = append(companies, c)
		}
		if old, ok := commercial[c]; !ok || old == 0 {
			commercial[c] = fallback[p.ID]
		}
	}
	comps, err := d.partners(ctx, companies)
	if err != nil {
		return nil, err
	}
	out := make([]digest.Customer, 0, len(comps))
	for _, p := range comps {
		out = append(out, customer(p, commercial[p.ID]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Customers resolves ids to customers; unknown ids are left out.
func (d *Directory) Customers(ctx context.Context, ids []string) ([]digest.Customer, error) {
	var nums []int64
	for _, id := range ids {
		if n, err := strconv.ParseInt(id, 10, 64); err == nil && n > 0 {
			nums = append(nums, n)
		}
	}
	parts, err := d.partners(ctx, nums)
	if err != nil {
		return nil, err
	}
	out := make([]digest.Customer, 0, len(parts))
	for _, p := range parts {
		out = append(out, customer(p, 0))
	}
	return out, nil
}

func customer(p partnerRow, fallbackSalesperson int64) digest.Customer {
	name := p.DisplayName
	if name == "" {
		name = p.Name
	}
	sp := p.SalespersonID
	if sp == 0 {
		sp = fallbackSalesperson
	}
	return digest.Customer{ID: strconv.FormatInt(p.ID, 10), Name: name, SalespersonOdooID: sp}
}

func (d *Directory) partners(ctx context.Context, ids []int64) ([]partnerRow, error) {
	var out []partnerRow
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		var rows []partnerRow
		if err := d.idb.NewSelect().Table("odoo_partners").Column("id", "name", "display_name", "commercial_id", "salesperson_id").
			Where("id IN (?)", bun.In(part)).Scan(ctx, &rows); err != nil {
			return nil, fmt.Errorf("odoo mirror partners: %w", err)
		}
		out = append(out, rows...)
	}
	return out, nil
}
