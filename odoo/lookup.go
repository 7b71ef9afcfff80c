package odoo

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// LookupKey is what an event knows about its shipment. Matching order: the
// picking reference, then the tracking number (per number of a
// comma-separated carrier_tracking_ref), then the order reference (the
// sale order's name or the customer's own reference).
type LookupKey struct {
	TrackingNumber string
	OrderRef       string
	PickingRef     string
}

// OrderContext is the sale order behind a shipment.
type OrderContext struct {
	ID               int64      `json:"id"`
	Name             string     `json:"name"`
	State            string     `json:"state"`
	ClientOrderRef   string     `json:"client_order_ref,omitempty"`
	AmountTotal      float64    `json:"amount_total"`
	AmountUntaxed    float64    `json:"amount_untaxed"`
	Currency         string     `json:"currency"`
	CommitmentDate   *time.Time `json:"commitment_date,omitempty"` // promised delivery
	DateOrder        *time.Time `json:"date_order,omitempty"`
	SalespersonID    int64      `json:"salesperson_id,omitempty"`
	SalespersonName  string     `json:"salesperson_name,omitempty"`
	SalespersonEmail string     `json:"salesperson_email,omitempty"`
	TeamID           int64      `json:"team_id,omitempty"`
	TeamName         string     `json:"team_name,omitempty"`
	URL              string     `json:"url"`
}

// CustomerContext is the commercial partner (the company) of the order.
type CustomerContext struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Ref       string `json:"ref,omitempty"`
	Email     string `json:"email,omitempty"`
	IsCompany bool   `json:"is_company"`
	Country   string `json:"country,omitempty"` // ISO 3166 alpha-2
	Tier      string `json:"tier,omitempty"`    // from a "Tier: X" partner tag
	// The account owner (the partner's salesperson) and the sales team
	// that has them as a member.
	SalespersonID   int64    `json:"salesperson_id,omitempty"`
	SalespersonName string   `json:"salesperson_name,omitempty"`
	TeamName        string   `json:"team_name,omitempty"`
	Tags            []string `json:"tags,omitempty"`
	URL             string   `json:"url"`
}

// PickingContext is the delivery the event is about.
type PickingContext struct {
	ID              int64      `json:"id"`
	Name            string     `json:"name"`
	State           string     `json:"state"`
	PickingTypeCode string     `json:"picking_type_code"`
	ScheduledDate   *time.Time `json:"scheduled_date,omitempty"`
	DateDeadline    *time.Time `json:"date_deadline,omitempty"`
	DateDone        *time.Time `json:"date_done,omitempty"`
	Carrier         string     `json:"carrier,omitempty"`
	TrackingRefs    []string   `json:"tracking_refs,omitempty"`
	ResponsibleID   int64      `json:"responsible_id,omitempty"`
	URL             string     `json:"url"`
}

// Context is what the mirror knows about one shipment. Picking or Order
// may be nil (a picking without a sale, an order found by reference before
// its delivery exists); Customer is nil only if no partner is known.
type Context struct {
	MatchedBy string           `json:"matched_by"` // picking_ref | tracking_number | order_ref
	Picking   *PickingContext  `json:"picking,omitempty"`
	Order     *OrderContext    `json:"order,omitempty"`
	Customer  *CustomerContext `json:"customer,omitempty"`
}

// Lookup returns the context of one shipment from local tables only (never
// a live Odoo call). No match is ErrNotMirrored.
func (m *Mirror) Lookup(ctx context.Context, idb bun.IDB, k LookupKey) (*Context, error) {
	res, err := m.LookupMany(ctx, idb, []LookupKey{k})
	if err != nil {
		return nil, err
	}
	if res[0] == nil {
		return nil, fmt.Errorf("odoo lookup %+v: %w", k, ErrNotMirrored)
	}
	return res[0], nil
}

