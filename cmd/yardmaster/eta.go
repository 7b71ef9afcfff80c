package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/yardmaster/yardmaster/triage/eta"
)

// newETACmd is `yardmaster eta train|eval`: the booking-time late-risk model
// on historical CSV files (see docs/eta.md).
func newETACmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "eta", Short: "Train and evaluate the ETA-risk model on historical shipment files"}
	var o eta.HistoryOptions
	var evalSplit, until, valFrom string
	bind := func(sc *cobra.Command, outUsage string) {
		sc.Flags().StringVar(&o.CSV, "csv", "", "historical CSV file (required)")
		sc.Flags().StringVar(&o.Map, "map", "", fmt.Sprintf("column mapping: a preset (%v) or a YAML/JSON mapping file (required)", eta.Presets()))
		sc.Flags().StringVar(&o.Out, "out", "", outUsage)
		sc.Flags().StringVar(&valFrom, "val-from", "", "first day of the validation period, YYYY-MM-DD (default: split − 24 months: four 6-month rolling-origin windows)")
		sc.Flags().BoolVar(&o.JSON, "json", false, "print the report as JSON")
	}
	parse := func(split string) error {
		var err error
		o.Split, o.ValFrom = time.Time{}, time.Time{}
		if split != "" {
			if o.Split, err = time.Parse(time.DateOnly, split); err != nil {
				return fmt.Errorf("--split: want YYYY-MM-DD: %w", err)
			}
		}
		if valFrom != "" {
			if o.ValFrom, err = time.Parse(time.DateOnly, valFrom); err != nil {
				return fmt.Errorf("--val-from: want YYYY-MM-DD: %w", err)
			}
		}
		return nil
	}
	logf := func(f string, a ...any) { fmt.Fprintf(c.stderr, f+"\n", a...) }
	eval := &cobra.Command{
		Use:   "eval",
		Short: "Select on a validation period, fit on rows before --split, score the rest once; print AUC, PR-AUC, Brier, ECE for model and baseline",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := parse(evalSplit); err != nil {
				return err
			}
			_, err := eta.RunEval(cmd.Context(), o, c.stdout, logf)
			return err
		},
	}
	bind(eval, "write one row per test shipment (id, scheduled, p, baseline_p, late) to this CSV")
	eval.Flags().StringVar(&evalSplit, "split", "2013-01-01", "first promised day of the test period, YYYY-MM-DD")
	train := &cobra.Command{
		Use:   "train",
		Short: "Select and fit the model on every row of the file; write it to --out",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := parse(until); err != nil {
				return err
			}
			_, _, err := eta.RunTrain(cmd.Context(), o, c.stdout, logf)
			return err
		},
	}
	bind(train, "write the fitted model (JSON) to this file")
	train.Flags().StringVar(&until, "until", "", "use only rows promised before this day, YYYY-MM-DD (default: all)")
	cmd.AddCommand(eval, train)
	return cmd
}
