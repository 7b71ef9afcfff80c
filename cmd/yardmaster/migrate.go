package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/yardmaster/yardmaster/internal/app"
	"github.com/yardmaster/yardmaster/internal/db"
)

func newMigrateCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "migrate", Short: "Apply, revert or list database migrations"}
	open := func(cmd *cobra.Command) (func(), *db.DB, error) {
		cfg, err := c.config(cmd)
		if err != nil {
			return nil, nil, err
		}
		d, err := app.OpenDB(cmd.Context(), cfg, false, nil)
		if err != nil {
			return nil, nil, err
		}
		return func() { d.Close() }, d, nil
	}
	cmd.AddCommand(&cobra.Command{
		Use: "up", Short: "Apply every pending migration", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			closeFn, d, err := open(cmd)
			if err != nil {
				return err
			}
			defer closeFn()
			names, err := d.Migrate(cmd.Context())
			if err != nil {
				return err
			}
			if len(names) == 0 {
				fmt.Fprintln(c.stdout, "database is up to date")
			}
			for _, n := range names {
				fmt.Fprintln(c.stdout, "applied "+n)
			}
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "down", Short: "Revert the last applied group of migrations", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			closeFn, d, err := open(cmd)
			if err != nil {
				return err
			}
			defer closeFn()
			names, err := d.Rollback(cmd.Context())
			if err != nil {
				return err
			}
			if len(names) == 0 {
				fmt.Fprintln(c.stdout, "nothing to revert")
			}
			for _, n := range names {
				fmt.Fprintln(c.stdout, "reverted "+n)
			}
			return nil
		},
	})
	var asJSON bool
	status := &cobra.Command{
		Use: "status", Short: "List migrations and whether each is applied", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			closeFn, d, err := open(cmd)
			if err != nil {
				return err
			}
			defer closeFn()
			ms, err := d.Migrations(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(c.stdout).Encode(ms)
			}
			tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "MIGRATION\tSTATUS\tGROUP\tAPPLIED AT\n")
			pending := 0
			for _, m := range ms {
				st, at, grp := "pending", "", ""
				if m.Applied {
					st, at, grp = "applied", m.AppliedAt.Format("2006-01-02 15:04:05Z07:00"), fmt.Sprint(m.GroupID)
				} else {
					pending++
				}
				fmt.Fprintf(tw, "%s_%s\t%s\t%s\t%s\n", m.Name, m.Comment, st, grp, at)
			}
			tw.Flush()
			fmt.Fprintf(c.stdout, "%d migrations, %d pending (%s database)\n", len(ms), pending, d.Engine)
			return nil
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(status)
	return cmd
}
