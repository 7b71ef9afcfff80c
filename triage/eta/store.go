package eta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/apperr"
)

// ModelKindLive is the kind of stored live models.
const ModelKindLive = "live"

// ModelInfo describes one stored model (everything but its bytes).
type ModelInfo struct {
	ID        string    `bun:"id,pk" json:"id"`
	Kind      string    `bun:"kind" json:"kind"`
	TrainedAt time.Time `bun:"trained_at" json:"trained_at"`
	Shipments int64     `bun:"shipments" json:"shipments"`
	Skipped   int64     `bun:"skipped" json:"skipped"`
	TookMS    int64     `bun:"took_ms" json:"took_ms"`
	CreatedAt time.Time `bun:"created_at" json:"created_at"`
}

// modelRow is a row of eta_models.
type modelRow struct {
	bun.BaseModel `bun:"table:eta_models"`
	ModelInfo
	Model []byte `bun:"model"`
}

// Store keeps trained models in eta_models. Methods take the connection to
// use (the read pool, the write pool or a transaction).
type Store struct{}

// Save stores a model; info.ID must be a fresh ULID (ids sort by time, so
// the latest model is the greatest id of its kind).
func (Store) Save(ctx context.Context, idb bun.IDB, info ModelInfo, model []byte) error {
	if info.ID == "" || info.Kind == "" || len(model) == 0 {
		return fmt.Errorf("save eta model: id, kind and bytes are required")
	}
	r := modelRow{ModelInfo: info, Model: model}
	r.TrainedAt, r.CreatedAt = r.TrainedAt.UTC(), r.CreatedAt.UTC()
	if _, err := idb.NewInsert().Model(&r).Exec(ctx); err != nil {
		return fmt.Errorf("save eta model %s: %w", info.ID, err)
	}
	return nil
}

// Latest returns the newest model of a kind with its bytes; apperr.NotFound
// when none was stored yet.
func (Store) Latest(ctx context.Context, idb bun.IDB, kind string) (ModelInfo, []byte, error) {
	var r modelRow
	err := idb.NewSelect().Model(&r).Where("kind = ?", kind).OrderExpr("id DESC").Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return ModelInfo{}, nil, apperr.NotFound("eta model of kind "+kind, err)
	}
	if err != nil {
		return ModelInfo{}, nil, fmt.Errorf("latest eta model: %w", err)
	}
	return r.ModelInfo, r.Model, nil
}

// LatestID returns the id of the newest model of a kind ("" when none),
// a cheap check for a newer model than the one in memory.
func (Store) LatestID(ctx context.Context, idb bun.IDB, kind string) (string, error) {
	var ids []string
	if err := idb.NewSelect().Model((*modelRow)(nil)).Column("id").Where("kind = ?", kind).OrderExpr("id DESC").Limit(1).Scan(ctx, &ids); err != nil {
		return "", fmt.Errorf("latest eta model id: %w", err)
	}
	if len(ids) == 0 {
		return "", nil
	}
	return ids[0], nil
}

// List returns the stored models of a kind, newest first, without bytes.
func (Store) List(ctx context.Context, idb bun.IDB, kind string, limit int) ([]ModelInfo, error) {
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	var rows []ModelInfo
	if err := idb.NewSelect().Model((*modelRow)(nil)).
		Column("id", "kind", "trained_at", "shipments", "skipped", "took_ms", "created_at").
		Where("kind = ?", kind).OrderExpr("id DESC").Limit(int64(limit)).Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("list eta models: %w", err)
	}
	return rows, nil
}

// Prune deletes all but the newest keep models of a kind.
func (Store) Prune(ctx context.Context, idb bun.IDB, kind string, keep int) (int, error) {
	var ids []string
	if err := idb.NewSelect().Model((*modelRow)(nil)).Column("id").Where("kind = ?", kind).
		OrderExpr("id DESC").Offset(int64(keep)).Limit(1).Scan(ctx, &ids); err != nil {
		return 0, fmt.Errorf("prune eta models: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	res, err := idb.NewDelete().Model((*modelRow)(nil)).Where("kind = ? AND id <= ?", kind, ids[0]).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("prune eta models: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
