package app

import (
	"context"
	"time"

	"github.com/yardmaster/yardmaster/intake"
)

// wireIntake builds the intake service (sources registry, group-commit
// pipeline) and registers its routes and housekeeping. Rules and triage add
// their stages afterwards with a.Intake.Pipeline.AddStage (or SetStages);
// the pipeline picks up the stage list at each batch, so wiring order among
// the later steps does not matter.
func (a *App) wireIntake(ctx context.Context) error {
	reg := intake.NewRegistry(a.DB, a.Box, a.Now)
	a.Intake = intake.NewService(a.DB, reg, intake.ServiceOptions{
		Now: a.Now, Log: a.Log, DefaultRate: a.Config.SourceRateLimit,
		Pipeline: intake.PipelineOptions{MaxBatch: a.Config.BatchMaxEvents, MaxWait: a.Config.BatchMaxWait, Committers: a.Config.BatchCommitters},
	})
	// Close after the HTTP server stops (closers run in reverse order), so
	// queued deliveries commit before the database closes.
	a.OnClose(func() error { a.Intake.Close(); return nil })
	if a.RunsAPI() {
		a.Web.IntakeRoutes(a.Intake)
	}
	a.AddPruner(Pruner{Name: "intake", Fn: func(ctx context.Context, now time.Time) (int, error) {
		return a.Intake.Store.Prune(ctx, a.DB, now, a.Config.DedupRetention, a.Config.RawPayloadRetention)
	}})
	return nil
}
