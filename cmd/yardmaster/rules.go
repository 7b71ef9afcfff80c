package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/config"
	"github.com/yardmaster/yardmaster/internal/db"
	"github.com/yardmaster/yardmaster/rules"
)

func newRulesCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Test, export, import and backtest rules (YAML files kept in git)",
	}
	cmd.AddCommand(rulesTestCmd(c), rulesExportCmd(c), rulesImportCmd(c), rulesBacktestCmd(c), rulesValidateCmd(c))
	return cmd
}

// rulesService opens the database and the rules service (installing the
// starter ruleset on a fresh database).
func (c *cli) rulesService(ctx context.Context, cmd *cobra.Command) (config.Config, *db.DB, *rules.Service, error) {
	cfg, d, err := c.openDB(ctx, cmd)
	if err != nil {
		return cfg, nil, nil, err
	}
	svc := rules.New(d, rules.Options{Now: c.now, Log: c.logger(cfg), FourEyes: cfg.RulesFourEyes, Events: intake.Store{}})
	if err := svc.Init(audit.WithActor(ctx, cliActor)); err != nil {
		d.Close()
		return cfg, nil, nil, err
	}
	return cfg, d, svc, nil
}

func readRulesFile(path string, stdin io.Reader) (*rules.Ruleset, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(stdin, rules.MaxFileBytes+1))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	rs, err := rules.ParseYAML(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rs, nil
}

// printReport prints diagnostics and test results; it reports whether
// everything passed.
func printReport(w io.Writer, rep *rules.Report, verbose bool) bool {
	for _, d := range rep.Errors {
		fmt.Fprintf(w, "ERROR %s\n", d)
	}
	for _, d := range rep.Warnings {
		fmt.Fprintf(w, "warn  %s\n", d)
	}
	passed, failed := 0, 0
	for _, t := range rep.Tests {
		if t.Passed {
			passed++
			if verbose {
				fmt.Fprintf(w, "PASS  %s / %s\n", t.Rule, t.Test)
			}
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL  %s / %s\n", t.Rule, t.Test)
		for _, f := range t.Failures {
			fmt.Fprintf(w, "        %s\n", f)
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed, %d errors, %d warnings\n", passed, failed, len(rep.Errors), len(rep.Warnings))
	return failed == 0 && len(rep.Errors) == 0
}

func rulesTestCmd(c *cli) *cobra.Command {
	var verbose, allowUntested bool
	cmd := &cobra.Command{
		Use:   "test [FILE]",
		Short: "Compile a ruleset file (or the drafts) and run every rule's test cases",
		Long: "With FILE (YAML, - for stdin) it runs offline, without a database: use it in CI on rules kept in git.\n" +
			"Without FILE it tests the draft rules in the database. It exits 1 when a test fails or a rule has errors.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var rep *rules.Report
			if len(args) == 1 {
				rs, err := readRulesFile(args[0], c.stdin)
				if err != nil {
					return err
				}
				svc := rules.New(nil, rules.Options{AllowUntested: allowUntested})
				rep = svc.TestRuleset(rs)
			} else {
				_, d, svc, err := c.rulesService(cmd.Context(), cmd)
				if err != nil {
					return err
				}
				defer d.Close()
				if rep, err = svc.TestDrafts(cmd.Context()); err != nil {
					return err
				}
			}
			if !printReport(c.stdout, rep, verbose) {
				return errors.New("rules test failed")
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list passing tests too")
	cmd.Flags().BoolVar(&allowUntested, "allow-untested", false, "do not require a matching and a non-matching test case per rule")
	return cmd
}

func rulesValidateCmd(c *cli) *cobra.Command {
	var eventTypes []string
	cmd := &cobra.Command{
		Use:   "validate EXPRESSION",
		Short: "Check a rule condition: errors and lint warnings with line and column",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res := rules.ValidateCondition(args[0], eventTypes, nil)
			for _, d := range res.Errors {
				fmt.Fprintf(c.stdout, "ERROR %s\n", d)
			}
			for _, d := range res.Warnings {
				fmt.Fprintf(c.stdout, "warn  %s\n", d)
			}
			if !res.OK {
				return errors.New("invalid expression")
			}
			fmt.Fprintln(c.stdout, "ok")
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&eventTypes, "event-types", nil, "event types to check the condition against (e.g. status:in_transit)")
	return cmd
}

func rulesExportCmd(c *cli) *cobra.Command {
	var which, out string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write a ruleset (draft, active or a version) as YAML",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, d, svc, err := c.rulesService(cmd.Context(), cmd)
			if err != nil {
				return err
			}
			defer d.Close()
			rs, err := svc.Export(cmd.Context(), which)
			if err != nil {
				return err
			}
			b, err := rules.MarshalYAML(rs)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err = c.stdout.Write(b)
				return err
			}
			return os.WriteFile(out, b, 0o644)
		},
	}
	cmd.Flags().StringVar(&which, "ruleset", "draft", "draft, active or a version number")
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (default stdout)")
	return cmd
}

func rulesImportCmd(c *cli) *cobra.Command {
	var replace, publish bool
	var note string
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Load a YAML ruleset into the drafts (and optionally publish it)",
		Long: "Rules are matched by id. With --replace, drafts and lists not in the file are deleted. The file must compile;\n" +
			"with --publish the drafts are then published (every test must pass; with four-eyes the version waits for approval).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := readRulesFile(args[0], c.stdin)
			if err != nil {
				return err
			}
			_, d, svc, err := c.rulesService(cmd.Context(), cmd)
			if err != nil {
				return err
			}
			defer d.Close()
			ctx := audit.WithActor(cmd.Context(), cliActor)
			res, err := svc.Import(ctx, rs, replace)
			if err != nil {
				return describeErr(err)
			}
			fmt.Fprintf(c.stdout, "created %d, updated %d, deleted %d, unchanged %d\n", len(res.Created), len(res.Updated), len(res.Deleted), len(res.Unchanged))
			printReport(c.stdout, &rules.Report{Warnings: res.Warnings, Tests: res.Tests}, false)
			if !publish {
				return nil
			}
			pub, err := svc.Publish(ctx, note)
			var pe *rules.PublishError
			if errors.As(err, &pe) {
				printReport(c.stdout, pe.Report, false)
				return err
			}
			if err != nil {
				return describeErr(err)
			}
			fmt.Fprintf(c.stdout, "version %d %s (%s)\n", pub.Version.Version, pub.Version.Status, pub.Version.Hash)
			return nil
		},
	}
	cmd.Flags().BoolVar(&replace, "replace", false, "delete drafts and lists that are not in the file")
	cmd.Flags().BoolVar(&publish, "publish", false, "publish after importing")
	cmd.Flags().StringVar(&note, "note", "", "publish note")
	return cmd
}

