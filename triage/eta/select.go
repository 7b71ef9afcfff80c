package eta

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// SelectionStep records one accepted feature of the forward selection.
type SelectionStep struct {
	Feature string  `json:"feature"`
	AUC     float64 `json:"val_auc"`
}

// SelectionReport says how the booking model's features and settings were
// chosen, with the validation figures that chose them. Nothing in it comes
// from rows at or after the split.
type SelectionReport struct {
	TrainFrom  time.Time       `json:"train_from"`
	ValFrom    time.Time       `json:"val_from"`
	Split      time.Time       `json:"split"`
	FitRows    int             `json:"fit_rows"` // rows before ValFrom
	ValRows    int             `json:"val_rows"`
	Steps      []SelectionStep `json:"steps"`
	Settings   BookingSettings `json:"settings"`
	Validation Scores          `json:"validation"`          // chosen model on the validation period
	ValBase    Scores          `json:"validation_baseline"` // baseline on the validation period
	Grid       []GridPoint     `json:"grid"`
}

// GridPoint is one settings combination tried on the validation period.
type GridPoint struct {
	HalfLifeDays float64 `json:"half_life_days"`
	M            float64 `json:"m"`
	Features     int     `json:"features"`
	AUC          float64 `json:"val_auc"`
	LogLoss      float64 `json:"val_log_loss"`
	ECE          float64 `json:"val_ece"`
}

// Selection search space. Kept small on purpose: the validation period has
// a few thousand rows, and a wide search would overfit it.
var (
	selHalfLives = []float64{0, 730, 365}
	selMs        = []float64{5, 20, 50}
	selL2        = 1.0
	// selMaxFeatures caps the combiner; selMinGain is the validation AUC a
	// feature must add to be kept.
	selMaxFeatures = 8
	selMinGain     = 0.002
	// selWindows is the number of rolling-origin validation windows.
	selWindows = 3
	// selConsistent keeps a feature only if it raises AUC in every window.
	selConsistent = true
)

