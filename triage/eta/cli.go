package eta

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

// HistoryOptions are the inputs shared by `yardmaster eta train` and `eval`.
type HistoryOptions struct {
	CSV     string    // path to the historical file
	Map     string    // preset name or mapping file
	Out     string    // eval: per-row predictions CSV; train: model file
	Split   time.Time // eval: first test day; train: zero = after the last row
	ValFrom time.Time // zero = Split − 18 months
	JSON    bool      // print the report as JSON instead of a table
}

// loadOptions reads the mapping and the file named by the options.
func loadOptions(o HistoryOptions) (*History, error) {
	if o.CSV == "" {
		return nil, fmt.Errorf("%w: --csv is required", ErrInvalidData)
	}
	if o.Map == "" {
		return nil, fmt.Errorf("%w: --map is required (a preset: %v, or a mapping file)", ErrInvalidMapping, Presets())
	}
	m, err := LoadMapping(o.Map)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(o.CSV)
	if err != nil {
		return nil, fmt.Errorf("open history: %w", err)
	}
	defer f.Close()
	h, err := LoadHistory(f, m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.CSV, err)
	}
	return h, nil
}

// RunEval is `yardmaster eta eval`: it selects and fits the booking model on
// rows before Split, scores the rest once, prints model and baseline figures
// and writes one row per test shipment to Out.
func RunEval(ctx context.Context, o HistoryOptions, w io.Writer, logf func(string, ...any)) (*EvalReport, error) {
	if o.Split.IsZero() {
		return nil, fmt.Errorf("%w: --split is required for eval", ErrInvalidData)
	}
	h, err := loadOptions(o)
	if err != nil {
		return nil, err
	}
	if o.ValFrom.IsZero() {
		o.ValFrom = DefaultValFrom(o.Split)
	}
	rep, _, err := EvalBooking(ctx, h, o.ValFrom, o.Split, logf)
	if err != nil {
		return nil, err
	}
	if o.Out != "" {
		if err := writeEvalRows(o.Out, rep.Rows); err != nil {
			return nil, err
		}
	}
	if o.JSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return rep, enc.Encode(rep)
	}
	s := rep.Selection
	fmt.Fprintf(w, "eta eval: mapping %s, %d rows\n", rep.Mapping, len(h.Records))
	fmt.Fprintf(w, "train: promised %s .. %s (%d rows; %d before %s)\n", s.TrainFrom.Format(time.DateOnly), s.Split.AddDate(0, 0, -1).Format(time.DateOnly), s.FitRows+s.ValRows, s.FitRows, s.ValFrom.Format(time.DateOnly))
	fmt.Fprintf(w, "test: promised on or after %s (%d rows), scored once\n", s.Split.Format(time.DateOnly), rep.TestRows)
	printSelection(w, s)
	fmt.Fprintf(w, "\n%-24s %7s %7s %7s %7s %7s %7s %6s\n", "", "AUC", "PR-AUC", "Brier", "ECE", "mean p", "rate", "n")
	row := func(name string, sc Scores) {
		fmt.Fprintf(w, "%-24s %7.4f %7.4f %7.4f %7.4f %7.4f %7.4f %6d\n", name, sc.AUC, sc.PRAUC, sc.Brier, sc.ECE, sc.MeanP, sc.Rate, sc.N)
	}
	row("validation model", s.Validation)
	row("validation baseline", s.ValBase)
	row("test model", rep.Model)
	row("test baseline", rep.Baseline)
	for _, st := range sortedKeys(rep.Strata) {
		fmt.Fprintf(w, "test AUC within %s: %.4f\n", st, rep.Strata[st])
	}
	if o.Out != "" {
		fmt.Fprintf(w, "\nper-shipment predictions: %s\n", o.Out)
	}
	return rep, nil
}

