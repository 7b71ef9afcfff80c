package odoo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/metrics"
)

// ErrNotMirrored: the mirror has no such record (or has not synced yet).
// It wraps apperr's not-found, so it maps to 404 where it reaches HTTP.
var ErrNotMirrored = fmt.Errorf("odoo: not in the mirror: %w", apperr.ErrNotFound)

var (
	mSyncRecords = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_odoo_sync_records_total", Help: "Records transferred from Odoo into the mirror, by model.",
	}, []string{"model"})
	mSyncDeleted = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_odoo_sync_deleted_total", Help: "Mirror rows removed by full reconciles because Odoo no longer has them.",
	}, []string{"model"})
	mSyncErrors = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "yardmaster_odoo_sync_errors_total", Help: "Failed mirror syncs, by model.",
	}, []string{"model"})
	mSyncLastSuccess = promauto.With(metrics.Registry).NewGaugeVec(prometheus.GaugeOpts{
		Name: "yardmaster_odoo_sync_last_success_timestamp_seconds", Help: "When each model last synced successfully (lag = time() - this).",
	}, []string{"model"})
	mSyncDuration = promauto.With(metrics.Registry).NewHistogramVec(prometheus.HistogramOpts{
		Name: "yardmaster_odoo_sync_duration_seconds", Help: "Duration of a mirror sync per model.", Buckets: []float64{0.1, 0.5, 1, 5, 15, 60, 300, 900},
	}, []string{"model", "mode"})
)

// MirrorOptions configure a Mirror.
type MirrorOptions struct {
	Client *Client
	DB     *db.DB
	// BatchSize is the records per search_read page (default 2000).
	BatchSize int
	// Overlap re-reads records written within this window before the
	// sync started (default 10m): Odoo stamps write_date at transaction
	// start, so a long transaction commits rows "in the past"; the overlap
	// also absorbs clock skew between Yardmaster and Odoo.
	Overlap time.Duration
	// FullEvery forces a full reconcile (which also removes records
	// deleted in Odoo) when the last one is older (default 24h; <0 never).
	FullEvery time.Duration
	// TierTagPrefix: a customer's tier is the rest of the name of its first
	// partner tag with this prefix ("Tier: Gold" → "Gold"). Default "Tier:".
	TierTagPrefix string
	// BaseURL for links into Odoo (default: the client's URL).
	BaseURL string
	Now     func() time.Time
	Logger  *slog.Logger
}

// Mirror keeps local copies of Odoo pickings, orders, partners, users,
// teams and partner tags, and answers lookups from them.
type Mirror struct {
	o      MirrorOptions
	syncMu sync.Mutex
}