// SelectBooking chooses features and settings on the validation period
// [valFrom, split) using only rows before valFrom to fit, then refits the
// chosen configuration on every row before split (decay origin = split).
// Rows at or after split are never read; callers pass them only to score.
//
// Procedure: the validation period is cut into selWindows rolling-origin
// windows. For each half-life, greedy forward selection adds the feature
// that most raises the mean window AUC (by at least selMinGain), provided it
// raises AUC in every window; then the smoothing strength m is chosen for
// that feature set; finally the (half-life, m) pair with the lowest mean
// validation log loss — a proper score that rewards calibration as well as
// ranking — wins.
func SelectBooking(ctx context.Context, h *History, rows []Record, valFrom, split time.Time, logf func(string, ...any)) (*BookingModel, *SelectionReport, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if !valFrom.Before(split) {
		return nil, nil, fmt.Errorf("select booking model: validation start %s not before split %s", valFrom.Format(time.DateOnly), split.Format(time.DateOnly))
	}
	var train []Record
	for _, r := range rows {
		if r.Promised.Before(split) {
			train = append(train, r)
		}
	}
	rep := &SelectionReport{ValFrom: valFrom, Split: split}
	if len(train) > 0 {
		rep.TrainFrom = train[0].Promised
		for _, r := range train {
			if r.Promised.Before(rep.TrainFrom) {
				rep.TrainFrom = r.Promised
			}
		}
	}
	// Rolling origin: the validation period is cut into selWindows equal
	// windows; each is predicted by a model fitted on every row before it,
	// as the periodically retrained model would be in production. A feature
	// must help across regimes, not in one lucky window.
	type window struct {
		from time.Time
		fit  []Record
		val  []Record
		y    []bool
		cand []FeatureSpec
	}
	var wins []window
	span := split.Sub(valFrom)
	for j := 0; j < selWindows; j++ {
		from := valFrom.Add(span * time.Duration(j) / time.Duration(selWindows)).Truncate(24 * time.Hour)
		to := valFrom.Add(span * time.Duration(j+1) / time.Duration(selWindows)).Truncate(24 * time.Hour)
		if j == selWindows-1 {
			to = split
		}
		var wd window
		wd.from = from
		for _, r := range train {
			if r.Promised.Before(from) {
				wd.fit = append(wd.fit, r)
			} else if r.Promised.Before(to) {
				wd.val = append(wd.val, r)
			}
		}
		wd.y = labels(wd.val)
		if len(wd.fit) < 100 || len(wd.val) < 30 {
			return nil, nil, fmt.Errorf("select booking model: validation window %s needs at least 100 earlier rows and 30 rows, has %d and %d: %w", from.Format(time.DateOnly), len(wd.fit), len(wd.val), ErrNoTrainingData)
		}
		if pos := countTrue(wd.y); pos == 0 || pos == len(wd.y) {
			return nil, nil, fmt.Errorf("select booking model: validation window %s has only one class; choose another --val-from", from.Format(time.DateOnly))
		}
		wd.cand = CandidateFeatures(h, wd.fit)
		wins = append(wins, wd)
		rep.ValRows += len(wd.val)
	}
	rep.FitRows = len(wins[0].fit)
	cands := CandidateFeatures(h, wins[0].fit)
	byName := func(cs []FeatureSpec, names []string) []FeatureSpec {
		var out []FeatureSpec
		for _, n := range names {
			for _, c := range cs {
				if c.Name == n {
					out = append(out, c)
				}
			}
		}
		return out
	}
	// score returns the mean per-window AUC and log loss, and the pooled
	// predictions of all windows for reporting.
	type result struct {
		auc, ll float64
		wAUC    []float64 // per window
		p       []float64
		y       []bool
	}
	score := func(names []string, set BookingSettings) (result, error) {
		var res result
		for _, wd := range wins {
			bm, err := TrainBooking(ctx, wd.fit, byName(wd.cand, names), set, wd.from)
			if err != nil {
				return res, err
			}
			p := make([]float64, len(wd.val))
			for i := range wd.val {
				p[i] = bm.Score(&wd.val[i])
			}
			s := Evaluate(p, wd.y)
			res.auc += s.AUC / float64(len(wins))
			res.wAUC = append(res.wAUC, s.AUC)
			res.ll += s.LogLoss / float64(len(wins))
			res.p = append(res.p, p...)
			res.y = append(res.y, wd.y...)
		}
		return res, nil
	}
	type choice struct {
		set   BookingSettings
		names []string
		steps []SelectionStep
		r     result
	}
	var best *choice
	for _, hl := range selHalfLives {
		set := BookingSettings{HalfLifeDays: hl, M: 20, L2: selL2}
		var chosen []string
		var steps []SelectionStep
		cur := 0.5
		curW := make([]float64, len(wins))
		for j := range curW {
			curW[j] = 0.5
		}
		for len(chosen) < selMaxFeatures {
			bi, bAUC := -1, cur+selMinGain
			var bW []float64
			for ci := range cands {
				if slices.Contains(chosen, cands[ci].Name) {
					continue
				}
				r, err := score(append(slices.Clone(chosen), cands[ci].Name), set)
				if err != nil {
					return nil, nil, fmt.Errorf("select booking model: %w", err)
				}
				if r.auc > bAUC && (!selConsistent || helpsEveryWindow(r.wAUC, curW)) {
					bi, bAUC, bW = ci, r.auc, r.wAUC
				}
			}
			if bi < 0 {
				break
			}
			chosen = append(chosen, cands[bi].Name)
			cur, curW = bAUC, bW
			steps = append(steps, SelectionStep{Feature: cands[bi].Name, AUC: bAUC})
			logf("half-life %gd: +%s → validation AUC %.4f", hl, cands[bi].Name, bAUC)
		}
		if len(chosen) == 0 {
			continue
		}
		for _, m := range selMs {
			set.M = m
			r, err := score(chosen, set)
			if err != nil {
				return nil, nil, fmt.Errorf("select booking model: %w", err)
			}
			pooled := Evaluate(r.p, r.y)
			rep.Grid = append(rep.Grid, GridPoint{HalfLifeDays: hl, M: m, Features: len(chosen), AUC: r.auc, LogLoss: r.ll, ECE: pooled.ECE})
			logf("half-life %gd m %g: mean window AUC %.4f log loss %.4f, pooled ECE %.4f", hl, m, r.auc, r.ll, pooled.ECE)
			if best == nil || r.ll < best.r.ll {
				best = &choice{set: set, names: slices.Clone(chosen), steps: steps, r: r}
			}
		}
	}
	if best == nil {
		return nil, nil, errors.New("select booking model: no feature improves on chance in the validation period")
	}
	rep.Steps = best.steps
	rep.Validation = Evaluate(best.r.p, best.r.y)
	rep.Settings = best.set
	rep.Settings.Features = best.names
	var bp []float64
	var by []bool
	for _, wd := range wins {
		base := TrainBaseline(h, wd.fit)
		for i := range wd.val {
			bp = append(bp, base.Score(&wd.val[i]))
		}
		by = append(by, wd.y...)
	}
	rep.ValBase = Evaluate(bp, by)
	// Refit on the whole training range with bins cut on it.
	bm, err := TrainBooking(ctx, train, byName(CandidateFeatures(h, train), best.names), best.set, split)
	if err != nil {
		return nil, nil, fmt.Errorf("select booking model: refit: %w", err)
	}
	return bm, rep, nil
}