// describeErr adds field errors to an apperr message.
func describeErr(err error) error {
	e, ok := apperr.As(err)
	if !ok || len(e.Fields) == 0 {
		return err
	}
	var b strings.Builder
	b.WriteString(e.Detail)
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "\n  %s: %s", f.Field, f.Message)
	}
	return errors.New(b.String())
}

func parseWhen(flag, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil // "720h" means 720 hours ago
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--%s: %q is not a date (2026-03-01), an RFC 3339 time or a duration ago (720h)", flag, v)
}

func rulesBacktestCmd(c *cli) *cobra.Command {
	var from, to, candidate, baseline string
	var asJSON bool
	var examples int
	cmd := &cobra.Command{
		Use:   "backtest --candidate FILE|draft|active|VERSION [--from T] [--to T]",
		Short: "Replay stored events through the active ruleset and a candidate; report what changes",
		Long: "Events are read in processing order with the shipment state and Odoo context they were evaluated with, streamed\n" +
			"with bounded memory. Ctrl-C stops and prints the partial report. --from/--to take a date, an RFC 3339 time or a\n" +
			"duration ago (e.g. --from 720h).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			now := c.now()
			req := rules.BacktestRequest{Baseline: baseline, MaxExamples: examples}
			var err error
			if req.From, err = parseWhen("from", from, now); err != nil {
				return err
			}
			if req.To, err = parseWhen("to", to, now); err != nil {
				return err
			}
			switch candidate {
			case "":
				return errors.New("--candidate is required (a YAML file, draft, active or a version number)")
			case "draft", "active":
				req.Candidate = candidate
			default:
				if _, statErr := os.Stat(candidate); statErr == nil || candidate == "-" {
					if req.Ruleset, err = readRulesFile(candidate, c.stdin); err != nil {
						return err
					}
				} else {
					req.Candidate = candidate
				}
			}
			_, d, svc, err := c.rulesService(cmd.Context(), cmd)
			if err != nil {
				return err
			}
			defer d.Close()
			var bar *progressbar.ProgressBar
			if f, ok := c.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(c.stderr), progressbar.OptionSetDescription("events"),
					progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"), progressbar.OptionThrottle(200*time.Millisecond))
			}
			last := int64(0)
			rep, err := svc.BacktestNow(cmd.Context(), req, func(n int64, at time.Time) error {
				if bar != nil {
					_ = bar.Add64(n - last)
					last = n
				}
				return nil
			})
			if bar != nil {
				_ = bar.Finish()
				fmt.Fprintln(c.stderr)
			}
			if rep == nil {
				return describeErr(err)
			}
			if asJSON {
				enc := json.NewEncoder(c.stdout)
				enc.SetIndent("", "  ")
				if encErr := enc.Encode(rep); encErr != nil {
					return encErr
				}
			} else {
				printBacktest(c.stdout, rep)
			}
			if err != nil && cmd.Context().Err() == nil {
				return describeErr(err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "first processing time (date, RFC 3339 or duration ago)")
	cmd.Flags().StringVar(&to, "to", "", "end of the range, exclusive (default: now)")
	cmd.Flags().StringVar(&candidate, "candidate", "", "YAML file (- for stdin), draft, active or a version number")
	cmd.Flags().StringVar(&baseline, "baseline", "active", "active or a version number")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().IntVar(&examples, "examples", 20, "changed events to show")
	return cmd
}

func printBacktest(w io.Writer, rep *rules.BacktestReport) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	defer tw.Flush()
	state := ""
	if rep.Cancelled {
		state = " (stopped early: partial)"
	}
	fmt.Fprintf(tw, "baseline\t%s %s (%d rules)\n", rep.Baseline.Label, short(rep.Baseline.Hash), rep.Baseline.Rules)
	fmt.Fprintf(tw, "candidate\t%s %s (%d rules)\n", rep.Candidate.Label, short(rep.Candidate.Hash), rep.Candidate.Rules)
	fmt.Fprintf(tw, "events\t%d in %.1fs%s\n", rep.Events, float64(rep.ElapsedMS)/1000, state)
	pct := 0.0
	if rep.Events > 0 {
		pct = 100 * float64(rep.Changed) / float64(rep.Events)
	}
	fmt.Fprintf(tw, "changed\t%d (%.2f%%); primary rule changed on %d\n", rep.Changed, pct, rep.PrimaryChanged)
	if len(rep.Transitions) > 0 {
		fmt.Fprintln(tw, "\ntransitions\tfrom\tto\tevents")
		for i, t := range rep.Transitions {
			if i == 20 {
				fmt.Fprintf(tw, "\t… %d more\t\t\n", len(rep.Transitions)-20)
				break
			}
			fmt.Fprintf(tw, "\t%s\t%s\t%d\n", t.From, t.To, t.Count)
		}
	}
	if len(rep.Examples) > 0 {
		fmt.Fprintln(tw, "\nexamples\tevent\tbefore\tafter")
		for _, e := range rep.Examples {
			fmt.Fprintf(tw, "\t%s\t%s\t%s\n", e.EventID, classText(e.Before), classText(e.After))
		}
	}
	if len(rep.NeverWin) > 0 {
		fmt.Fprintln(tw, "\nnever win\trule\tmatched\twhy")
		for _, n := range rep.NeverWin {
			fmt.Fprintf(tw, "\t%s\t%d\t%s\n", n.RuleID, n.Matched, n.Reason)
		}
	}
	if len(rep.Overlaps) > 0 {
		fmt.Fprintln(tw, "\noverlaps\twinner\tloser\tevents")
		for i, o := range rep.Overlaps {
			if i == 10 {
				break
			}
			fmt.Fprintf(tw, "\t%s (%s)\t%s (%s)\t%d\n", o.Winner, o.WinnerCategory, o.Loser, o.LoserCategory, o.Count)
		}
	}
}

func classText(c rules.Classification) string {
	if c.Rule == "" {
		return rules.Unclassified
	}
	return fmt.Sprintf("%s/%s by %s", c.Category, c.Severity, c.Rule)
}

func short(h string) string {
	h = strings.TrimPrefix(h, "sha256:")
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
