package opsview

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/ids"
)

// SourceLag is how late one source's events reached us in a window:
// received_at minus occurred_at (the carrier's own delay plus transport).
type SourceLag struct {
	Source       string
	Events       int
	P50, P95     time.Duration
	Max          time.Duration
	LastReceived time.Time
}

// lagRow is the slice of an intake event that lag needs.
type lagRow struct {
	bun.BaseModel `bun:"table:intake_events"`
	Source        string    `bun:"source"`
	OccurredAt    time.Time `bun:"occurred_at"`
	ReceivedAt    time.Time `bun:"received_at"`
}

// MaxLagSample bounds the rows read for one lag report: the newest events
// of the window tell how late sources are now, and the page stays fast
// however busy the window was.
const MaxLagSample = 1000

// EventLag reports per-source lag of the newest events received since
// since (at most MaxLagSample), ordered by source. Event ids are ULIDs of
// the time they were stored, so the window is a range of the primary key.
// Synthetic events (sweeps) are left out: their lag is ours, not a
// carrier's.
func EventLag(ctx context.Context, idb bun.IDB, since time.Time) ([]SourceLag, error) {
	var rows []lagRow
	err := idb.NewSelect().Model(&rows).Column("source", "occurred_at", "received_at").
		Where("id >= ? AND synthetic = ?", ids.Floor(since), false).
		Order("id DESC").Limit(MaxLagSample).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("opsview: read event lag: %w", err)
	}
	by := map[string][]time.Duration{}
	last := map[string]time.Time{}
	for _, r := range rows {
		d := r.ReceivedAt.Sub(r.OccurredAt)
		if d < 0 {
			d = 0 // clock skew at the carrier: arrived "before" it happened
		}
		by[r.Source] = append(by[r.Source], d)
		if r.ReceivedAt.After(last[r.Source]) {
			last[r.Source] = r.ReceivedAt
		}
	}
	out := make([]SourceLag, 0, len(by))
	for src, ds := range by {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		out = append(out, SourceLag{Source: src, Events: len(ds), P50: quantile(ds, 0.5), P95: quantile(ds, 0.95),
			Max: ds[len(ds)-1], LastReceived: last[src]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out, nil
}

// quantile of sorted durations by the nearest-rank method.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}
