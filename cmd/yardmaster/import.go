package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/yardmaster/yardmaster/intake"
)

// countingReader reports bytes read, for the progress bar.
type countingReader struct {
	r   io.Reader
	bar *progressbar.ProgressBar
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.bar != nil && n > 0 {
		_ = c.bar.Add(n)
	}
	return n, err
}

func newImportCmd(c *cli) *cobra.Command {
	var opts intake.ImportOptions
	var format string
	var maps []string
	var asJSON, quiet bool
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import a JSONL or CSV file of canonical events through the intake pipeline",
		Long: `Streams FILE (or - for stdin) through the same pipeline as webhooks: validation, mapping,
deduplication, shipment state, rules. Memory stays bounded whatever the size. Rejected lines are
reported with their line numbers; the rest is stored. The column mapping of CSV files is in docs/intake.md.`,
		Example: `  yardmaster import events.jsonl --source acme-3pl
  yardmaster import daily.csv --source acme-3pl --map "Tracking No=tracking_number" --map "Scan Time=occurred_at"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			reg, d, err := c.openRegistry(ctx, cmd)
			if err != nil {
				return err
			}
			defer d.Close()
			cfg, _ := c.config(cmd)
			svc := intake.NewService(d, reg, intake.ServiceOptions{Now: c.now,
				Pipeline: intake.PipelineOptions{MaxBatch: cfg.BatchMaxEvents, MaxWait: 0}})
			defer svc.Close()

			var in io.Reader = c.stdin
			var size int64 = -1
			name := args[0]
			if name != "-" {
				f, err := os.Open(name)
				if err != nil {
					return err
				}
				defer f.Close()
				if st, err := f.Stat(); err == nil {
					size = st.Size()
				}
				in = f
			}
			opts.Format = format
			if opts.Format == "" {
				switch strings.ToLower(filepath.Ext(name)) {
				case ".csv":
					opts.Format = "csv"
				default:
					opts.Format = "jsonl"
				}
			}
			opts.Rename = map[string]string{}
			for _, m := range maps {
				from, to, ok := strings.Cut(m, "=")
				if !ok {
					return fmt.Errorf("--map %q: want 'Their Column=our_column'", m)
				}
				opts.Rename[strings.TrimSpace(from)] = strings.TrimSpace(to)
			}
			var bar *progressbar.ProgressBar
			if f, ok := c.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && !quiet {
				bar = progressbar.NewOptions64(size, progressbar.OptionSetWriter(c.stderr), progressbar.OptionShowBytes(true),
					progressbar.OptionSetDescription("importing "+filepath.Base(name)), progressbar.OptionThrottle(100_000_000),
					progressbar.OptionClearOnFinish())
			}
			if !asJSON && !quiet {
				opts.OnReject = func(r intake.ImportReject) {
					msgs := make([]string, len(r.Errors))
					for i, e := range r.Errors {
						msgs[i] = e.Field + ": " + e.Message
					}
					if bar != nil {
						_ = bar.Clear()
					}
					fmt.Fprintf(c.stderr, "line %d rejected: %s\n", r.Line, strings.Join(msgs, "; "))
				}
			}
			sum, err := svc.Import(ctx, &countingReader{r: in, bar: bar}, opts)
			if bar != nil {
				_ = bar.Finish()
			}
			if err != nil {
				if sum != nil && sum.Lines > 0 {
					fmt.Fprintf(c.stderr, "stopped after %d lines (%d stored, %d duplicates, %d rejected)\n", sum.Lines, sum.Accepted, sum.Duplicates, sum.Rejected)
				}
				return err
			}
			if asJSON {
				return json.NewEncoder(c.stdout).Encode(sum)
			}
			fmt.Fprintf(c.stdout, "%d lines in %.1fs: %d events stored, %d duplicates, %d rejected\n",
				sum.Lines, sum.Elapsed, sum.Accepted, sum.Duplicates, sum.Rejected)
			if sum.Rejected > 0 {
				fmt.Fprintln(c.stdout, "rejections by reason:")
				for _, r := range sum.TopReasons() {
					fmt.Fprintln(c.stdout, r)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.Source, "source", "", "the registered source the events come from (required)")
	cmd.Flags().StringVar(&format, "format", "", "jsonl or csv (default: from the file extension)")
	cmd.Flags().StringArrayVar(&maps, "map", nil, "CSV: rename a column, 'Their Column=our_column' (repeatable)")
	cmd.Flags().StringArrayVar(&opts.Ignore, "ignore", nil, "CSV: skip a column (repeatable)")
	cmd.Flags().IntVar(&opts.Chunk, "chunk", 500, "events per transaction")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary (with up to 1000 rejects) as one JSON object")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "no progress bar and no per-line rejects")
	_ = cmd.MarkFlagRequired("source")
	return cmd
}