// LookupMany resolves a batch set-wise (a few queries whatever the batch
// size), for the intake pipeline's group commit. The result is aligned
// with keys; a nil entry means no match.
func (m *Mirror) LookupMany(ctx context.Context, idb bun.IDB, keys []LookupKey) ([]*Context, error) {
	l := &loader{m: m, idb: idb, pickings: map[int64]*mPicking{}, orders: map[int64]*mOrder{}, partners: map[int64]*mPartner{},
		users: map[int64]*mUser{}, teams: map[int64]*mTeam{}, tags: map[int64]string{}}
	var pickRefs, trackRefs, orderRefs []string
	for _, k := range keys {
		if s := strings.TrimSpace(k.PickingRef); s != "" {
			pickRefs = append(pickRefs, s)
		}
		if s := NormalizeTrackingRef(k.TrackingNumber); s != "" {
			trackRefs = append(trackRefs, s)
		}
		if s := strings.TrimSpace(k.OrderRef); s != "" {
			orderRefs = append(orderRefs, s)
		}
	}
	byName := map[string][]*mPicking{}
	if len(pickRefs) > 0 {
		var rows []mPicking
		if err := inChunks(dedup(pickRefs), func(part []string) error {
			var got []mPicking
			if err := idb.NewSelect().Model(&got).Where("name IN (?)", bun.In(part)).Scan(ctx); err != nil {
				return err
			}
			rows = append(rows, got...)
			return nil
		}); err != nil {
			return nil, fmt.Errorf("odoo lookup pickings: %w", err)
		}
		for i := range rows {
			p := l.addPicking(rows[i])
			byName[p.Name] = append(byName[p.Name], p)
		}
	}
	byRef := map[string][]*mPicking{}
	if len(trackRefs) > 0 {
		var refs []mTrackingRef
		if err := inChunks(dedup(trackRefs), func(part []string) error {
			var got []mTrackingRef
			if err := idb.NewSelect().Model(&got).Where("ref IN (?)", bun.In(part)).Scan(ctx); err != nil {
				return err
			}
			refs = append(refs, got...)
			return nil
		}); err != nil {
			return nil, fmt.Errorf("odoo lookup tracking refs: %w", err)
		}
		ids := make([]int64, 0, len(refs))
		for _, r := range refs {
			ids = append(ids, r.PickingID)
		}
		if err := l.loadPickings(ctx, ids); err != nil {
			return nil, err
		}
		for _, r := range refs {
			if p := l.pickings[r.PickingID]; p != nil {
				byRef[r.Ref] = append(byRef[r.Ref], p)
			}
		}
	}
	byOrderRef := map[string][]*mOrder{}
	if len(orderRefs) > 0 {
		if err := inChunks(dedup(orderRefs), func(part []string) error {
			// Two queries, each on its index (an OR would scan the table).
			var rows, byClient []mOrder
			if err := idb.NewSelect().Model(&rows).Where("name IN (?)", bun.In(part)).Scan(ctx); err != nil {
				return err
			}
			if err := idb.NewSelect().Model(&byClient).Where("client_order_ref IN (?)", bun.In(part)).Scan(ctx); err != nil {
				return err
			}
			rows = append(rows, byClient...)
			for i := range rows {
				o := l.addOrder(rows[i])
				byOrderRef[o.Name] = append(byOrderRef[o.Name], o)
				if o.ClientOrderRef != "" && o.ClientOrderRef != o.Name {
					byOrderRef[o.ClientOrderRef] = append(byOrderRef[o.ClientOrderRef], o)
				}
			}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("odoo lookup orders: %w", err)
		}
	}
	// Pick one picking per key, then load everything they point at.
	type choice struct {
		picking *mPicking
		order   *mOrder
		by      string
	}
	choices := make([]choice, len(keys))
	for i, k := range keys {
		var c choice
		if ps := byName[strings.TrimSpace(k.PickingRef)]; len(ps) > 0 {
			c = choice{picking: best(ps), by: "picking_ref"}
		} else if ps := byRef[NormalizeTrackingRef(k.TrackingNumber)]; len(ps) > 0 && NormalizeTrackingRef(k.TrackingNumber) != "" {
			c = choice{picking: best(ps), by: "tracking_number"}
		} else if os := byOrderRef[strings.TrimSpace(k.OrderRef)]; len(os) > 0 {
			c = choice{order: bestOrder(os, strings.TrimSpace(k.OrderRef)), by: "order_ref"}
		}
		choices[i] = c
	}
	var orderIDs []int64
	for _, c := range choices {
		if c.picking != nil && c.picking.SaleID != 0 {
			orderIDs = append(orderIDs, c.picking.SaleID)
		}
	}
	if err := l.loadOrders(ctx, orderIDs); err != nil {
		return nil, err
	}
	if err := l.loadRelated(ctx); err != nil {
		return nil, err
	}
	out := make([]*Context, len(keys))
	for i, c := range choices {
		if c.picking == nil && c.order == nil {
			continue
		}
		res := &Context{MatchedBy: c.by}
		order := c.order
		if c.picking != nil {
			res.Picking = l.pickingContext(c.picking)
			if order == nil && c.picking.SaleID != 0 {
				order = l.orders[c.picking.SaleID]
			}
		}
		partner := int64(0)
		if order != nil {
			res.Order = l.orderContext(order)
			partner = order.PartnerID
		} else if c.picking != nil {
			partner = c.picking.PartnerID
		}
		res.Customer = l.customerContext(partner)
		out[i] = res
	}
	return out, nil
}

// best prefers live outgoing deliveries, then the newest.
func best(ps []*mPicking) *mPicking {
	rank := func(p *mPicking) int {
		r := 0
		if p.State != "cancel" {
			r += 2
		}
		if p.PickingTypeCode == "outgoing" {
			r++
		}
		return r
	}
	return slices.MaxFunc(ps, func(a, b *mPicking) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return int(a.ID - b.ID)
	})
}