// writeEvalRows writes the predictions through a temporary file and a rename,
// so a failed run never leaves a truncated file behind.
func writeEvalRows(path string, rows []EvalRow) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".eta-eval-*")
	if err != nil {
		return fmt.Errorf("write predictions: %w", err)
	}
	defer os.Remove(tmp.Name())
	cw := csv.NewWriter(tmp)
	_ = cw.Write([]string{"id", "scheduled", "p", "baseline_p", "late"})
	for _, r := range rows {
		late := "0"
		if r.Late {
			late = "1"
		}
		_ = cw.Write([]string{r.ID, r.Promised.Format(time.DateOnly), strconv.FormatFloat(r.P, 'f', 6, 64), strconv.FormatFloat(r.Baseline, 'f', 6, 64), late})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		tmp.Close()
		return fmt.Errorf("write predictions: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write predictions: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write predictions: %w", err)
	}
	return nil
}

// RunTrain is `yardmaster eta train`: the same selection as eval, but every
// row is training data (validation = the last 18 months unless ValFrom is
// set), and the fitted model is written to Out.
func RunTrain(ctx context.Context, o HistoryOptions, w io.Writer, logf func(string, ...any)) (*BookingModel, *SelectionReport, error) {
	h, err := loadOptions(o)
	if err != nil {
		return nil, nil, err
	}
	split := o.Split
	if split.IsZero() {
		for _, r := range h.Records {
			if d := r.Promised.AddDate(0, 0, 1); d.After(split) {
				split = d
			}
		}
	}
	valFrom := o.ValFrom
	if valFrom.IsZero() {
		valFrom = DefaultValFrom(split)
	}
	bm, rep, err := SelectBooking(ctx, h, h.Records, valFrom, split, logf)
	if err != nil {
		return nil, nil, err
	}
	if o.Out != "" {
		b, err := bm.MarshalBinary()
		if err != nil {
			return nil, nil, err
		}
		if err := writeFileAtomic(o.Out, b); err != nil {
			return nil, nil, err
		}
	}
	if o.JSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return bm, rep, enc.Encode(rep)
	}
	fmt.Fprintf(w, "eta train: mapping %s, %d rows before %s\n", h.Mapping.Name, bm.Trained, split.Format(time.DateOnly))
	printSelection(w, rep)
	fmt.Fprintf(w, "validation (pooled windows): model AUC %.4f PR-AUC %.4f Brier %.4f ECE %.4f; baseline AUC %.4f PR-AUC %.4f Brier %.4f ECE %.4f\n",
		rep.Validation.AUC, rep.Validation.PRAUC, rep.Validation.Brier, rep.Validation.ECE, rep.ValBase.AUC, rep.ValBase.PRAUC, rep.ValBase.Brier, rep.ValBase.ECE)
	if o.Out != "" {
		fmt.Fprintf(w, "model written to %s\n", o.Out)
	}
	return bm, rep, nil
}

func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".eta-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}

// printSelection writes the validation windows and the chosen settings.
func printSelection(w io.Writer, s *SelectionReport) {
	if s.Stratify != "" {
		fmt.Fprintf(w, "strata: %s\n", s.Stratify)
	}
	fmt.Fprintf(w, "chosen on validation: half-life %gd, l2 %g, level half-life %gd, Platt %v\n", s.Settings.HalfLifeDays, s.Settings.L2, s.Settings.LevelHalfLifeDays, s.Settings.Platt)
	for _, st := range sortedKeys(s.Settings.Features) {
		fmt.Fprintf(w, "  features %s: %q\n", st, s.Settings.Features[st])
	}
	fmt.Fprintf(w, "validation windows (each predicted by a model fitted on every earlier row):\n")
	for _, ws := range s.Windows {
		fmt.Fprintf(w, "  %s .. %s  fit %5d  n %4d  rate %.3f  mean p %.3f  AUC %.4f  ECE %.4f  log loss %.4f  within-stratum AUC",
			ws.From.Format(time.DateOnly), ws.To.AddDate(0, 0, -1).Format(time.DateOnly), ws.Fit, ws.Scores.N, ws.Scores.Rate, ws.Scores.MeanP, ws.Scores.AUC, ws.Scores.ECE, ws.Scores.LogLoss)
		for _, st := range sortedKeys(ws.Strata) {
			fmt.Fprintf(w, " %s %.3f", st, ws.Strata[st])
		}
		fmt.Fprintln(w)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