// NewMirror builds a mirror. Client may be nil for a read-only mirror
// (lookups only).
func NewMirror(o MirrorOptions) (*Mirror, error) {
	if o.DB == nil {
		return nil, fmt.Errorf("%w: mirror needs a database", ErrInvalid)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 2000
	}
	if o.Overlap <= 0 {
		o.Overlap = 10 * time.Minute
	}
	if o.FullEvery == 0 {
		o.FullEvery = 24 * time.Hour
	}
	if o.TierTagPrefix == "" {
		o.TierTagPrefix = "Tier:"
	}
	if o.BaseURL == "" && o.Client != nil {
		o.BaseURL = o.Client.base.base
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Mirror{o: o}, nil
}

// Mirrored models, in sync order.
const (
	ModelTags     = "res.partner.category"
	ModelTeams    = "crm.team"
	ModelUsers    = "res.users"
	ModelPartners = "res.partner"
	ModelOrders   = "sale.order"
	ModelPickings = "stock.picking"
)

// MirroredModels lists what Sync transfers.
var MirroredModels = []string{ModelTags, ModelTeams, ModelUsers, ModelPartners, ModelOrders, ModelPickings}

type syncSpec struct {
	model, table string
	fields       []string
	archived     bool // has an active field: include archived records
	store        func(ctx context.Context, tx bun.IDB, recs []Record, gen int64, now time.Time) error
}

func specs() []syncSpec {
	return []syncSpec{
		{ModelTags, "odoo_tags", TagFields, false, storeTags},
		{ModelTeams, "odoo_teams", TeamFields, true, storeTeams},
		{ModelUsers, "odoo_users", UserFields, true, storeUsers},
		{ModelPartners, "odoo_partners", PartnerFields, true, storePartners},
		{ModelOrders, "odoo_orders", SaleOrderFields, false, storeOrders},
		{ModelPickings, "odoo_pickings", PickingFields, false, storePickingRecords},
	}
}

// SyncOptions select what a Sync does.
type SyncOptions struct {
	// Full refetches everything and removes rows Odoo no longer has.
	Full bool
	// Models limits the sync (default: MirroredModels).
	Models []string
	// Count asks Odoo for the number of records first, for Progress totals
	// (one search_count per model).
	Count bool
	// Progress is called after each page.
	Progress func(model string, done, total int)
}

// ModelReport is what one model's sync did.
type ModelReport struct {
	Model    string        `json:"model"`
	Full     bool          `json:"full"`
	Fetched  int           `json:"fetched"`
	Deleted  int           `json:"deleted"`
	Pages    int           `json:"pages"`
	Duration time.Duration `json:"duration"`
	Cursor   *time.Time    `json:"cursor,omitempty"`
}

// SyncReport is what Sync did.
type SyncReport struct {
	Models []ModelReport `json:"models"`
}

// ErrSyncRunning: another sync of this process is in progress.
var ErrSyncRunning = errors.New("odoo: a mirror sync is already running")

// Sync transfers records changed since the last sync (by write_date, with
// the overlap) or, when Full or due, everything, and refreshes metadata
// the executors' previews need. Only one sync runs at a time per process.
func (m *Mirror) Sync(ctx context.Context, o SyncOptions) (SyncReport, error) {
	if m.o.Client == nil {
		return SyncReport{}, fmt.Errorf("%w: the mirror has no Odoo client", ErrInvalid)
	}
	if !m.syncMu.TryLock() {
		return SyncReport{}, ErrSyncRunning
	}
	defer m.syncMu.Unlock()
	want := map[string]bool{}
	for _, name := range o.Models {
		known := false
		for _, s := range specs() {
			known = known || s.model == name
		}
		if !known {
			return SyncReport{}, fmt.Errorf("%w: %q is not a mirrored model (want one of %v)", ErrInvalid, name, MirroredModels)
		}
		want[name] = true
	}
	var rep SyncReport
	for _, s := range specs() {
		if len(want) > 0 && !want[s.model] {
			continue
		}
		mr, err := m.syncModel(ctx, s, o)
		rep.Models = append(rep.Models, mr)
		if err != nil {
			return rep, err
		}
	}
	if err := m.refreshMeta(ctx, o.Full); err != nil {
		return rep, err
	}
	return rep, nil
}

func (m *Mirror) syncModel(ctx context.Context, s syncSpec, o SyncOptions) (ModelReport, error) {
	start := m.o.Now().UTC()
	rep := ModelReport{Model: s.model}
	st, err := loadState(ctx, m.o.DB, s.model)
	if err != nil {
		return rep, fmt.Errorf("odoo sync %s: load state: %w", s.model, err)
	}
	full := o.Full || st.CursorAt == nil || (m.o.FullEvery > 0 && (st.LastFullAt == nil || start.Sub(*st.LastFullAt) >= m.o.FullEvery))
	rep.Full = full
	gen := st.Generation
	if full {
		gen++
	}
	var base Domain
	if !full {
		base = Where("write_date", ">", FormatDatetime(*st.CursorAt))
	}
	var callCtx map[string]any
	if s.archived {
		callCtx = map[string]any{"active_test": false}
	}
	fail := func(err error) (ModelReport, error) {
		mSyncErrors.WithLabelValues(s.model).Inc()
		st.LastRunAt, st.LastError = &start, err.Error()
		_ = saveState(context.WithoutCancel(ctx), m.o.DB, &st)
		m.o.Logger.Error("odoo sync failed", "model", s.model, "full", full, "fetched", rep.Fetched, "err", err)
		return rep, fmt.Errorf("odoo sync %s: %w", s.model, err)
	}
	total := 0
	if o.Count {
		n, err := m.o.Client.SearchCount(ctx, s.model, base, callCtx)
		if err != nil {
			return fail(err)
		}
		total = int(n)
	}
	// Keyset pages by id: ids never change, so records are neither skipped
	// nor repeated while Odoo keeps writing. A record changed during the
	// run behind the page cursor has a write_date after start, so the next
	// run picks it up.
	var lastID int64
	var maxSeen *time.Time
	for {
		dom := base.And(Where("id", ">", lastID))
		recs, err := m.o.Client.SearchRead(ctx, s.model, dom, SearchOptions{Fields: s.fields, Limit: m.o.BatchSize, Order: "id asc", Context: callCtx})
		if err != nil {
			return fail(err)
		}
		rep.Pages++
		if len(recs) > 0 {
			if err := m.o.DB.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
				return s.store(ctx, tx, recs, gen, start)
			}); err != nil {
				return fail(err)
			}
			for _, r := range recs {
				if t, ok := r.Time("write_date"); ok && (maxSeen == nil || t.After(*maxSeen)) {
					maxSeen = &t
				}
				if id := r.ID(); id > lastID {
					lastID = id
				}
			}
			rep.Fetched += len(recs)
			mSyncRecords.WithLabelValues(s.model).Add(float64(len(recs)))
		}
		if o.Progress != nil {
			o.Progress(s.model, rep.Fetched, max(total, rep.Fetched))
		}
		if len(recs) < m.o.BatchSize {
			break
		}
	}
	if full {
		n, err := m.deleteUnseen(ctx, s, gen)
		if err != nil {
			return fail(err)
		}
		rep.Deleted = n
		mSyncDeleted.WithLabelValues(s.model).Add(float64(n))
	}
	// Next cursor: the newest write_date seen, but never later than the
	// start minus the overlap (rows of transactions still open at start
	// carry an earlier write_date and become visible later).
	safe := start.Add(-m.o.Overlap - time.Second).Truncate(time.Second)
	next := &safe
	if maxSeen != nil && maxSeen.Before(safe) {
		next = maxSeen
	}
	if !full && st.CursorAt != nil && maxSeen == nil && st.CursorAt.Before(safe) {
		next = st.CursorAt // nothing new: keep the cursor
	}
	count, err := m.o.DB.NewSelect().Table(s.table).Count(ctx)
	if err != nil {
		return fail(err)
	}
	st.CursorAt, st.Generation, st.Records, st.LastRunRecords = next, gen, int64(count), int64(rep.Fetched)
	st.LastRunAt, st.LastSuccessAt, st.LastError = &start, &start, ""
	if full {
		st.LastFullAt = &start
	}
	if err := saveState(ctx, m.o.DB, &st); err != nil {
		return fail(err)
	}
	rep.Duration, rep.Cursor = m.o.Now().Sub(start), next
	mode := "incremental"
	if full {
		mode = "full"
	}
	mSyncDuration.WithLabelValues(s.model, mode).Observe(rep.Duration.Seconds())
	mSyncLastSuccess.WithLabelValues(s.model).Set(float64(start.Unix()))
	m.o.Logger.Info("odoo sync", "model", s.model, "mode", mode, "fetched", rep.Fetched, "deleted", rep.Deleted, "pages", rep.Pages, "duration", rep.Duration)
	return rep, nil
}

