package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/yardmaster/yardmaster/internal/app"
	"github.com/yardmaster/yardmaster/internal/config"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/internal/logx"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		if v == "(devel)" || v == "" {
			v = "dev"
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += "+" + s.Value[:12]
			}
		}
		return v
	}
	return "dev"
}

// cli holds what every command shares: the environment, the streams and the
// global flags (which override YARDMASTER_* variables).
type cli struct {
	lookup         func(string) (string, bool)
	stdin          io.Reader
	stdout, stderr io.Writer
	overrides      map[string]*string // variable name (without prefix) → flag value
	now            func() time.Time
}

// flagVar binds a string flag that overrides YARDMASTER_<env>.
func (c *cli) flagVar(cmd *cobra.Command, persistent bool, name, env, usage string) {
	v := new(string)
	fs := cmd.Flags()
	if persistent {
		fs = cmd.PersistentFlags()
	}
	fs.StringVar(v, name, "", usage+" (overrides YARDMASTER_"+env+")")
	c.overrides[env] = v
	_ = fs // keep linters quiet about the shadow
}

// config loads the configuration: environment, then flags that were set.
func (c *cli) config(cmd *cobra.Command) (config.Config, error) {
	ov := map[string]string{}
	for env, v := range c.overrides {
		if *v != "" {
			ov[env] = *v
		}
	}
	return config.Load(c.lookup, ov)
}

// logger returns the JSON logger on stderr at the configured level.
func (c *cli) logger(cfg config.Config) *slog.Logger { return logx.New(c.stderr, cfg.LogLevel) }

// openDB opens the configured database for an admin command, applying
// pending migrations when YARDMASTER_AUTO_MIGRATE allows it.
func (c *cli) openDB(ctx context.Context, cmd *cobra.Command) (config.Config, *db.DB, error) {
	cfg, err := c.config(cmd)
	if err != nil {
		return cfg, nil, err
	}
	d, err := app.OpenDB(ctx, cfg, cfg.AutoMigrate, nil)
	if err != nil {
		return cfg, nil, err
	}
	if !cfg.AutoMigrate {
		if p, err := d.Pending(ctx); err == nil && len(p) > 0 {
			d.Close()
			return cfg, nil, fmt.Errorf("database schema is not current (%d pending migrations): run `yardmaster migrate up`", len(p))
		}
	}
	return cfg, d, nil
}

func newRootCmd(c *cli) *cobra.Command {
	root := &cobra.Command{
		Use:           "yardmaster",
		Short:         "Logistics exception management for Odoo: intake, rules, triage, write-back",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildVersion(),
	}
	root.SetIn(c.stdin)
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	c.flagVar(root, true, "data-dir", "DATA_DIR", "data directory")
	c.flagVar(root, true, "database-url", "DATABASE_URL", "database URL")
	c.flagVar(root, true, "redis-url", "REDIS_URL", "Redis URL")
	c.flagVar(root, true, "log-level", "LOG_LEVEL", "log level")
	for _, sub := range subcommands {
		root.AddCommand(sub(c))
	}
	return root
}

// subcommands lists every subcommand constructor; each lives in its own file.
var subcommands = []func(*cli) *cobra.Command{
	newServeCmd,
	newMigrateCmd,
	newTokensCmd,
	newUsersCmd,
	newAuditCmd,
	newConfigCmd,
	newETACmd,
	newVersionCmd,
	newSourcesCmd,
	newImportCmd,
	newRulesCmd,
	newLoadtestCmd,
	newOdooCmd,
	newOdooSimCmd,
}

func run(args []string, lookup func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{lookup: lookup, stdin: stdin, stdout: stdout, stderr: stderr, overrides: map[string]*string{}, now: time.Now}
	root := newRootCmd(c)
	root.SetArgs(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			fmt.Fprintln(stderr, ce.Error())
			return 2
		}
		fmt.Fprintln(stderr, "yardmaster: "+err.Error())
		return 1
	}
	return 0
}

func newVersionCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(c.stdout, "yardmaster "+buildVersion())
			return nil
		},
	}
}
