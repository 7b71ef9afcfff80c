package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/yardmaster/yardmaster/audit"
)

func newAuditCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Verify and export the tamper-evident audit trail"}
	cmd.AddCommand(&cobra.Command{
		Use: "verify", Short: "Check every entry's hash and link; report the first broken one", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, d, err := c.openDB(cmd.Context(), cmd)
			if err != nil {
				return err
			}
			defer d.Close()
			res, err := audit.Verify(cmd.Context(), d.Read)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.stdout, res.String())
			if !res.OK {
				return fmt.Errorf("audit chain broken at entry %d (%s)", res.Broken.Seq, res.Broken.ID)
			}
			return nil
		},
	})
	var f audit.Filter
	var from, to, format, out string
	export := &cobra.Command{
		Use: "export", Short: "Export entries as JSONL or CSV, oldest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, p := range []struct {
				s   string
				dst *time.Time
				fl  string
			}{{from, &f.From, "--from"}, {to, &f.To, "--to"}} {
				if p.s == "" {
					continue
				}
				t, err := time.Parse(time.RFC3339, p.s)
				if err != nil {
					return fmt.Errorf("%s: want an RFC 3339 time such as 2026-11-27T00:00:00Z", p.fl)
				}
				*p.dst = t
			}
			_, d, err := c.openDB(cmd.Context(), cmd)
			if err != nil {
				return err
			}
			defer d.Close()
			w := c.stdout
			if out != "" && out != "-" {
				fh, err := os.Create(out)
				if err != nil {
					return err
				}
				defer fh.Close()
				w = fh
			}
			n, err := audit.Export(cmd.Context(), d.Read, f, format, w)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stderr, "exported %d entries\n", n)
			return nil
		},
	}
	export.Flags().StringVar(&from, "from", "", "RFC 3339 start (inclusive)")
	export.Flags().StringVar(&to, "to", "", "RFC 3339 end (exclusive)")
	export.Flags().StringVar(&f.SubjectType, "subject-type", "", "case, action, rule, source, user, token, …")
	export.Flags().StringVar(&f.SubjectID, "subject-id", "", "one subject")
	export.Flags().StringVar(&format, "format", "jsonl", "jsonl or csv")
	export.Flags().StringVarP(&out, "output", "o", "-", "file to write (default stdout)")
	cmd.AddCommand(export)
	return cmd
}