func (m *Mirror) deleteUnseen(ctx context.Context, s syncSpec, gen int64) (int, error) {
	var n int
	err := m.o.DB.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewDelete().Table(s.table).Where("seen_gen < ?", gen).Exec(ctx)
		if err != nil {
			return err
		}
		c, _ := res.RowsAffected()
		n = int(c)
		if s.model == ModelPickings && n > 0 {
			_, err = tx.NewDelete().Model((*mTrackingRef)(nil)).Where("picking_id NOT IN (SELECT id FROM odoo_pickings)").Exec(ctx)
		}
		return err
	})
	return n, err
}

// Meta keys the executors' offline previews read.
const (
	metaServerVersion = "server_version"
	metaServerMajor   = "server_major"
	metaHelpdesk      = "helpdesk_installed"
	metaModelPrefix   = "model_id:"
	metaXMLIDPrefix   = "xmlid:"
)

var metaModels = []string{"stock.picking", "sale.order"}
var metaXMLIDs = []string{"mail.mail_activity_data_warning", "mail.mail_activity_data_todo"}

// refreshMeta stores the ids previews need; at most hourly unless full.
func (m *Mirror) refreshMeta(ctx context.Context, force bool) error {
	if _, at, err := getMeta(ctx, m.o.DB, metaHelpdesk); err == nil && !force && m.o.Now().Sub(at) < time.Hour {
		return nil
	}
	c := m.o.Client
	kv := map[string]string{}
	v, err := c.Version(ctx)
	if err != nil {
		return fmt.Errorf("odoo sync meta: %w", err)
	}
	kv[metaServerVersion], kv[metaServerMajor] = v.ServerVersion, strconv.Itoa(v.Major)
	hd, err := c.ModelInstalled(ctx, "helpdesk.ticket")
	if err != nil {
		return fmt.Errorf("odoo sync meta: %w", err)
	}
	kv[metaHelpdesk] = strconv.FormatBool(hd)
	for _, model := range metaModels {
		id, err := c.ModelID(ctx, model)
		if err != nil {
			return fmt.Errorf("odoo sync meta: %w", err)
		}
		kv[metaModelPrefix+model] = strconv.FormatInt(id, 10)
	}
	for _, x := range metaXMLIDs {
		id, err := c.XMLID(ctx, x)
		if err != nil {
			return fmt.Errorf("odoo sync meta: %w", err)
		}
		kv[metaXMLIDPrefix+x] = strconv.FormatInt(id, 10)
	}
	return m.o.DB.InTx(ctx, func(ctx context.Context, tx bun.Tx) error { return setMeta(ctx, tx, m.o.Now(), kv) })
}

