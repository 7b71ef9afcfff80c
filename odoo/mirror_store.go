package odoo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Rows of the mirror tables (migrations/20261127004001_odoo_mirror.go).

type mPartner struct {
	bun.BaseModel `bun:"table:odoo_partners"`
	ID            int64      `bun:"id,pk"`
	Name          string     `bun:"name"`
	DisplayName   string     `bun:"display_name"`
	Email         string     `bun:"email"`
	Phone         string     `bun:"phone"`
	Ref           string     `bun:"ref"`
	CountryCode   string     `bun:"country_code"`
	IsCompany     bool       `bun:"is_company"`
	Active        bool       `bun:"active"`
	ParentID      int64      `bun:"parent_id"`
	CommercialID  int64      `bun:"commercial_id"`
	SalespersonID int64      `bun:"salesperson_id"`
	TagIDs        string     `bun:"tag_ids"`
	WriteDate     *time.Time `bun:"write_date"`
	SyncedAt      time.Time  `bun:"synced_at"`
	SeenGen       int64      `bun:"seen_gen"`
}

type mUser struct {
	bun.BaseModel `bun:"table:odoo_users"`
	ID            int64      `bun:"id,pk"`
	Name          string     `bun:"name"`
	Login         string     `bun:"login"`
	Email         string     `bun:"email"`
	PartnerID     int64      `bun:"partner_id"`
	Active        bool       `bun:"active"`
	WriteDate     *time.Time `bun:"write_date"`
	SyncedAt      time.Time  `bun:"synced_at"`
	SeenGen       int64      `bun:"seen_gen"`
}

type mTeam struct {
	bun.BaseModel `bun:"table:odoo_teams"`
	ID            int64      `bun:"id,pk"`
	Name          string     `bun:"name"`
	LeaderID      int64      `bun:"leader_id"`
	MemberIDs     string     `bun:"member_ids"`
	Active        bool       `bun:"active"`
	WriteDate     *time.Time `bun:"write_date"`
	SyncedAt      time.Time  `bun:"synced_at"`
	SeenGen       int64      `bun:"seen_gen"`
}

type mTag struct {
	bun.BaseModel `bun:"table:odoo_tags"`
	ID            int64      `bun:"id,pk"`
	Name          string     `bun:"name"`
	WriteDate     *time.Time `bun:"write_date"`
	SyncedAt      time.Time  `bun:"synced_at"`
	SeenGen       int64      `bun:"seen_gen"`
}

type mOrder struct {
	bun.BaseModel     `bun:"table:odoo_orders"`
	ID                int64      `bun:"id,pk"`
	Name              string     `bun:"name"`
	State             string     `bun:"state"`
	ClientOrderRef    string     `bun:"client_order_ref"`
	PartnerID         int64      `bun:"partner_id"`
	ShippingPartnerID int64      `bun:"shipping_partner_id"`
	SalespersonID     int64      `bun:"salesperson_id"`
	TeamID            int64      `bun:"team_id"`
	Currency          string     `bun:"currency"`
	AmountTotal       float64    `bun:"amount_total"`
	AmountUntaxed     float64    `bun:"amount_untaxed"`
	CommitmentDate    *time.Time `bun:"commitment_date"`
	DateOrder         *time.Time `bun:"date_order"`
	WriteDate         *time.Time `bun:"write_date"`
	SyncedAt          time.Time  `bun:"synced_at"`
	SeenGen           int64      `bun:"seen_gen"`
}

type mPicking struct {
	bun.BaseModel   `bun:"table:odoo_pickings"`
	ID              int64      `bun:"id,pk"`
	Name            string     `bun:"name"`
	Origin          string     `bun:"origin"`
	State           string     `bun:"state"`
	PickingTypeCode string     `bun:"picking_type_code"`
	ScheduledDate   *time.Time `bun:"scheduled_date"`
	DateDeadline    *time.Time `bun:"date_deadline"`
	DateDone        *time.Time `bun:"date_done"`
	PartnerID       int64      `bun:"partner_id"`
	UserID          int64      `bun:"user_id"`
	SaleID          int64      `bun:"sale_id"`
	Carrier         string     `bun:"carrier"`
	TrackingRef     string     `bun:"tracking_ref"`
	WriteDate       *time.Time `bun:"write_date"`
	SyncedAt        time.Time  `bun:"synced_at"`
	SeenGen         int64      `bun:"seen_gen"`
}

