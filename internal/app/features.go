package app

import "context"

// wireFeatures builds the product's services on top of the foundation and
// registers their routes, job handlers and periodic tasks. Each feature has
// its own file in this package (odoo.go, rules.go, triage.go, intake.go,
// console.go, ai.go, digest.go) with one wireX method; the order below is the
// dependency order: the Odoo mirror feeds rules enrichment, rules and triage
// form the intake pipeline's stages, the console shows all of them.
func (a *App) wireFeatures(ctx context.Context) error {
	steps := []func(context.Context) error{
		a.wireFirstAdmin,
		a.wireIntake,
		a.wireRules,
		a.wireDemo,
		a.wireOdoo,
		a.wireAI,
		a.wireTriage,
		a.wireETA,
		a.wireDigest,
		a.wireConsole,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}
