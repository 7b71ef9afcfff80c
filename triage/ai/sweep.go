package ai

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/ids"
	"github.com/yardmaster/yardmaster/triage/ai/anomaly"
)

// TaskAnomalySweep is the periodic task that runs Sweeper.Sweep.
const TaskAnomalySweep = "ai:anomaly_sweep"

// SpikeSink receives each reported spike inside the sweep's transaction,
// so the detector's state and the disruption case commit together. Triage
// implements it by opening or updating the disruption case of spike.Key().
type SpikeSink interface {
	Disruption(ctx context.Context, tx bun.IDB, s anomaly.Spike) error
}

// SweeperOptions configure a Sweeper.
type SweeperOptions struct {
	DB       *db.DB
	Detector anomaly.Config
	// Sink receives spikes; nil means spikes are only logged and counted.
	Sink SpikeSink
	// Backfill is how much stored history warms the baselines on the first
	// sweep (default 14 days). Spikes found in it are not reported.
	Backfill time.Duration
	// ReportWindow: spikes in buckets that ended longer ago than this (after
	// a downtime) update the baselines but are not reported (default 6h).
	ReportWindow time.Duration
	// MaxBuckets bounds the buckets one sweep processes, so a long
	// downtime is caught up over several runs (default 24×30).
	MaxBuckets int
	// IncludeSynthetic counts Yardmaster's own sweep events (no_updates and
	// similar). Off by default: they are emitted in bursts when a sweep
	// runs, which would look like spikes.
	IncludeSynthetic bool
	Now              func() time.Time
	Logger           *slog.Logger
}

// Sweeper runs the anomaly detector over the stored canonical events: each
// run counts the events of every bucket closed since the last run straight
// from intake_events (by ULID range, so the primary key serves the query),
// feeds the counts to the detector restored from its saved state, and saves
// the new state together with the reported spikes. It holds no state between
// runs, so any worker process can run it, and a restart loses nothing.
type Sweeper struct {
	opts SweeperOptions
	cfg  anomaly.Config
	sink atomic.Pointer[SpikeSink]
}

