package odoo_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/testenv"
	"github.com/yardmaster/yardmaster/odoo"
	"github.com/yardmaster/yardmaster/odoo/odootest"
)

// clock is a settable time source shared by the emulator and the mirror.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func newMirror(t *testing.T, d *db.DB, c *odoo.Client, now func() time.Time) *odoo.Mirror {
	t.Helper()
	m, err := odoo.NewMirror(odoo.MirrorOptions{Client: c, DB: d, Now: now, BatchSize: 50})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func fetched(rep odoo.SyncReport) map[string]int {
	out := map[string]int{}
	for _, m := range rep.Models {
		out[m.Model] = m.Fetched
	}
	return out
}

func TestMirrorSyncAndLookup(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		srv := odootest.New(t)
		c := newClient(t, srv, odoo.ProtocolXMLRPC)
		m := newMirror(t, d, c, time.Now)
		ctx := context.Background()
		var progress []string
		rep, err := m.Sync(ctx, odoo.SyncOptions{Count: true, Progress: func(model string, done, total int) {
			if done > total {
				t.Errorf("progress %s %d/%d", model, done, total)
			}
			progress = append(progress, model)
		}})
		if err != nil {
			t.Fatal(err)
		}
		for _, model := range odoo.MirroredModels {
			rows, _ := srv.Records(model, nil, "id")
			if got := fetched(rep)[model]; got != len(rows) {
				t.Errorf("%s: fetched %d, Odoo has %d", model, got, len(rows))
			}
		}
		if len(progress) < len(odoo.MirroredModels) {
			t.Errorf("progress calls %v", progress)
		}
		demo := srv.Demo()
		orders, _ := srv.Records("sale.order", []any{[]any{"id", "=", demo.OrderID}}, "amount_total", "commitment_date", "client_order_ref", "team_id", "user_id")
		so := orders[0]
		partners, _ := srv.Records("res.partner", []any{[]any{"id", "=", demo.CustomerID}}, "name", "category_id")
		got, err := m.Lookup(ctx, d.Read, odoo.LookupKey{TrackingNumber: " " + demo.TrackingRef[:4] + " " + demo.TrackingRef[4:] + " "})
		if err != nil {
			t.Fatal(err)
		}
		commit, _ := odoo.ParseDatetime(so["commitment_date"].(string))
		wantOrder := &odoo.OrderContext{ID: demo.OrderID, Name: demo.OrderName, State: "sale", AmountTotal: so["amount_total"].(float64),
			Currency: "USD", CommitmentDate: &commit, SalespersonID: demo.SalespersonID, SalespersonName: so["user_id"].([]any)[1].(string),
			TeamID: so["team_id"].([]any)[0].(int64), TeamName: so["team_id"].([]any)[1].(string), URL: srv.URL() + "/web#id=" + itoa(demo.OrderID) + "&model=sale.order&view_type=form"}
		if cur := got.Order.Currency; cur == "EUR" {
			wantOrder.Currency = "EUR"
		}
		if ref, ok := so["client_order_ref"].(string); ok {
			wantOrder.ClientOrderRef = ref
		}
		ignore := cmp.FilterPath(func(p cmp.Path) bool {
			n := p.Last().String()
			return n == ".DateOrder" || n == ".AmountUntaxed" || n == ".SalespersonEmail"
		}, cmp.Ignore())
		if diff := cmp.Diff(wantOrder, got.Order, ignore); diff != "" {
			t.Errorf("order context (-want +got):\n%s", diff)
		}
		if got.MatchedBy != "tracking_number" || got.Picking.ID != demo.PickingID || got.Picking.Name != demo.PickingName || got.Picking.State != "assigned" {
			t.Errorf("picking context %+v", got.Picking)
		}
		if got.Customer == nil || got.Customer.ID != demo.CustomerID || got.Customer.Name != partners[0]["name"] || got.Customer.Tier == "" || !got.Customer.IsCompany {
			t.Errorf("customer %+v", got.Customer)
		}
		if cu := got.Customer; len(cu.Country) != 2 || cu.SalespersonID != demo.SalespersonID || cu.SalespersonName != wantOrder.SalespersonName || cu.TeamName != wantOrder.TeamName {
			t.Errorf("customer account: %+v (order team %q)", cu, wantOrder.TeamName)
		}
		// By picking reference, by order name and customer reference, per
		// number of a multi-number carrier_tracking_ref.
		byPick, err := m.Lookup(ctx, d.Read, odoo.LookupKey{PickingRef: demo.PickingName, TrackingNumber: "nope"})
		if err != nil || byPick.MatchedBy != "picking_ref" || byPick.Order.ID != demo.OrderID {
			t.Errorf("by picking ref: %+v %v", byPick, err)
		}
		byOrder, err := m.Lookup(ctx, d.Read, odoo.LookupKey{OrderRef: demo.OrderName})
		if err != nil || byOrder.MatchedBy != "order_ref" || byOrder.Order.ID != demo.OrderID || byOrder.Picking != nil {
			t.Errorf("by order ref: %+v %v", byOrder, err)
		}
		if ref := wantOrder.ClientOrderRef; ref != "" {
			if byClient, err := m.Lookup(ctx, d.Read, odoo.LookupKey{OrderRef: ref}); err != nil || byClient.Order.ID != demo.OrderID {
				t.Errorf("by customer reference: %+v %v", byClient, err)
			}
		}
		for _, ref := range demo.MultiRefs {
			res, err := m.Lookup(ctx, d.Read, odoo.LookupKey{TrackingNumber: ref})
			if err != nil || res.Picking.ID != demo.MultiRefPickingID || len(res.Picking.TrackingRefs) != 2 {
				t.Errorf("multi-ref %s: %+v %v", ref, res, err)
			}
		}
		_, err = m.Lookup(ctx, d.Read, odoo.LookupKey{TrackingNumber: "1ZNOTKNOWN"})
		if !errors.Is(err, odoo.ErrNotMirrored) || apperr.KindOf(err) != apperr.KindNotFound {
			t.Errorf("miss: %v", err)
		}
		many, err := m.LookupMany(ctx, d.Read, []odoo.LookupKey{{TrackingNumber: "x"}, {TrackingNumber: demo.TrackingRef}, {}, {OrderRef: demo.OrderName}})
		if err != nil || many[0] != nil || many[1] == nil || many[2] != nil || many[3] == nil || many[1].Order.ID != many[3].Order.ID {
			t.Errorf("LookupMany alignment: %v %v", many, err)
		}
		st, err := m.Status(ctx, d.Read)
		if err != nil || len(st) != len(odoo.MirroredModels) || st[5].Model != "stock.picking" || st[5].Records == 0 || st[5].LastFullAt == nil {
			t.Errorf("status %+v %v", st, err)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestMirrorIncrementalAndReconcile(t *testing.T) {
	testenv.EachDB(t, func(t *testing.T, d *db.DB) {
		clk := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
		srv := odootest.New(t, odootest.Options{Now: clk.Now})
		c := newClient(t, srv, odoo.ProtocolXMLRPC)
		m := newMirror(t, d, c, clk.Now)
		ctx := context.Background()
		if _, err := m.Sync(ctx, odoo.SyncOptions{}); err != nil {
			t.Fatal(err)
		}
		demo := srv.Demo()
		// Nothing changed: nothing transferred.
		clk.Set(clk.Now().Add(time.Hour))
		srv.ResetStats()
		rep, err := m.Sync(ctx, odoo.SyncOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for model, n := range fetched(rep) {
			if n != 0 {
				t.Errorf("unchanged %s: fetched %d", model, n)
			}
		}
		if got := srv.Stats().Records["stock.picking"]; got != 0 {
			t.Errorf("emulator returned %d pickings for an idle sync", got)
		}
		// A new tracking number on the demo picking.
		if err := srv.Write("stock.picking", []int64{demo.PickingID}, map[string]any{"carrier_tracking_ref": demo.TrackingRef + ", 1ZNEWREF0001"}); err != nil {
			t.Fatal(err)
		}
		clk.Set(clk.Now().Add(time.Hour))
		rep, err = m.Sync(ctx, odoo.SyncOptions{})
		if err != nil || fetched(rep)["stock.picking"] != 1 || fetched(rep)["sale.order"] != 0 {
			t.Fatalf("after one write: %v %v", fetched(rep), err)
		}
		if res, err := m.Lookup(ctx, d.Read, odoo.LookupKey{TrackingNumber: "1znewref0001"}); err != nil || res.Picking.ID != demo.PickingID {
			t.Errorf("new ref: %+v %v", res, err)
		}
		// A late commit: a transaction that started before the last sync
		// (write_date earlier than its start) but committed after it.
		late := clk.Now().Add(-5 * time.Minute)
		clk.Set(late)
		if err := srv.Write("res.partner", []int64{demo.CustomerID}, map[string]any{"name": "Renamed Late"}); err != nil {
			t.Fatal(err)
		}
		clk.Set(late.Add(2 * time.Hour))
		if _, err := m.Sync(ctx, odoo.SyncOptions{}); err != nil {
			t.Fatal(err)
		}
		if res, _ := m.Lookup(ctx, d.Read, odoo.LookupKey{OrderRef: demo.OrderName}); res.Customer.Name != "Renamed Late" {
			t.Errorf("the overlap must catch late commits: customer %q", res.Customer.Name)
		}
		// Deleted in Odoo: kept by incremental syncs, removed by a full one.
		if err := srv.Unlink("stock.picking", demo.MultiRefPickingID); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Sync(ctx, odoo.SyncOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Lookup(ctx, d.Read, odoo.LookupKey{TrackingNumber: demo.MultiRefs[0]}); err != nil {
			t.Errorf("incremental sync cannot see deletions, the row stays: %v", err)
		}
		rep, err = m.Sync(ctx, odoo.SyncOptions{Full: true, Models: []string{odoo.ModelPickings}})
		if err != nil || len(rep.Models) != 1 || rep.Models[0].Deleted != 1 {
			t.Fatalf("full reconcile: %+v %v", rep, err)
		}
		if _, err := m.Lookup(ctx, d.Read, odoo.LookupKey{TrackingNumber: demo.MultiRefs[1]}); !errors.Is(err, odoo.ErrNotMirrored) {
			t.Errorf("deleted picking still found: %v", err)
		}
		// Archived customers stay in the mirror.
		if err := srv.Write("res.partner", []int64{demo.CustomerID}, map[string]any{"active": false}); err != nil {
			t.Fatal(err)
		}
		clk.Set(clk.Now().Add(time.Hour))
		if _, err := m.Sync(ctx, odoo.SyncOptions{}); err != nil {
			t.Fatal(err)
		}
		if res, err := m.Lookup(ctx, d.Read, odoo.LookupKey{OrderRef: demo.OrderName}); err != nil || res.Customer == nil || res.Customer.ID != demo.CustomerID {
			t.Errorf("archived customer: %+v %v", res, err)
		}
		if _, err := m.Sync(ctx, odoo.SyncOptions{Models: []string{"account.move"}}); !errors.Is(err, odoo.ErrInvalid) {
			t.Errorf("unknown model: %v", err)
		}
	})
}

func TestMirrorSyncFailureKeepsCursor(t *testing.T) {
	d := testenv.DB(t)
	srv := odootest.New(t)
	c := newClient(t, srv, odoo.ProtocolXMLRPC, func(o *odoo.Options) { o.MaxAttempts = 1 })
	m := newMirror(t, d, c, time.Now)
	ctx := context.Background()
	if _, err := m.Sync(ctx, odoo.SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	before, _ := m.Status(ctx, d.Read)
	srv.Inject(odootest.Injection{Model: "sale.order", Method: "search_read", Kind: odootest.HTTP503, Times: 1})
	_, err := m.Sync(ctx, odoo.SyncOptions{})
	if !odoo.IsRetryable(err) {
		t.Fatalf("sync against a failing Odoo: %v", err)
	}
	after, _ := m.Status(ctx, d.Read)
	if after[4].Model != "sale.order" || after[4].LastError == "" || !after[4].Cursor.Equal(*before[4].Cursor) {
		t.Errorf("failed model: before %+v after %+v", before[4], after[4])
	}
}

// TestPreviewFromMirror: previews resolve offline (no Odoo request) and
// show the same steps the live execution runs.
func TestPreviewFromMirror(t *testing.T) {
	d := testenv.DB(t)
	srv := odootest.New(t)
	c := newClient(t, srv, odoo.ProtocolXMLRPC)
	m := newMirror(t, d, c, time.Now)
	ctx := context.Background()
	if _, err := m.Sync(ctx, odoo.SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	x, err := odoo.NewExecutor(odoo.ExecutorOptions{Client: c, Preview: m.Resolver(d.Read), TicketProjectID: 2, Now: func() time.Time { return fixedNow }})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range demoActions(srv.Demo(), "pv") {
		srv.ResetStats()
		plan, err := x.Preview(ctx, a)
		if err != nil {
			t.Fatalf("%s preview: %v", a.Type, err)
		}
		if n := srv.Stats().Requests; n != 0 {
			t.Errorf("%s: preview made %d Odoo requests", a.Type, n)
		}
		res, err := x.Execute(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(plan, res.Plan); diff != "" {
			t.Errorf("%s: mirror preview differs from the executed plan:\n%s", a.Type, diff)
		}
	}
	_, err = x.Preview(ctx, odoo.Action{IdempotencyKey: "k", Type: odoo.ActionPostNote, PickingRef: "WH/OUT/99999", Params: map[string]any{"body": "b"}})
	if !errors.Is(err, odoo.ErrTargetNotFound) || !errors.Is(err, odoo.ErrNotMirrored) {
		t.Errorf("unknown picking: %v", err)
	}
}
