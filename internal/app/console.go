package app

import (
	"context"
	"strings"

	"github.com/yardmaster/yardmaster/internal/console"
	"github.com/yardmaster/yardmaster/internal/opsview"
	"github.com/yardmaster/yardmaster/web"
)

// wireConsole builds the web console on the API server: session store,
// login throttling, saved views and the pages of every service wired
// before it. It runs last among the features so it can show all of them.
// A worker-only process has no console.
func (a *App) wireConsole(ctx context.Context) error {
	if !a.RunsAPI() {
		return nil
	}
	secure := a.Config.SecureCookies == "true" ||
		a.Config.SecureCookies == "auto" && strings.HasPrefix(strings.ToLower(a.Config.PublicURL), "https://")
	sessions := console.NewSessions(a.DB, a.Now, a.Config.SessionIdleTimeout, a.Config.SessionMaxAge)
	throttle := console.NewThrottle(a.DB, a.Now, a.Config.LoginMaxFailures)
	svc := web.ConsoleServices{Queue: a.Queue, Intake: a.Intake, Triage: a.Triage, Rules: a.Rules, Digests: a.Digest}
	if a.Intake != nil {
		svc.Reports = opsview.NewReports(a.DB.Read, a.Now, a.Log)
	}
	if a.AI != nil {
		svc.Summaries = a.AI.Store
	}
	if a.Odoo != nil {
		svc.Odoo, svc.Mirror = a.Odoo.Client, a.Odoo.Mirror
	}
	cn, err := web.NewConsole(a.Web, web.ConsoleOptions{Sessions: sessions, Throttle: throttle,
		Views: &console.Views{DB: a.DB, Now: a.Now}, SecureCookies: secure, Services: svc})
	if err != nil {
		return err
	}
	a.Console = cn
	a.AddPruner(Pruner{Name: "console sessions", Fn: sessions.Prune})
	a.AddPruner(Pruner{Name: "login throttle", Fn: throttle.Prune})
	return nil
}
