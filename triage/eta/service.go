package eta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/ids"
	"github.com/yardmaster/yardmaster/internal/logx"
)

// TaskRetrain is the periodic job that retrains the live model.
const TaskRetrain = "eta:retrain"

// keepModels is how many stored models survive a retraining (the newest
// ones; older ones are only useful to trace a past score).
const keepModels = 5

// ErrNoModel means no live model has been trained yet (no delivered
// shipments with pickup and delivery times): callers skip ETA risk.
var ErrNoModel = errors.New("no ETA model trained yet")

// ServiceOptions configure a Service.
type ServiceOptions struct {
	DB  *db.DB
	Now func() time.Time
	Log *slog.Logger
	// History is how far back delivered shipments are learned from
	// (default 365 days).
	History time.Duration
	// Live tunes training (Now is set by the service).
	Live LiveOptions
	// Refresh is how often a scoring process checks the database for a
	// model newer than the one it holds (default 1 minute): another process
	// may have retrained.
	Refresh time.Duration
}

// Service trains, stores and serves the live ETA-risk model. Score is what
// triage calls for a case's priority and detail; Retrain is the periodic
// task's body.
type Service struct {
	db      *db.DB
	now     func() time.Time
	log     *slog.Logger
	history time.Duration
	live    LiveOptions
	refresh time.Duration
	store   Store

	mu        sync.Mutex
	cur       *LiveModel
	info      ModelInfo
	checkedAt time.Time
	trainMu   sync.Mutex // one retraining at a time per process
}

// NewService builds a Service; it loads nothing until first used.
func NewService(o ServiceOptions) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = logx.Discard()
	}
	if o.History <= 0 {
		o.History = 365 * 24 * time.Hour
	}
	if o.Refresh <= 0 {
		o.Refresh = time.Minute
	}
	return &Service{db: o.DB, now: o.Now, log: o.Log, history: o.History, live: o.Live, refresh: o.Refresh}
}

// Retrain trains a live model on the delivered shipments of the history
// window, stores it and serves it from now on. With no usable shipment it
// returns ErrNoModel (nothing is stored; the previous model stays).
func (s *Service) Retrain(ctx context.Context) (ModelInfo, error) {
	s.trainMu.Lock()
	defer s.trainMu.Unlock()
	start := s.now()
	opts := s.live
	opts.Now = start.UTC()
	m, err := TrainLive(ctx, CompletedShipments(ctx, s.db.Read, start.Add(-s.history)), opts)
	if errors.Is(err, ErrNoTrainingData) {
		return ModelInfo{}, fmt.Errorf("retrain: %w (%w)", ErrNoModel, err)
	}
	if err != nil {
		return ModelInfo{}, fmt.Errorf("retrain: %w", err)
	}
	b, err := m.MarshalBinary()
	if err != nil {
		return ModelInfo{}, fmt.Errorf("retrain: %w", err)
	}
	done := s.now()
	info := ModelInfo{ID: ids.New(), Kind: ModelKindLive, TrainedAt: start.UTC(), Shipments: int64(m.Trained),
		Skipped: int64(m.Skipped), TookMS: done.Sub(start).Milliseconds(), CreatedAt: done.UTC()}
	if err := s.store.Save(ctx, s.db, info, b); err != nil {
		return ModelInfo{}, fmt.Errorf("retrain: %w", err)
	}
	if n, err := s.store.Prune(ctx, s.db, ModelKindLive, keepModels); err != nil {
		s.log.Warn("eta: prune old models", "err", err)
	} else if n > 0 {
		s.log.Debug("eta: pruned old models", "count", n)
	}
	s.mu.Lock()
	s.cur, s.info, s.checkedAt = m, info, done
	s.mu.Unlock()
	mTrainings.Inc()
	mTrainSeconds.Observe(done.Sub(start).Seconds())
	s.log.Info("eta: model retrained", "model_id", info.ID, "shipments", m.Trained, "skipped", m.Skipped, "took_ms", info.TookMS)
	return info, nil
}

