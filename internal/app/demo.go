package app

import (
	"context"
	"fmt"
	"time"

	"github.com/yardmaster/yardmaster/internal/demo"
)

// DemoLiveEvery is how often the demo's live stream advances a shipment.
var DemoLiveEvery = 20 * time.Second

// wireDemo prepares `serve --demo`: it starts the Odoo emulator in the
// process and points the Odoo connector at it (unless YARDMASTER_ODOO_URL
// names a real Odoo), then, once the process runs, seeds the installation
// through the real services and keeps a slow live stream going. It runs
// before wireOdoo so the connector sees the emulator's address.
func (a *App) wireDemo(ctx context.Context) error {
	if !a.Demo {
		return nil
	}
	em, err := demo.StartOdoo(a.Now, a.Log)
	if err != nil {
		return fmt.Errorf("demo: start the Odoo emulator: %w", err)
	}
	a.OnClose(em.Close)
	if a.Config.OdooURL == "" {
		a.Config.OdooURL, a.Config.OdooDB, a.Config.OdooUser, a.Config.OdooAPIKey = em.URL(), em.DB(), em.Login(), em.APIKey()
		a.Config.OdooProtocol = "xmlrpc"
		fmt.Fprintf(a.Out, "Demo: Odoo emulator at %s (database %q)\n", em.URL(), em.DB())
	}
	if !a.RunsAPI() {
		return nil // one process seeds: the one serving the console
	}
	done := make(chan struct{})
	started := false
	a.OnRun(func(ctx context.Context) error {
		if a.Intake == nil || a.Triage == nil {
			close(done)
			return fmt.Errorf("demo: needs the intake and triage features")
		}
		started = true
		d := demo.Deps{DB: a.DB, Now: a.Now, Log: a.Log, Out: a.Out, Intake: a.Intake, Triage: a.Triage, Emulator: em, Clock: a.demoClock}
		if a.Odoo != nil {
			d.Mirror = a.Odoo.Mirror
		}
		go func() {
			defer close(done)
			_ = demo.Run(ctx, d, DemoLiveEvery)
		}()
		return nil
	})
	a.OnClose(func() error {
		if started {
			<-done
		}
		return nil
	})
	return nil
}