// bestOrder prefers a name match over a customer-reference match, then
// the newest order.
func bestOrder(os []*mOrder, ref string) *mOrder {
	return slices.MaxFunc(os, func(a, b *mOrder) int {
		if (a.Name == ref) != (b.Name == ref) {
			if a.Name == ref {
				return 1
			}
			return -1
		}
		return int(a.ID - b.ID)
	})
}

func dedup(xs []string) []string {
	slices.Sort(xs)
	return slices.Compact(xs)
}

func inChunks[T any](xs []T, fn func([]T) error) error {
	for start := 0; start < len(xs); start += chunk {
		if err := fn(xs[start:min(start+chunk, len(xs))]); err != nil {
			return err
		}
	}
	return nil
}

// loader fetches the related rows of a batch once.
type loader struct {
	m        *Mirror
	idb      bun.IDB
	pickings map[int64]*mPicking
	orders   map[int64]*mOrder
	partners map[int64]*mPartner
	users    map[int64]*mUser
	teams    map[int64]*mTeam
	tags     map[int64]string
	major    int
}

func (l *loader) addPicking(p mPicking) *mPicking {
	if old := l.pickings[p.ID]; old != nil {
		return old
	}
	l.pickings[p.ID] = &p
	return &p
}

func (l *loader) addOrder(o mOrder) *mOrder {
	if old := l.orders[o.ID]; old != nil {
		return old
	}
	l.orders[o.ID] = &o
	return &o
}