func labels(rs []Record) []bool {
	y := make([]bool, len(rs))
	for i := range rs {
		y[i] = rs[i].Late()
	}
	return y
}

func countTrue(y []bool) int {
	n := 0
	for _, v := range y {
		if v {
			n++
		}
	}
	return n
}

// Baseline is the comparison model of eval: the late rate of the mapping's
// baseline key (for SCMS country × shipment mode × fulfil-via), m-estimate
// smoothed (m = 20) towards the overall training rate, no recency weighting.
type Baseline struct {
	spec  FeatureSpec
	table map[string]levelStat
	prior float64
}

// baselineM is the baseline's smoothing strength, as in the reference
// measurement it is compared with.
const baselineM = 20

// TrainBaseline counts the baseline key's late rate on rows.
func TrainBaseline(h *History, rows []Record) *Baseline {
	col := map[string]int{}
	for i, c := range h.Mapping.Categorical {
		col[c] = i
	}
	spec := FeatureSpec{Kind: KindCat}
	for _, c := range h.Mapping.Baseline {
		spec.Cols = append(spec.Cols, col[c])
	}
	b := &Baseline{spec: spec, table: map[string]levelStat{}}
	var W, K float64
	for i := range rows {
		k := 0.0
		if rows[i].Late() {
			k = 1
		}
		W++
		K += k
		lv := spec.level(&rows[i])
		st := b.table[lv]
		st.W++
		st.K += k
		b.table[lv] = st
	}
	if W > 0 {
		b.prior = K / W
	}
	return b
}

// Score is the smoothed late rate of the record's baseline key.
func (b *Baseline) Score(r *Record) float64 {
	st := b.table[b.spec.level(r)]
	return (st.K + baselineM*b.prior) / (st.W + baselineM)
}

// EvalRow is one scored test shipment.
type EvalRow struct {
	ID       string    `json:"id"`
	Promised time.Time `json:"scheduled"`
	P        float64   `json:"p"`
	Baseline float64   `json:"baseline_p"`
	Late     bool      `json:"late"`
}

// EvalReport is the outcome of an evaluation on a historical file.
type EvalReport struct {
	Mapping   string           `json:"mapping"`
	Selection *SelectionReport `json:"selection"`
	TestRows  int              `json:"test_rows"`
	Model     Scores           `json:"model"`
	Baseline  Scores           `json:"baseline"`
	Rows      []EvalRow        `json:"-"`
}

// EvalBooking selects and fits the booking model on rows before split (using
// [valFrom, split) for the choices), then scores every row at or after split
// exactly once, together with the baseline fitted on the same training rows.
func EvalBooking(ctx context.Context, h *History, valFrom, split time.Time, logf func(string, ...any)) (*EvalReport, *BookingModel, error) {
	var train, test []Record
	for _, r := range h.Records {
		if r.Promised.Before(split) {
			train = append(train, r)
		} else {
			test = append(test, r)
		}
	}
	if len(test) == 0 {
		return nil, nil, fmt.Errorf("eval: no rows promised on or after %s", split.Format(time.DateOnly))
	}
	bm, sel, err := SelectBooking(ctx, h, train, valFrom, split, logf)
	if err != nil {
		return nil, nil, err
	}
	base := TrainBaseline(h, train)
	rep := &EvalReport{Mapping: h.Mapping.Name, Selection: sel, TestRows: len(test)}
	p := make([]float64, len(test))
	bp := make([]float64, len(test))
	y := labels(test)
	rep.Rows = make([]EvalRow, len(test))
	for i := range test {
		p[i] = bm.Score(&test[i])
		bp[i] = base.Score(&test[i])
		rep.Rows[i] = EvalRow{ID: test[i].ID, Promised: test[i].Promised, P: p[i], Baseline: bp[i], Late: y[i]}
	}
	rep.Model = Evaluate(p, y)
	rep.Baseline = Evaluate(bp, y)
	return rep, bm, nil
}

// defaultValFrom is split minus 18 months, the validation window used when
// none is given (for SCMS: 2011-07-01 .. 2012-12-31).
func DefaultValFrom(split time.Time) time.Time { return split.AddDate(0, -18, 0) }

// helpsEveryWindow reports whether a candidate's per-window AUCs are all
// above the current ones: a feature that helps in one regime and hurts in
// another is drift bait and is not kept.
func helpsEveryWindow(cand, cur []float64) bool {
	for j := range cand {
		if !(cand[j] > cur[j]) {
			return false
		}
	}
	return true
}
