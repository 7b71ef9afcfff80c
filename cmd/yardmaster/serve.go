package main

import (
	"fmt"
	"net"

	"github.com/spf13/cobra"

	"github.com/yardmaster/yardmaster/internal/app"
)

func newServeCmd(c *cli) *cobra.Command {
	var demo, noMigrate bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP API, console, workers and scheduler",
		Long: `Run Yardmaster. With no configuration it uses a SQLite file in ./data and an
embedded Redis-protocol server for the job queue; set YARDMASTER_DATABASE_URL
and YARDMASTER_REDIS_URL for PostgreSQL and Redis. --role splits the process:
api (HTTP and console), worker (jobs, scheduler; HTTP serves only /healthz,
/readyz and /metrics), or all (the default).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if noMigrate {
				*c.overrides["AUTO_MIGRATE"] = "false"
			}
			cfg, err := c.config(cmd)
			if err != nil {
				return err
			}
			log := c.logger(cfg)
			log.Debug("garbage collector target", "gogc", tuneGC(c.lookup))
			a, err := app.Open(cmd.Context(), app.Options{Config: cfg, Logger: log, Version: buildVersion(), Out: c.stdout, Demo: demo})
			if err != nil {
				return err
			}
			defer a.Close()
			ready := make(chan net.Addr, 1)
			go func() {
				if addr, ok := <-ready; ok {
					host := addr.String()
					fmt.Fprintf(c.stdout, "Yardmaster %s is running (role %s, %s database, %s).\n  Console:  http://%s/\n  API docs: http://%s/api/openapi.json\n  Health:   http://%s/readyz\nPress Ctrl+C to stop.\n",
						buildVersion(), cfg.Role, a.DB.Engine, queueDesc(a), host, host, host)
				}
			}()
			return a.Run(cmd.Context(), ready)
		},
	}
	c.flagVar(cmd, false, "addr", "ADDR", "listen address host:port")
	c.flagVar(cmd, false, "role", "ROLE", "api, worker or all")
	c.overrides["AUTO_MIGRATE"] = new(string)
	cmd.Flags().BoolVar(&noMigrate, "no-migrate", false, "do not apply migrations on start (refuse to start on a stale schema)")
	cmd.Flags().BoolVar(&demo, "demo", false, "seed a demo: Odoo emulator, sources, a replayed event stream, cases and pending actions")
	return cmd
}

func queueDesc(a *app.App) string {
	if a.Queue.Embedded() {
		return "embedded Redis (not durable across restarts)"
	}
	return "Redis"
}
