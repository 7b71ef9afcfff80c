package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/yardmaster/yardmaster/internal/config"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/odoo"
)

func newOdooCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "odoo", Short: "Odoo connector: check the connection, sync and query the local mirror"}
	connector := func(cmd *cobra.Command) (config.Config, *db.DB, *odoo.Connector, error) {
		cfg, d, err := c.openDB(cmd.Context(), cmd)
		if err != nil {
			return cfg, nil, nil, err
		}
		if !odoo.Enabled(cfg) {
			d.Close()
			return cfg, nil, nil, fmt.Errorf("YARDMASTER_ODOO_URL is not set: the Odoo connector is off (see docs/odoo.md)")
		}
		conn, err := odoo.NewConnector(cfg, odoo.MirrorOptions{DB: d}, c.logger(cfg), c.now)
		if err != nil {
			d.Close()
			return cfg, nil, nil, err
		}
		return cfg, d, conn, nil
	}

	cmd.AddCommand(&cobra.Command{
		Use: "check", Short: "Connect, authenticate and print the server version and protocol", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, d, conn, err := connector(cmd)
			if err != nil {
				return err
			}
			defer d.Close()
			v, err := conn.Client.Version(cmd.Context())
			if err != nil {
				return fmt.Errorf("odoo at %s: %w", cfg.OdooURL, err)
			}
			fmt.Fprintf(c.stdout, "Odoo %s at %s, database %s, protocol %s, login %s: OK\n", v.ServerVersion, cfg.OdooURL, cfg.OdooDB, conn.Client.Protocol(), cfg.OdooUser)
			if v.Major >= 19 && conn.Client.Protocol() == odoo.ProtocolXMLRPC {
				fmt.Fprintln(c.stderr, "warning: XML-RPC is deprecated since Odoo 19 and removed in Odoo 22; set YARDMASTER_ODOO_PROTOCOL=json2 (or auto)")
			}
			return nil
		},
	})

	var full, asJSON, quiet bool
	var models []string
	sync := &cobra.Command{
		Use:   "sync",
		Short: "Sync the local Odoo mirror now (incremental, or --full to reconcile)",
		Long: `Transfer pickings, sales orders, customers, salespeople, teams and partner tags
changed since the last sync (by write_date, with an overlap), or with --full
everything, removing what Odoo no longer has. The periodic job does the same
every YARDMASTER_ODOO_SYNC_INTERVAL.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, d, conn, err := connector(cmd)
			if err != nil {
				return err
			}
			defer d.Close()
			var bar *progressbar.ProgressBar
			current := ""
			opts := odoo.SyncOptions{Full: full, Models: models, Count: !quiet && !asJSON}
			if opts.Count {
				opts.Progress = func(model string, done, total int) {
					if model != current {
						if bar != nil {
							_ = bar.Finish()
							fmt.Fprintln(c.stderr)
						}
						current = model
						bar = progressbar.NewOptions(max(total, 1), progressbar.OptionSetWriter(c.stderr), progressbar.OptionSetDescription(fmt.Sprintf("%-22s", model)),
							progressbar.OptionShowCount(), progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100*time.Millisecond),
							progressbar.OptionSetPredictTime(true))
					}
					bar.ChangeMax(max(total, 1))
					_ = bar.Set(done)
				}
			}
			start := time.Now()
			rep, err := conn.Mirror.Sync(cmd.Context(), opts)
			if bar != nil {
				_ = bar.Finish()
				fmt.Fprintln(c.stderr)
			}
			if asJSON {
				enc := json.NewEncoder(c.stdout)
				enc.SetIndent("", "  ")
				_ = enc.Encode(rep)
			} else {
				tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "MODEL\tMODE\tFETCHED\tDELETED\tPAGES\tDURATION")
				for _, m := range rep.Models {
					mode := "incremental"
					if m.Full {
						mode = "full"
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", m.Model, mode, m.Fetched, m.Deleted, m.Pages, m.Duration.Round(time.Millisecond))
				}
				tw.Flush()
				if err == nil {
					fmt.Fprintf(c.stdout, "synced in %s\n", time.Since(start).Round(time.Millisecond))
				}
			}
			return err
		},
	}
	sync.Flags().BoolVar(&full, "full", false, "refetch everything and remove records deleted in Odoo")
	sync.Flags().StringSliceVar(&models, "model", nil, "limit to these models (repeatable): "+fmt.Sprint(odoo.MirroredModels))
	sync.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	sync.Flags().BoolVar(&quiet, "quiet", false, "no progress bar")
	cmd.AddCommand(sync)

	cmd.AddCommand(&cobra.Command{
		Use: "status", Short: "Show the mirror's sync state per model", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, d, err := c.openDB(cmd.Context(), cmd)
			if err != nil {
				return err
			}
			defer d.Close()
			m, err := odoo.NewMirror(odoo.MirrorOptions{DB: d})
			if err != nil {
				return err
			}
			st, err := m.Status(cmd.Context(), d.Read)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "MODEL\tRECORDS\tLAST SUCCESS\tLAST FULL\tLAST RUN RECORDS\tLAST ERROR")
			ts := func(t *time.Time) string {
				if t == nil {
					return "never"
				}
				return t.UTC().Format(time.RFC3339)
			}
			for _, s := range st {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%s\n", s.Model, s.Records, ts(s.LastSuccessAt), ts(s.LastFullAt), s.LastRunRecords, s.LastError)
			}
			return tw.Flush()
		},
	})

	var key odoo.LookupKey
	lookup := &cobra.Command{
		Use: "lookup", Short: "Show the order and customer context the mirror gives a shipment (no Odoo call)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if key == (odoo.LookupKey{}) {
				return fmt.Errorf("give --tracking, --order or --picking")
			}
			cfg, d, err := c.openDB(cmd.Context(), cmd)
			if err != nil {
				return err
			}
			defer d.Close()
			m, err := odoo.NewMirror(odoo.MirrorOptions{DB: d, BaseURL: cfg.OdooURL})
			if err != nil {
				return err
			}
			res, err := m.Lookup(cmd.Context(), d.Read, key)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(c.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(res)
		},
	}
	lookup.Flags().StringVar(&key.TrackingNumber, "tracking", "", "carrier tracking number")
	lookup.Flags().StringVar(&key.OrderRef, "order", "", "sales order reference or the customer's reference")
	lookup.Flags().StringVar(&key.PickingRef, "picking", "", "delivery reference (e.g. WH/OUT/00042)")
	cmd.AddCommand(lookup)
	return cmd
}