type mTrackingRef struct {
	bun.BaseModel `bun:"table:odoo_tracking_refs"`
	Ref           string `bun:"ref,pk"`
	PickingID     int64  `bun:"picking_id,pk"`
}

type mSyncState struct {
	bun.BaseModel  `bun:"table:odoo_sync_state"`
	Model          string     `bun:"model,pk"`
	CursorAt       *time.Time `bun:"cursor_at"`
	Generation     int64      `bun:"generation"`
	Records        int64      `bun:"records"`
	LastRunRecords int64      `bun:"last_run_records"`
	LastRunAt      *time.Time `bun:"last_run_at"`
	LastSuccessAt  *time.Time `bun:"last_success_at"`
	LastFullAt     *time.Time `bun:"last_full_at"`
	LastError      string     `bun:"last_error"`
}

type mMeta struct {
	bun.BaseModel `bun:"table:odoo_meta"`
	Key           string    `bun:"key,pk"`
	Value         string    `bun:"value"`
	UpdatedAt     time.Time `bun:"updated_at"`
}

// chunk is the most rows per multi-row statement (SQLite's variable limit).
const chunk = 400

// upsert inserts rows or updates every column of existing ones: bun's
// ON CONFLICT … DO UPDATE without SET sets every non-key column from
// EXCLUDED, so a column added to a model is mirrored without a list to
// keep in step.
func upsert[T any](ctx context.Context, idb bun.IDB, rows []T) error {
	return inChunks(rows, func(part []T) error {
		_, err := idb.NewInsert().Model(&part).On("CONFLICT (id) DO UPDATE").Exec(ctx)
		return err
	})
}

func joinIDs(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ",")
}

func splitIDs(s string) []int64 {
	var out []int64
	for _, p := range strings.Split(s, ",") {
		if n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// storePickings upserts pickings and rewrites their tracking reference rows.
func storePickings(ctx context.Context, tx bun.IDB, rows []mPicking) error {
	if err := upsert(ctx, tx, rows); err != nil {
		return fmt.Errorf("upsert pickings: %w", err)
	}
	ids := make([]int64, len(rows))
	var refs []mTrackingRef
	for i, r := range rows {
		ids[i] = r.ID
		for _, ref := range TrackingRefs(r.TrackingRef) {
			refs = append(refs, mTrackingRef{Ref: ref, PickingID: r.ID})
		}
	}
	err := inChunks(ids, func(part []int64) error {
		if _, err := tx.NewDelete().Model((*mTrackingRef)(nil)).Where("picking_id IN (?)", bun.In(part)).Exec(ctx); err != nil {
			return fmt.Errorf("clear tracking refs: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return inChunks(refs, func(part []mTrackingRef) error {
		if _, err := tx.NewInsert().Model(&part).On("CONFLICT DO NOTHING").Exec(ctx); err != nil {
			return fmt.Errorf("insert tracking refs: %w", err)
		}
		return nil
	})
}

func loadState(ctx context.Context, idb bun.IDB, model string) (mSyncState, error) {
	st := mSyncState{Model: model}
	err := idb.NewSelect().Model(&st).WherePK().Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return mSyncState{Model: model}, nil
	}
	return st, err
}

func saveState(ctx context.Context, idb bun.IDB, st *mSyncState) error {
	_, err := idb.NewInsert().Model(st).On("CONFLICT (model) DO UPDATE").Exec(ctx) // every column, as upsert
	return err
}

func setMeta(ctx context.Context, idb bun.IDB, now time.Time, kv map[string]string) error {
	for k, v := range kv {
		m := mMeta{Key: k, Value: v, UpdatedAt: now.UTC()}
		if _, err := idb.NewInsert().Model(&m).On("CONFLICT (key) DO UPDATE").Exec(ctx); err != nil {
			return fmt.Errorf("save odoo meta %s: %w", k, err)
		}
	}
	return nil
}

func getMeta(ctx context.Context, idb bun.IDB, key string) (string, time.Time, error) {
	var m mMeta
	err := idb.NewSelect().Model(&m).Where("key = ?", key).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, fmt.Errorf("odoo mirror has no %s yet (run `yardmaster odoo sync`): %w", key, ErrNotMirrored)
	}
	return m.Value, m.UpdatedAt, err
}