// NewSweeper returns a sweeper.
func NewSweeper(opts SweeperOptions) *Sweeper {
	if opts.Backfill <= 0 {
		opts.Backfill = 14 * 24 * time.Hour
	}
	if opts.ReportWindow <= 0 {
		opts.ReportWindow = 6 * time.Hour
	}
	if opts.MaxBuckets <= 0 {
		opts.MaxBuckets = 24 * 30
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	sw := &Sweeper{opts: opts, cfg: anomaly.New(opts.Detector, nil).Config()}
	if opts.Sink != nil {
		sw.SetSink(opts.Sink)
	}
	return sw
}

// SetSink plugs in the receiver of spikes (triage's disruption cases), for
// wiring that builds the sweeper before triage exists.
func (s *Sweeper) SetSink(sink SpikeSink) { s.sink.Store(&sink) }

// Interval is how often the sweep should run: a quarter of the bucket
// width, so a spike is reported at most that long after its bucket closes.
func (s *Sweeper) Interval() time.Duration { return s.cfg.Bucket / 4 }

const stateID = "default"

type stateRow struct {
	bun.BaseModel `bun:"table:ai_anomaly_state"`

	ID         string     `bun:"id,pk"`
	Version    int64      `bun:"version"`
	LastBucket *time.Time `bun:"last_bucket"`
	Snapshot   string     `bun:"snapshot"`
	UpdatedAt  time.Time  `bun:"updated_at"`
}

// Sweep processes the closed buckets since the last run and returns the
// reported spikes. Two concurrent runs cannot both commit: the state row is
// versioned, and the loser gets an apperr conflict (and its job retries).
func (s *Sweeper) Sweep(ctx context.Context) ([]anomaly.Spike, error) {
	now := s.opts.Now().UTC()
	var st stateRow
	exists := true
	err := s.opts.DB.Read.NewSelect().Model(&st).Where("id = ?", stateID).Scan(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		exists = false
	case err != nil:
		return nil, fmt.Errorf("read anomaly state: %w", err)
	}
	virt := now
	det := anomaly.New(s.opts.Detector, func() time.Time { return virt })
	bucket := s.cfg.Bucket
	from := now.Add(-s.opts.Backfill).Truncate(bucket)
	if exists {
		if err := det.Restore([]byte(st.Snapshot)); err != nil {
			s.opts.Logger.WarnContext(ctx, "anomaly state unusable; rebuilding the baselines from history", slog.String("err", err.Error()))
			det = anomaly.New(s.opts.Detector, func() time.Time { return virt })
		} else if st.LastBucket != nil {
			from = st.LastBucket.UTC().Add(bucket)
		}
	}
	end := now.Truncate(bucket) // the current bucket is still filling
	var reported []anomaly.Spike
	var last *time.Time
	n := 0
	for b := from; b.Before(end) && n < s.opts.MaxBuckets; b = b.Add(bucket) {
		counts, err := s.counts(ctx, b, b.Add(bucket))
		if err != nil {
			return nil, err
		}
		virt = b // observations land in bucket b
		for _, c := range counts {
			if err := det.ObserveCount(c); err != nil {
				return nil, fmt.Errorf("anomaly counts of %s: %w", b.Format(time.RFC3339), err)
			}
		}
		virt = b.Add(bucket)
		for _, sp := range det.Sweep() {
			if sp.Window.End.Before(now.Add(-s.opts.ReportWindow)) {
				continue
			}
			if sp.Evidence, err = s.evidence(ctx, sp); err != nil {
				return nil, err
			}
			reported = append(reported, sp)
		}
		bb := b
		last = &bb
		n++
	}
	mSweepBuckets.Add(float64(n))
	if last == nil {
		return nil, nil
	}
	snap, err := det.Snapshot()
	if err != nil {
		return nil, err
	}
	err = s.opts.DB.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		row := stateRow{ID: stateID, Version: st.Version + 1, LastBucket: last, Snapshot: string(snap), UpdatedAt: now}
		var res sql.Result
		var err error
		if exists {
			res, err = tx.NewUpdate().Model(&row).Column("version", "last_bucket", "snapshot", "updated_at").
				Where("id = ? AND version = ?", stateID, st.Version).Exec(ctx)
		} else {
			res, err = tx.NewInsert().Model(&row).On("CONFLICT (id) DO NOTHING").Exec(ctx)
		}
		if err != nil {
			return fmt.Errorf("save anomaly state: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return apperr.Conflict("another anomaly sweep saved its state first")
		}
		sink := s.sink.Load()
		if sink == nil || *sink == nil {
			return nil
		}
		for _, sp := range reported {
			if err := (*sink).Disruption(ctx, tx, sp); err != nil {
				return fmt.Errorf("report spike %s: %w", sp.Key(), err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, sp := range reported {
		s.opts.Logger.InfoContext(ctx, "exception-rate spike", slog.String("key", sp.Key()), slog.Float64("observed", sp.Observed),
			slog.Float64("expected", sp.Expected), slog.Float64("z", sp.ZScore), slog.Int("volume", sp.Volume),
			slog.Time("window_start", sp.Window.Start), slog.Bool("ongoing", sp.Ongoing))
	}
	return reported, nil
}

// countryExpr extracts a country field of the stored shipment state.
func (s *Sweeper) countryExpr(field string) string {
	if s.opts.DB.IsPostgres() {
		return "COALESCE((shipment_state::jsonb ->> '" + field + "'), '')"
	}
	return "COALESCE(json_extract(shipment_state, '$." + field + "'), '')"
}

// counts tallies the events received in [from, to) by carrier, lane and
// exception reason.
func (s *Sweeper) counts(ctx context.Context, from, to time.Time) ([]anomaly.Count, error) {
	q := s.opts.DB.Read.NewSelect().Table("intake_events").
		ColumnExpr("carrier").
		ColumnExpr(s.countryExpr("origin_country")+" AS origin").
		ColumnExpr(s.countryExpr("destination_country")+" AS destination").
		ColumnExpr("reason").
		ColumnExpr("COUNT(*) AS n").
		Where("id >= ? AND id < ?", ids.Floor(from), ids.Floor(to)).
		GroupExpr("carrier, origin, destination, reason").
		OrderExpr("carrier, origin, destination, reason")
	if !s.opts.IncludeSynthetic {
		q = q.Where("NOT synthetic")
	}
	var rows []struct {
		Carrier     string `bun:"carrier"`
		Origin      string `bun:"origin"`
		Destination string `bun:"destination"`
		Reason      string `bun:"reason"`
		N           int    `bun:"n"`
	}
	if err := q.Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("count events for anomaly detection: %w", err)
	}
	byLane := map[[3]string]*anomaly.Count{}
	var out []anomaly.Count
	order := [][3]string{}
	for _, r := range rows {
		k := [3]string{r.Carrier, r.Origin, r.Destination}
		c := byLane[k]
		if c == nil {
			c = &anomaly.Count{Carrier: r.Carrier, Origin: r.Origin, Destination: r.Destination, At: from, Exceptions: map[string]int{}}
			byLane[k] = c
			order = append(order, k)
		}
		c.Events += r.N
		if r.Reason != "" {
			c.Exceptions[r.Reason] += r.N
		}
	}
	for _, k := range order {
		out = append(out, *byLane[k])
	}
	return out, nil
}

// evidence loads up to MaxEvidence exception events behind a spike.
func (s *Sweeper) evidence(ctx context.Context, sp anomaly.Spike) ([]anomaly.Evidence, error) {
	q := s.opts.DB.Read.NewSelect().Table("intake_events").
		Column("id", "shipment_id", "tracking_number", "reason", "received_at").
		ColumnExpr(s.countryExpr("origin_country")+" AS origin").
		ColumnExpr(s.countryExpr("destination_country")+" AS destination").
		Where("id >= ? AND id < ?", ids.Floor(sp.Window.Start), ids.Floor(sp.Window.End)).
		Where("LOWER(carrier) = ?", sp.Carrier).
		Where("reason <> ''").
		OrderExpr("id").
		Limit(int64(s.cfg.MaxEvidence))
	if sp.Lane != nil {
		q = q.Where(s.countryExpr("origin_country")+" = ?", sp.Lane.Origin).Where(s.countryExpr("destination_country")+" = ?", sp.Lane.Destination)
	}
	if !s.opts.IncludeSynthetic {
		q = q.Where("NOT synthetic")
	}
	var rows []struct {
		ID             string    `bun:"id"`
		ShipmentID     string    `bun:"shipment_id"`
		TrackingNumber string    `bun:"tracking_number"`
		Reason         string    `bun:"reason"`
		ReceivedAt     time.Time `bun:"received_at"`
		Origin         string    `bun:"origin"`
		Destination    string    `bun:"destination"`
	}
	if err := q.Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("load spike evidence: %w", err)
	}
	out := make([]anomaly.Evidence, 0, len(rows))
	for _, r := range rows {
		out = append(out, anomaly.Evidence{EventID: r.ID, ShipmentID: r.ShipmentID, TrackingNumber: r.TrackingNumber, Reason: r.Reason,
			At: r.ReceivedAt.UTC(), Lane: anomaly.Lane{Origin: r.Origin, Destination: r.Destination}})
	}
	return out, nil
}
