package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/queue"
	"github.com/yardmaster/yardmaster/triage"
	"github.com/yardmaster/yardmaster/triage/eta"
)

// wireETA builds the live ETA-risk model service: the periodic retraining
// task (YARDMASTER_ETA_RETRAIN_INTERVAL) over delivered shipments of the
// last YARDMASTER_ETA_HISTORY, a first training at start on worker
// processes that find no stored model, and — when triage is wired — the
// case:eta_risk handler that scores a case's shipment and records the risk
// and its explanation on the case (which feeds the priority score).
func (a *App) wireETA(ctx context.Context) error {
	svc := eta.NewService(eta.ServiceOptions{DB: a.DB, Now: a.Now, Log: a.Log, History: a.Config.ETAHistory})
	retrain := func(ctx context.Context) error {
		_, err := svc.Retrain(ctx)
		if errors.Is(err, eta.ErrNoModel) {
			a.Log.Info("eta: no delivered shipments with pickup and delivery times yet; nothing to learn")
			return nil
		}
		return err
	}
	a.Queue.Handle(eta.TaskRetrain, func(ctx context.Context, _ queue.Delivery) error { return retrain(ctx) })
	a.Queue.Every(eta.TaskRetrain, a.Config.ETARetrainInterval, queue.QueueLow)
	if a.RunsWorkers() {
		a.OnRun(func(ctx context.Context) error {
			if _, _, err := svc.Model(ctx); errors.Is(err, eta.ErrNoModel) {
				go func() {
					if err := retrain(ctx); err != nil && ctx.Err() == nil {
						a.Log.Error("eta: first training", "err", err)
					}
				}()
			}
			return nil
		})
	}
	if a.Triage != nil {
		link := etaCases{svc: a.Triage}
		a.Queue.Handle(triage.TaskCaseETARisk, func(ctx context.Context, d queue.Delivery) error {
			var p struct {
				CaseID string `json:"case_id"`
			}
			if err := d.Decode(&p); err != nil {
				return err
			}
			if p.CaseID == "" {
				return queue.Permanent(fmt.Errorf("%s: no case_id", triage.TaskCaseETARisk))
			}
			return svc.ScoreCase(ctx, link, p.CaseID)
		})
		a.Triage.SetETA(triage.QueueETA{})
	}
	return nil
}

// etaCases serves the ETA service from triage: a case's shipment, and the
// place to record its risk.
type etaCases struct{ svc *triage.Service }

func (l etaCases) CaseShipment(ctx context.Context, caseID string) (string, bool, error) {
	c, err := l.svc.Get(ctx, caseID)
	if apperr.KindOf(err) == apperr.KindNotFound {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	if c.Kind == triage.KindDisruption || c.ShipmentID == "" || !c.Live() {
		return "", false, nil
	}
	return c.ShipmentID, true, nil
}

func (l etaCases) SetETARisk(ctx context.Context, caseID string, risk float64, detail string) error {
	_, err := l.svc.SetETARisk(ctx, caseID, risk, detail)
	return err
}