// Status is the sync state per model, for the console and CLI.
type Status struct {
	Model          string     `json:"model"`
	Records        int64      `json:"records"`
	Cursor         *time.Time `json:"cursor,omitempty"`
	LastRunAt      *time.Time `json:"last_run_at,omitempty"`
	LastSuccessAt  *time.Time `json:"last_success_at,omitempty"`
	LastFullAt     *time.Time `json:"last_full_at,omitempty"`
	LastRunRecords int64      `json:"last_run_records"`
	LastError      string     `json:"last_error,omitempty"`
}

// Status reads the sync state of every mirrored model.
func (m *Mirror) Status(ctx context.Context, idb bun.IDB) ([]Status, error) {
	var rows []mSyncState
	if err := idb.NewSelect().Model(&rows).Scan(ctx); err != nil {
		return nil, fmt.Errorf("odoo sync status: %w", err)
	}
	by := map[string]mSyncState{}
	for _, r := range rows {
		by[r.Model] = r
	}
	out := make([]Status, 0, len(MirroredModels))
	for _, name := range MirroredModels {
		r := by[name]
		out = append(out, Status{Model: name, Records: r.Records, Cursor: r.CursorAt, LastRunAt: r.LastRunAt, LastSuccessAt: r.LastSuccessAt,
			LastFullAt: r.LastFullAt, LastRunRecords: r.LastRunRecords, LastError: r.LastError})
	}
	return out, nil
}

// Record converters.

func storeTags(ctx context.Context, tx bun.IDB, recs []Record, gen int64, now time.Time) error {
	rows := make([]mTag, 0, len(recs))
	for _, r := range recs {
		t, err := DecodeTag(r)
		if err != nil {
			return err
		}
		rows = append(rows, mTag{ID: t.ID, Name: t.Name, WriteDate: t.WriteDate, SyncedAt: now, SeenGen: gen})
	}
	return upsert(ctx, tx, rows)
}