// Model returns the model to score with: the one in memory, or the newest
// stored one when the database holds a newer model (checked at most once
// per Refresh). ErrNoModel when none exists.
func (s *Service) Model(ctx context.Context) (*LiveModel, ModelInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.cur != nil && now.Sub(s.checkedAt) < s.refresh {
		return s.cur, s.info, nil
	}
	id, err := s.store.LatestID(ctx, s.db.Read, ModelKindLive)
	if err != nil {
		if s.cur != nil {
			s.log.Warn("eta: check for a newer model", "err", err)
			return s.cur, s.info, nil
		}
		return nil, ModelInfo{}, err
	}
	s.checkedAt = now
	if id == "" {
		return nil, ModelInfo{}, ErrNoModel
	}
	if s.cur != nil && id == s.info.ID {
		return s.cur, s.info, nil
	}
	info, b, err := s.store.Latest(ctx, s.db.Read, ModelKindLive)
	if err != nil {
		if apperr.KindOf(err) == apperr.KindNotFound {
			return nil, ModelInfo{}, ErrNoModel
		}
		return nil, ModelInfo{}, err
	}
	var m LiveModel
	if err := m.UnmarshalBinary(b); err != nil {
		if s.cur != nil {
			s.log.Error("eta: stored model unusable; keeping the one in memory", "model_id", info.ID, "err", err)
			return s.cur, s.info, nil
		}
		return nil, ModelInfo{}, fmt.Errorf("load eta model %s: %w", info.ID, err)
	}
	s.cur, s.info = &m, info
	return s.cur, s.info, nil
}

// Score predicts a shipment's delivery against its promise now: P(miss),
// p50 and p90 arrival, and the factors. PMiss is NaN when the shipment has
// no promised date or is delivered already. ErrNoModel before the first
// training.
func (s *Service) Score(ctx context.Context, sh *intake.Shipment) (Prediction, error) {
	if sh == nil {
		return Prediction{}, apperr.Invalid("no shipment to score")
	}
	m, _, err := s.Model(ctx)
	if err != nil {
		return Prediction{}, err
	}
	p := m.Score(FeaturesOf(sh, s.now()))
	mScores.Inc()
	return p, nil
}

// CaseLink is what scoring a case needs from triage: the case's shipment
// and a place to record the risk. internal/app implements it over
// triage.Service.
type CaseLink interface {
	// CaseShipment returns the shipment of a case; ok is false when the case
	// is gone or has no single shipment (e.g. a disruption).
	CaseShipment(ctx context.Context, caseID string) (shipmentID string, ok bool, err error)
	// SetETARisk records the risk and its explanation on the case.
	SetETARisk(ctx context.Context, caseID string, risk float64, detail string) error
}

// ScoreCase scores a case's shipment and records the result on the case.
// Nothing is recorded when there is no model yet, the case has no shipment,
// or the shipment has no promise or is delivered; those are not errors.
func (s *Service) ScoreCase(ctx context.Context, cases CaseLink, caseID string) error {
	shID, ok, err := cases.CaseShipment(ctx, caseID)
	if err != nil || !ok {
		return err
	}
	sh, err := intake.Store{}.GetShipment(ctx, s.db.Read, shID)
	if err != nil {
		if apperr.KindOf(err) == apperr.KindNotFound {
			return nil
		}
		return err
	}
	p, err := s.Score(ctx, sh)
	if errors.Is(err, ErrNoModel) {
		s.log.Debug("eta: no model yet; case not scored", "case_id", caseID)
		return nil
	}
	if err != nil {
		return err
	}
	if math.IsNaN(p.PMiss) {
		return nil
	}
	return cases.SetETARisk(ctx, caseID, p.PMiss, Describe(p))
}

// Describe is the one-paragraph explanation shown with a case's ETA risk.
func Describe(p Prediction) string {
	var b strings.Builder
	if !math.IsNaN(p.PMiss) {
		fmt.Fprintf(&b, "%.0f%% risk of missing the promised date. ", p.PMiss*100)
	}
	fmt.Fprintf(&b, "Expected delivery %s (p50), %s at the latest in 9 of 10 cases (p90).",
		p.P50.UTC().Format("Mon 2 Jan 15:04 MST"), p.P90.UTC().Format("Mon 2 Jan 15:04 MST"))
	for _, f := range p.Factors {
		switch f.Name {
		case "lane":
			fmt.Fprintf(&b, " Lane: %s.", f.Detail)
		default:
			fmt.Fprintf(&b, " %s: %s (%+.0f points).", strings.ToUpper(f.Name[:1])+f.Name[1:], f.Detail, f.Effect*100)
		}
	}
	return b.String()
}
