package app

import (
	"context"
	"time"

	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/rules"
)

// wireRules builds the rules service: it installs the starter ruleset on
// first start, loads the active version, adds the evaluation stage to the
// intake pipeline (triage chains after it with a.Rules.SetNext; the Odoo
// mirror plugs in with a.Rules.SetLookup), registers the API and the
// backtest job, and keeps the active version current once the process runs.
func (a *App) wireRules(ctx context.Context) error {
	a.Rules = rules.New(a.DB, rules.Options{
		Now: a.Now, Log: a.Log, FourEyes: a.Config.RulesFourEyes, Events: intake.Store{},
	})
	if err := a.Rules.Init(ctx); err != nil {
		return err
	}
	if a.Intake != nil {
		a.Intake.Pipeline.AddStage(a.Rules.Stage(nil))
	}
	a.Queue.Handle(rules.TaskBacktest, a.Rules.HandleBacktest)
	if a.RunsAPI() {
		a.Web.RulesRoutes(a.Rules, a.Queue)
	}
	a.OnRun(func(ctx context.Context) error {
		a.Rules.StartPolling(ctx)
		return nil
	})
	a.OnClose(func() error { a.Rules.Close(); return nil })
	a.AddPruner(Pruner{Name: "rules", Fn: func(ctx context.Context, now time.Time) (int, error) {
		return a.Rules.Store().PruneEvaluations(ctx, a.DB, now.Add(-a.Config.RulesRecordRetention))
	}})
	return nil
}