func missing[V any](have map[int64]V, ids []int64) []int64 {
	var out []int64
	for _, id := range ids {
		if _, ok := have[id]; !ok && id != 0 {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (l *loader) loadPickings(ctx context.Context, ids []int64) error {
	return inChunks(missing(l.pickings, ids), func(part []int64) error {
		var rows []mPicking
		if err := l.idb.NewSelect().Model(&rows).Where("id IN (?)", bun.In(part)).Scan(ctx); err != nil {
			return fmt.Errorf("odoo lookup pickings: %w", err)
		}
		for _, r := range rows {
			l.addPicking(r)
		}
		return nil
	})
}

func (l *loader) loadOrders(ctx context.Context, ids []int64) error {
	return inChunks(missing(l.orders, ids), func(part []int64) error {
		var rows []mOrder
		if err := l.idb.NewSelect().Model(&rows).Where("id IN (?)", bun.In(part)).Scan(ctx); err != nil {
			return fmt.Errorf("odoo lookup orders: %w", err)
		}
		for _, r := range rows {
			l.addOrder(r)
		}
		return nil
	})
}

// loadRelated fetches partners (and their commercial partners), users,
// teams and tags of the loaded orders and pickings.
func (l *loader) loadRelated(ctx context.Context) error {
	var partnerIDs, userIDs []int64
	for _, o := range l.orders {
		partnerIDs = append(partnerIDs, o.PartnerID)
		userIDs = append(userIDs, o.SalespersonID)
	}
	for _, p := range l.pickings {
		partnerIDs = append(partnerIDs, p.PartnerID)
	}
	loadPartners := func(ids []int64) error {
		return inChunks(missing(l.partners, ids), func(part []int64) error {
			var rows []mPartner
			if err := l.idb.NewSelect().Model(&rows).Where("id IN (?)", bun.In(part)).Scan(ctx); err != nil {
				return fmt.Errorf("odoo lookup partners: %w", err)
			}
			for i := range rows {
				l.partners[rows[i].ID] = &rows[i]
			}
			return nil
		})
	}
	if err := loadPartners(partnerIDs); err != nil {
		return err
	}
	var commercial []int64
	var tagIDs []int64
	for _, p := range l.partners {
		commercial = append(commercial, p.CommercialID)
	}
	if err := loadPartners(commercial); err != nil {
		return err
	}
	for _, p := range l.partners {
		tagIDs = append(tagIDs, splitIDs(p.TagIDs)...)
		userIDs = append(userIDs, p.SalespersonID)
	}
	if err := inChunks(missing(l.users, userIDs), func(part []int64) error {
		var rows []mUser
		if err := l.idb.NewSelect().Model(&rows).Where("id IN (?)", bun.In(part)).Scan(ctx); err != nil {
			return fmt.Errorf("odoo lookup users: %w", err)
		}
		for i := range rows {
			l.users[rows[i].ID] = &rows[i]
		}
		return nil
	}); err != nil {
		return err
	}
	// Teams are few: load them all once per batch (orders name their team;
	// customers get the team their salesperson belongs to).
	if len(l.orders) > 0 || len(l.partners) > 0 {
		var rows []mTeam
		if err := l.idb.NewSelect().Model(&rows).Order("id").Scan(ctx); err != nil {
			return fmt.Errorf("odoo lookup teams: %w", err)
		}
		for i := range rows {
			l.teams[rows[i].ID] = &rows[i]
		}
	}
	if err := inChunks(missing(l.tags, tagIDs), func(part []int64) error {
		var rows []mTag
		if err := l.idb.NewSelect().Model(&rows).Where("id IN (?)", bun.In(part)).Scan(ctx); err != nil {
			return fmt.Errorf("odoo lookup tags: %w", err)
		}
		for _, r := range rows {
			l.tags[r.ID] = r.Name
		}
		return nil
	}); err != nil {
		return err
	}
	var major string
	if err := l.idb.NewSelect().Model((*mMeta)(nil)).Column("value").Where("key = ?", metaServerMajor).Scan(ctx, &major); err == nil {
		l.major, _ = strconv.Atoi(major)
	}
	return nil
}

// teamOf returns the active team listing the user as a member (lowest id).
func (l *loader) teamOf(user int64) *mTeam {
	if user == 0 {
		return nil
	}
	var best *mTeam
	for _, t := range l.teams {
		if t.Active && slices.Contains(splitIDs(t.MemberIDs), user) && (best == nil || t.ID < best.ID) {
			best = t
		}
	}
	return best
}

// url links to a record in Odoo's web client (/odoo/<model>/<id> from 18,
// /web#... before).
func (l *loader) url(model string, id int64) string {
	base := strings.TrimRight(l.m.o.BaseURL, "/")
	if l.major >= 18 {
		return fmt.Sprintf("%s/odoo/%s/%d", base, model, id)
	}
	return fmt.Sprintf("%s/web#id=%d&model=%s&view_type=form", base, id, model)
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func (l *loader) pickingContext(p *mPicking) *PickingContext {
	return &PickingContext{ID: p.ID, Name: p.Name, State: p.State, PickingTypeCode: p.PickingTypeCode, ScheduledDate: utcPtr(p.ScheduledDate),
		DateDeadline: utcPtr(p.DateDeadline), DateDone: utcPtr(p.DateDone), Carrier: p.Carrier, TrackingRefs: TrackingRefs(p.TrackingRef),
		ResponsibleID: p.UserID, URL: l.url("stock.picking", p.ID)}
}

func (l *loader) orderContext(o *mOrder) *OrderContext {
	oc := &OrderContext{ID: o.ID, Name: o.Name, State: o.State, ClientOrderRef: o.ClientOrderRef, AmountTotal: o.AmountTotal,
		AmountUntaxed: o.AmountUntaxed, Currency: o.Currency, CommitmentDate: utcPtr(o.CommitmentDate), DateOrder: utcPtr(o.DateOrder),
		SalespersonID: o.SalespersonID, TeamID: o.TeamID, URL: l.url("sale.order", o.ID)}
	if u := l.users[o.SalespersonID]; u != nil {
		oc.SalespersonName, oc.SalespersonEmail = u.Name, u.Email
	}
	if t := l.teams[o.TeamID]; t != nil {
		oc.TeamName = t.Name
	}
	return oc
}

func (l *loader) customerContext(partnerID int64) *CustomerContext {
	p := l.partners[partnerID]
	if p == nil {
		return nil
	}
	if c := l.partners[p.CommercialID]; c != nil {
		p = c
	}
	cc := &CustomerContext{ID: p.ID, Name: p.Name, Ref: p.Ref, Email: p.Email, IsCompany: p.IsCompany, Country: p.CountryCode,
		SalespersonID: p.SalespersonID, URL: l.url("res.partner", p.ID)}
	if u := l.users[p.SalespersonID]; u != nil {
		cc.SalespersonName = u.Name
	}
	if t := l.teamOf(p.SalespersonID); t != nil {
		cc.TeamName = t.Name
	}
	prefix := l.m.o.TierTagPrefix
	for _, id := range splitIDs(p.TagIDs) {
		name, ok := l.tags[id]
		if !ok {
			continue
		}
		cc.Tags = append(cc.Tags, name)
		if cc.Tier == "" && strings.HasPrefix(strings.ToLower(name), strings.ToLower(prefix)) {
			cc.Tier = strings.TrimSpace(name[len(prefix):])
		}
	}
	return cc
}

// Resolver returns an offline Resolver over the mirror, for Preview.
func (m *Mirror) Resolver(idb bun.IDB) Resolver { return &mirrorResolver{m: m, idb: idb} }

type mirrorResolver struct {
	m   *Mirror
	idb bun.IDB
}

func (r *mirrorResolver) ResolveTarget(ctx context.Context, a Action) (Target, error) {
	var t Target
	l := &loader{m: r.m, idb: r.idb, pickings: map[int64]*mPicking{}, orders: map[int64]*mOrder{}, partners: map[int64]*mPartner{},
		users: map[int64]*mUser{}, teams: map[int64]*mTeam{}, tags: map[int64]string{}}
	var pk *mPicking
	switch {
	case a.PickingID != 0:
		if err := l.loadPickings(ctx, []int64{a.PickingID}); err != nil {
			return t, err
		}
		pk = l.pickings[a.PickingID]
	case a.PickingRef != "" || (a.TrackingNumber != "" && a.OrderID == 0 && a.OrderRef == ""):
		res, err := r.m.LookupMany(ctx, r.idb, []LookupKey{{PickingRef: a.PickingRef, TrackingNumber: a.TrackingNumber}})
		if err != nil {
			return t, err
		}
		if res[0] != nil && res[0].Picking != nil {
			if err := l.loadPickings(ctx, []int64{res[0].Picking.ID}); err != nil {
				return t, err
			}
			pk = l.pickings[res[0].Picking.ID]
		}
	}
	if pk == nil && (a.PickingID != 0 || a.PickingRef != "") {
		return t, fmt.Errorf("%w: picking %s: %w", ErrTargetNotFound, orDefault(a.PickingRef, fmt.Sprint(a.PickingID)), ErrNotMirrored)
	}
	if pk != nil {
		t.Picking = &TargetPicking{ID: pk.ID, Name: pk.Name, State: pk.State, ScheduledDate: utcPtr(pk.ScheduledDate), PartnerID: pk.PartnerID, UserID: pk.UserID, OrderID: pk.SaleID}
	}
	var oid int64
	switch {
	case a.OrderID != 0:
		oid = a.OrderID
	case a.OrderRef != "":
		res, err := r.m.LookupMany(ctx, r.idb, []LookupKey{{OrderRef: a.OrderRef}})
		if err != nil {
			return t, err
		}
		if res[0] == nil || res[0].Order == nil {
			return t, fmt.Errorf("%w: sale order %s: %w", ErrTargetNotFound, a.OrderRef, ErrNotMirrored)
		}
		oid = res[0].Order.ID
	case pk != nil:
		oid = pk.SaleID
	}
	if oid != 0 {
		if err := l.loadOrders(ctx, []int64{oid}); err != nil {
			return t, err
		}
		if err := l.loadRelated(ctx); err != nil {
			return t, err
		}
		o := l.orders[oid]
		if o == nil && a.OrderID != 0 {
			return t, fmt.Errorf("%w: sale order %d: %w", ErrTargetNotFound, a.OrderID, ErrNotMirrored)
		}
		if o != nil {
			t.Order = &TargetOrder{ID: o.ID, Name: o.Name, PartnerID: o.PartnerID, SalespersonID: o.SalespersonID}
			if u := l.users[o.SalespersonID]; u != nil {
				t.Order.Salesperson = u.Name
			}
		}
	}
	if t.Picking == nil && t.Order == nil {
		return t, fmt.Errorf("%w: no picking or order matches the action: %w", ErrTargetNotFound, ErrNotMirrored)
	}
	return t, nil
}

func (r *mirrorResolver) metaInt(ctx context.Context, key string) (int64, error) {
	v, _, err := getMeta(ctx, r.idb, key)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

func (r *mirrorResolver) ModelID(ctx context.Context, model string) (int64, error) {
	return r.metaInt(ctx, metaModelPrefix+model)
}

func (r *mirrorResolver) XMLID(ctx context.Context, xmlid string) (int64, error) {
	return r.metaInt(ctx, metaXMLIDPrefix+xmlid)
}

func (r *mirrorResolver) HelpdeskInstalled(ctx context.Context) (bool, error) {
	v, _, err := getMeta(ctx, r.idb, metaHelpdesk)
	if err != nil {
		return false, err
	}
	return strconv.ParseBool(v)
}