func storeTeams(ctx context.Context, tx bun.IDB, recs []Record, gen int64, now time.Time) error {
	rows := make([]mTeam, 0, len(recs))
	for _, r := range recs {
		t, err := DecodeTeam(r)
		if err != nil {
			return err
		}
		rows = append(rows, mTeam{ID: t.ID, Name: t.Name, LeaderID: t.Leader.ID, MemberIDs: joinIDs(t.MemberIDs), Active: t.Active,
			WriteDate: t.WriteDate, SyncedAt: now, SeenGen: gen})
	}
	return upsert(ctx, tx, rows)
}

func storeUsers(ctx context.Context, tx bun.IDB, recs []Record, gen int64, now time.Time) error {
	rows := make([]mUser, 0, len(recs))
	for _, r := range recs {
		u, err := DecodeUser(r)
		if err != nil {
			return err
		}
		rows = append(rows, mUser{ID: u.ID, Name: u.Name, Login: u.Login, Email: u.Email, PartnerID: u.Partner.ID, Active: u.Active,
			WriteDate: u.WriteDate, SyncedAt: now, SeenGen: gen})
	}
	return upsert(ctx, tx, rows)
}

func storePartners(ctx context.Context, tx bun.IDB, recs []Record, gen int64, now time.Time) error {
	rows := make([]mPartner, 0, len(recs))
	for _, r := range recs {
		p, err := DecodePartner(r)
		if err != nil {
			return err
		}
		commercial := p.Commercial.ID
		if commercial == 0 {
			commercial = p.ID
		}
		rows = append(rows, mPartner{ID: p.ID, Name: p.Name, DisplayName: p.DisplayName, Email: p.Email, Phone: p.Phone, Ref: p.Ref,
			CountryCode: p.CountryCode, IsCompany: p.IsCompany, Active: p.Active, ParentID: p.Parent.ID, CommercialID: commercial, SalespersonID: p.Salesperson.ID,
			TagIDs: joinIDs(p.TagIDs), WriteDate: p.WriteDate, SyncedAt: now, SeenGen: gen})
	}
	return upsert(ctx, tx, rows)
}

func storeOrders(ctx context.Context, tx bun.IDB, recs []Record, gen int64, now time.Time) error {
	rows := make([]mOrder, 0, len(recs))
	for _, r := range recs {
		o, err := DecodeSaleOrder(r)
		if err != nil {
			return err
		}
		rows = append(rows, mOrder{ID: o.ID, Name: o.Name, State: o.State, ClientOrderRef: o.ClientOrderRef, PartnerID: o.Partner.ID,
			ShippingPartnerID: o.ShippingAddr.ID, SalespersonID: o.User.ID, TeamID: o.Team.ID, Currency: o.Currency.Name,
			AmountTotal: o.AmountTotal, AmountUntaxed: o.AmountUntaxed, CommitmentDate: o.CommitmentDate, DateOrder: o.DateOrder,
			WriteDate: o.WriteDate, SyncedAt: now, SeenGen: gen})
	}
	return upsert(ctx, tx, rows)
}

func storePickingRecords(ctx context.Context, tx bun.IDB, recs []Record, gen int64, now time.Time) error {
	rows := make([]mPicking, 0, len(recs))
	for _, r := range recs {
		p, err := DecodePicking(r)
		if err != nil {
			return err
		}
		rows = append(rows, mPicking{ID: p.ID, Name: p.Name, Origin: p.Origin, State: p.State, PickingTypeCode: p.PickingTypeCode,
			ScheduledDate: p.ScheduledDate, DateDeadline: p.DateDeadline, DateDone: p.DateDone, PartnerID: p.Partner.ID, UserID: p.User.ID,
			SaleID: p.Sale.ID, Carrier: p.Carrier.Name, TrackingRef: p.TrackingRef, WriteDate: p.WriteDate, SyncedAt: now, SeenGen: gen})
	}
	return storePickings(ctx, tx, rows)
}
