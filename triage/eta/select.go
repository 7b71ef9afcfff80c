package eta

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Selection search space. Kept small on purpose: the validation windows
// hold a few thousand rows, and a wide search would overfit them.
var (
	// selHalfLives are the recency half-lives (days) of the effects and
	// stratum intercepts; 0 is no decay.
	selHalfLives = []float64{0, 730, 365}
	// selL2 are the ridge penalties (the inverse of scikit-learn's C).
	selL2 = []float64{1, 3, 10, 30}
	// selLevels are the level half-lives (days); 0 leaves the level as fitted.
	selLevels = []float64{0, 730, 365, 180}
	// selMaxFeatures caps the features per stratum; selMinGain is the mean
	// window AUC a feature must add to be kept.
	selMaxFeatures = 6
	selMinGain     = 0.002
	// selWindows is the number of rolling-origin validation windows and
	// selMonths the validation span when none is given.
	selWindows = 4
	selMonths  = 24
)

// WindowScores are one validation window's figures for the chosen
// procedure.
type WindowScores struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Fit    int       `json:"fit_rows"`
	Scores Scores    `json:"scores"`
	// Strata are the within-stratum AUCs (NaN when a stratum has one class).
	Strata map[string]float64 `json:"strata_auc"`
}

// Candidate is one (half-life, ridge) combination: the features forward
// selection kept per stratum and, per level option, the pooled validation
// figures.
type Candidate struct {
	HalfLifeDays float64             `json:"half_life_days"`
	L2           float64             `json:"l2"`
	Features     map[string][]string `json:"features"`
	// StratumAUC is the mean within-stratum window AUC of the kept features.
	StratumAUC map[string]float64 `json:"stratum_auc"`
	Levels     []LevelPoint       `json:"levels"`
}

// LevelPoint is a candidate with one level half-life: mean window figures.
type LevelPoint struct {
	LevelHalfLifeDays float64 `json:"level_half_life_days"`
	LogLoss           float64 `json:"val_log_loss"`
	AUC               float64 `json:"val_auc"`
	ECE               float64 `json:"val_ece"`
}

// SelectionReport says how the booking model's features and settings were
// chosen, with the validation figures that chose them. Nothing in it comes
// from rows at or after the split.
type SelectionReport struct {
	TrainFrom  time.Time       `json:"train_from"`
	ValFrom    time.Time       `json:"val_from"`
	Split      time.Time       `json:"split"`
	Stratify   string          `json:"stratify,omitempty"`
	FitRows    int             `json:"fit_rows"` // rows before ValFrom
	ValRows    int             `json:"val_rows"`
	Candidates []Candidate     `json:"candidates"`
	Settings   BookingSettings `json:"settings"`
	// PlattLogLoss compares windows 2.. without and with a Platt
	// recalibration fitted on the previous window.
	PlattLogLoss [2]float64     `json:"platt_log_loss"`
	Windows      []WindowScores `json:"windows"`
	Validation   Scores         `json:"validation"`          // chosen procedure, pooled windows
	ValBase      Scores         `json:"validation_baseline"` // baseline, pooled windows
}

// selWindow is one rolling-origin validation window.
type selWindow struct {
	from, to time.Time
	fit, val []Record
	cand     []FeatureSpec
	// per stratum name: indexes of fit and val rows in that stratum
	fitIdx, valIdx map[string][]int
}

// stratumData caches, for one window and stratum, the rows, labels, recency
// weights per half-life and the one-hot codes of every candidate.
type stratumData struct {
	fit, val   []Record
	yFit, yVal []bool
	w          map[float64][]float64
	fitCols    [][]int32 // [candidate][row]
	valCols    [][]int32
	ncol       []int
}

func newStratumData(fit, val []Record, cand []FeatureSpec, from time.Time) *stratumData {
	sd := &stratumData{fit: fit, val: val, yFit: labels(fit), yVal: labels(val), w: map[float64][]float64{}}
	for _, hl := range selHalfLives {
		sd.w[hl], _ = weights(fit, from, hl)
	}
	for c := range cand {
		d := newDesign(fit, cand[c:c+1])
		sd.fitCols = append(sd.fitCols, d.cols[0])
		sd.valCols = append(sd.valCols, d.code(val, cand[c:c+1])[0])
		sd.ncol = append(sd.ncol, d.ncol)
	}
	return sd
}

// fitAUC fits the candidates chosen (indexes) on the stratum's fit rows,
// starting from warm (the fit of a prefix of chosen), and returns the AUC on
// its validation rows (NaN with one class) and the fitted parameters.
func (sd *stratumData) fitAUC(ctx context.Context, chosen []int, hl, l2 float64, warm []float64) (float64, []float64, error) {
	d := &design{}
	valCols := make([][]int32, 0, len(chosen))
	for _, c := range chosen {
		off := int32(d.ncol)
		fc := make([]int32, len(sd.fitCols[c]))
		for i, v := range sd.fitCols[c] {
			fc[i] = v + off
		}
		vc := make([]int32, len(sd.valCols[c]))
		for i, v := range sd.valCols[c] {
			if v < 0 {
				vc[i] = -1
			} else {
				vc[i] = v + off
			}
		}
		d.cols = append(d.cols, fc)
		valCols = append(valCols, vc)
		d.ranges = append(d.ranges, [2]int{d.ncol, d.ncol + sd.ncol[c]})
		d.ncol += sd.ncol[c]
	}
	b0, beta, _, err := fitRidgeLogistic(ctx, d, sd.yFit, sd.w[hl], l2, warm)
	if err != nil {
		return 0, nil, err
	}
	p := make([]float64, len(sd.val))
	for i := range p {
		z := b0
		for _, vc := range valCols {
			if vc[i] >= 0 {
				z += beta[vc[i]]
			}
		}
		p[i] = z
	}
	s := Evaluate(p, sd.yVal)
	return s.AUC, append([]float64{b0}, beta...), nil
}

// forward runs greedy forward selection for one stratum: it adds the
// candidate that most raises the mean window AUC (by at least selMinGain),
// provided it raises the AUC in every window where the stratum has both
// classes. A feature that helps in one regime and hurts in another is drift
// bait and is not kept.
func forward(ctx context.Context, sds []*stratumData, cand []FeatureSpec, hl, l2 float64) ([]string, float64, error) {
	var usable []*stratumData
	for _, sd := range sds {
		if n := countTrue(sd.yVal); n > 0 && n < len(sd.yVal) && len(sd.fit) >= minStratumRows {
			usable = append(usable, sd)
		}
	}
	if len(usable) < 2 {
		return nil, math.NaN(), nil
	}
	cur := make([]float64, len(usable))
	for j := range cur {
		cur[j] = 0.5
	}
	curMean := 0.5
	var chosen []int
	warm := make([][]float64, len(usable))
	for len(chosen) < selMaxFeatures {
		best, bestMean := -1, curMean+selMinGain
		var bestW []float64
		var bestFit [][]float64
		for c := range cand {
			if slices.Contains(chosen, c) {
				continue
			}
			try := append(slices.Clone(chosen), c)
			ws := make([]float64, len(usable))
			fits := make([][]float64, len(usable))
			ok := true
			mean := 0.0
			for j, sd := range usable {
				a, fit, err := sd.fitAUC(ctx, try, hl, l2, warm[j])
				if err != nil {
					return nil, 0, err
				}
				ws[j], fits[j] = a, fit
				mean += a / float64(len(usable))
				if !(a > cur[j]) {
					ok = false
				}
			}
			if ok && mean > bestMean {
				best, bestMean, bestW, bestFit = c, mean, ws, fits
			}
		}
		if best < 0 {
			break
		}
		chosen = append(chosen, best)
		cur, curMean, warm = bestW, bestMean, bestFit
	}
	names := make([]string, len(chosen))
	for i, c := range chosen {
		names[i] = cand[c].Name
	}
	return names, curMean, nil
}

// windowRun is one validation window scored by a fitted configuration.
type windowRun struct {
	z     []float64 // log-odds of the window's rows before the level shift
	shift map[float64]float64
	y     []bool
	val   []Record
}

// runWindows fits a configuration on each window's earlier rows and scores
// the window.
func runWindows(ctx context.Context, wins []selWindow, stratCol int, stratName string, set BookingSettings) ([]windowRun, error) {
	out := make([]windowRun, len(wins))
	for j, wd := range wins {
		s := set
		s.LevelHalfLifeDays = 0
		bm, zfit, err := trainBooking(ctx, wd.fit, stratCol, stratName, wd.cand, s, wd.from)
		if err != nil {
			return nil, err
		}
		r := windowRun{y: labels(wd.val), val: wd.val, shift: map[float64]float64{}}
		for _, lv := range selLevels {
			if lv > 0 {
				r.shift[lv] = levelShift(zfit, wd.fit, wd.from, lv)
			}
		}
		r.z = make([]float64, len(wd.val))
		for i := range wd.val {
			r.z[i] = bm.logOdds(&wd.val[i])
		}
		out[j] = r
	}
	return out, nil
}

func probs(z []float64, shift, a, b float64) []float64 {
	p := make([]float64, len(z))
	for i := range z {
		p[i] = sigmoid(a*(z[i]+shift) + b)
	}
	return p
}

// SelectBooking chooses features and settings on the validation period
// [valFrom, split) using only earlier rows to fit, then refits the chosen
// configuration on every row before split (decay origin = split). Rows at
// or after split are never read; callers pass them only to score.
//
// Procedure (fixed before the test rows were scored; see docs/eta.md):
//
//  1. The validation period is cut into selWindows rolling-origin windows;
//     each is predicted by a model fitted on every row before it.
//  2. For each recency half-life and ridge penalty, and for each stratum,
//     greedy forward selection keeps features by within-stratum window AUC
//     under the every-window rule (see forward).
//  3. Each (half-life, ridge, features) is scored with each level
//     half-life; the lowest mean window log loss — a proper score that
//     rewards calibration as well as ranking — wins.
//  4. A Platt recalibration fitted on the previous window is kept only if
//     it lowers the mean log loss of windows 2..n.
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
	stratCol := -1
	for i, c := range h.Mapping.Categorical {
		if c == h.Mapping.Stratify && c != "" {
			stratCol = i
		}
	}
	rep := &SelectionReport{ValFrom: valFrom, Split: split, Stratify: h.Mapping.Stratify}
	for i, r := range train {
		if i == 0 || r.Promised.Before(rep.TrainFrom) {
			rep.TrainFrom = r.Promised
		}
	}
	wins, err := makeWindows(h, train, valFrom, split, stratCol)
	if err != nil {
		return nil, nil, err
	}
	rep.FitRows = len(wins[0].fit)
	for _, wd := range wins {
		rep.ValRows += len(wd.val)
	}
	strata := append(strataOf(wins[0].fit, stratCol), restStratum)
	// Per window and stratum, the cached codes of every candidate.
	cands := wins[0].cand
	sds := map[string][]*stratumData{}
	for _, st := range strata {
		for _, wd := range wins {
			fit := pick(wd.fit, wd.fitIdx[st])
			val := pick(wd.val, wd.valIdx[st])
			sds[st] = append(sds[st], newStratumData(fit, val, wd.cand, wd.from))
		}
	}
	type combo struct{ hl, l2 float64 }
	var combos []combo
	for _, hl := range selHalfLives {
		for _, l2 := range selL2 {
			combos = append(combos, combo{hl, l2})
		}
	}
	rep.Candidates = make([]Candidate, len(combos))
	runs := make([][]windowRun, len(combos))
	errs := make([]error, len(combos))
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))
	for ci, cb := range combos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cand := Candidate{HalfLifeDays: cb.hl, L2: cb.l2, Features: map[string][]string{}, StratumAUC: map[string]float64{}}
			for _, st := range strata {
				names, auc, err := forward(ctx, sds[st], cands, cb.hl, cb.l2)
				if err != nil {
					errs[ci] = err
					return
				}
				if len(names) > 0 {
					cand.Features[st] = names
				}
				cand.StratumAUC[st] = auc
			}
			set := BookingSettings{HalfLifeDays: cb.hl, L2: cb.l2, Features: cand.Features}
			r, err := runWindows(ctx, wins, stratCol, h.Mapping.Stratify, set)
			if err != nil {
				errs[ci] = err
				return
			}
			for _, lv := range selLevels {
				var lp LevelPoint
				lp.LevelHalfLifeDays = lv
				for _, wr := range r {
					s := Evaluate(probs(wr.z, wr.shift[lv], 1, 0), wr.y)
					n := float64(len(r))
					lp.LogLoss += s.LogLoss / n
					lp.AUC += s.AUC / n
					lp.ECE += s.ECE / n
				}
				cand.Levels = append(cand.Levels, lp)
			}
			rep.Candidates[ci] = cand
			runs[ci] = r
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, fmt.Errorf("select booking model: %w", err)
	}
	bestC, bestL := -1, -1
	for ci, c := range rep.Candidates {
		for li, lp := range c.Levels {
			logf("half-life %4gd l2 %-3g level %4gd: features %s → mean window log loss %.4f AUC %.4f ECE %.4f",
				c.HalfLifeDays, c.L2, lp.LevelHalfLifeDays, fmtFeatures(c.Features), lp.LogLoss, lp.AUC, lp.ECE)
			if bestC < 0 || lp.LogLoss < rep.Candidates[bestC].Levels[bestL].LogLoss {
				bestC, bestL = ci, li
			}
		}
	}
	best := rep.Candidates[bestC]
	lvl := best.Levels[bestL].LevelHalfLifeDays
	set := BookingSettings{HalfLifeDays: best.HalfLifeDays, L2: best.L2, LevelHalfLifeDays: lvl, Features: best.Features}
	// Platt on the previous window, judged on windows 2..n.
	r := runs[bestC]
	var llRaw, llPlatt float64
	for j := 1; j < len(r); j++ {
		a, b := fitPlatt(shifted(r[j-1].z, r[j-1].shift[lvl]), r[j-1].y)
		n := float64(len(r) - 1)
		llRaw += Evaluate(probs(r[j].z, r[j].shift[lvl], 1, 0), r[j].y).LogLoss / n
		llPlatt += Evaluate(probs(r[j].z, r[j].shift[lvl], a, b), r[j].y).LogLoss / n
	}
	rep.PlattLogLoss = [2]float64{llRaw, llPlatt}
	set.Platt = llPlatt < llRaw
	logf("chosen: half-life %gd, l2 %g, level half-life %gd, features %s; Platt on the previous window: log loss %.4f → %.4f (%s)",
		set.HalfLifeDays, set.L2, set.LevelHalfLifeDays, fmtFeatures(set.Features), llRaw, llPlatt, map[bool]string{true: "kept", false: "not kept"}[set.Platt])
	rep.Settings = set
	// Validation figures of the chosen procedure, and the baseline's.
	var vp, bp []float64
	var vy []bool
	for j, wd := range wins {
		a, b := 1.0, 0.0
		if set.Platt {
			if j == 0 {
				continue // no earlier window to calibrate on
			}
			a, b = fitPlatt(shifted(r[j-1].z, r[j-1].shift[lvl]), r[j-1].y)
		}
		p := probs(r[j].z, r[j].shift[lvl], a, b)
		ws := WindowScores{From: wd.from, To: wd.to, Fit: len(wd.fit), Scores: Evaluate(p, r[j].y), Strata: map[string]float64{}}
		for _, st := range strata {
			var sp []float64
			var sy []bool
			for _, i := range wd.valIdx[st] {
				sp = append(sp, p[i])
				sy = append(sy, r[j].y[i])
			}
			if len(sp) > 0 {
				ws.Strata[st] = Evaluate(sp, sy).AUC
			}
		}
		rep.Windows = append(rep.Windows, ws)
		vp = append(vp, p...)
		vy = append(vy, r[j].y...)
		base := TrainBaseline(h, wd.fit)
		for i := range wd.val {
			bp = append(bp, base.Score(&wd.val[i]))
		}
	}
	rep.Validation = Evaluate(vp, vy)
	rep.ValBase = Evaluate(bp, vy)
	// Refit on the whole training range with bins cut on it.
	bm, err := TrainBooking(ctx, train, stratCol, h.Mapping.Stratify, CandidateFeatures(h, train), set, split)
	if err != nil {
		return nil, nil, fmt.Errorf("select booking model: refit: %w", err)
	}
	if set.Platt {
		last := r[len(r)-1]
		bm.PlattA, bm.PlattB = fitPlatt(shifted(last.z, last.shift[lvl]), last.y)
	}
	return bm, rep, nil
}

func shifted(z []float64, d float64) []float64 {
	out := make([]float64, len(z))
	for i := range z {
		out[i] = z[i] + d
	}
	return out
}

func pick(rs []Record, idx []int) []Record {
	out := make([]Record, len(idx))
	for j, i := range idx {
		out[j] = rs[i]
	}
	return out
}

func fmtFeatures(f map[string][]string) string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %q", k, f[k]))
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return "{" + strings.Join(parts, "; ") + "}"
}

// makeWindows cuts [valFrom, split) into selWindows windows of whole
// months (the last one ends at split).
func makeWindows(h *History, train []Record, valFrom, split time.Time, stratCol int) ([]selWindow, error) {
	months := (split.Year()-valFrom.Year())*12 + int(split.Month()) - int(valFrom.Month())
	n := selWindows
	if months < n {
		n = max(1, months)
	}
	known := map[string]bool{}
	var before []Record
	for _, r := range train {
		if r.Promised.Before(valFrom) {
			before = append(before, r)
		}
	}
	for _, s := range strataOf(before, stratCol) {
		known[s] = true
	}
	var wins []selWindow
	for j := 0; j < n; j++ {
		from := valFrom.AddDate(0, j*months/n, 0)
		to := valFrom.AddDate(0, (j+1)*months/n, 0)
		if j == n-1 {
			to = split
		}
		wd := selWindow{from: from, to: to, fitIdx: map[string][]int{}, valIdx: map[string][]int{}}
		for _, r := range train {
			switch {
			case r.Promised.Before(from):
				wd.fitIdx[stratumKey(&r, stratCol, known)] = append(wd.fitIdx[stratumKey(&r, stratCol, known)], len(wd.fit))
				wd.fit = append(wd.fit, r)
			case r.Promised.Before(to):
				wd.valIdx[stratumKey(&r, stratCol, known)] = append(wd.valIdx[stratumKey(&r, stratCol, known)], len(wd.val))
				wd.val = append(wd.val, r)
			}
		}
		y := labels(wd.val)
		if len(wd.fit) < minStratumRows || len(wd.val) < 30 {
			return nil, fmt.Errorf("select booking model: validation window %s needs at least %d earlier rows and 30 rows, has %d and %d: %w", from.Format(time.DateOnly), minStratumRows, len(wd.fit), len(wd.val), ErrNoTrainingData)
		}
		if pos := countTrue(y); pos == 0 || pos == len(y) {
			return nil, fmt.Errorf("select booking model: validation window %s has only one class; choose another --val-from", from.Format(time.DateOnly))
		}
		wd.cand = CandidateFeatures(h, wd.fit)
		wins = append(wins, wd)
	}
	return wins, nil
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
	table map[string][2]float64
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
	b := &Baseline{spec: spec, table: map[string][2]float64{}}
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
		st[0]++
		st[1] += k
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
	return (st[1] + baselineM*b.prior) / (st[0] + baselineM)
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
	// Strata are the model's test AUCs within each stratum (same scoring).
	Strata map[string]float64 `json:"strata_auc"`
	Rows   []EvalRow          `json:"-"`
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
	rep := &EvalReport{Mapping: h.Mapping.Name, Selection: sel, TestRows: len(test), Strata: map[string]float64{}}
	p := make([]float64, len(test))
	bp := make([]float64, len(test))
	y := labels(test)
	rep.Rows = make([]EvalRow, len(test))
	byStratum := map[string][]int{}
	for i := range test {
		p[i] = bm.Score(&test[i])
		bp[i] = base.Score(&test[i])
		rep.Rows[i] = EvalRow{ID: test[i].ID, Promised: test[i].Promised, P: p[i], Baseline: bp[i], Late: y[i]}
		byStratum[bm.stratum(&test[i]).Name] = append(byStratum[bm.stratum(&test[i]).Name], i)
	}
	for st, idx := range byStratum {
		var sp []float64
		var sy []bool
		for _, i := range idx {
			sp = append(sp, p[i])
			sy = append(sy, y[i])
		}
		rep.Strata[st] = Evaluate(sp, sy).AUC
	}
	rep.Model = Evaluate(p, y)
	rep.Baseline = Evaluate(bp, y)
	return rep, bm, nil
}

// DefaultValFrom is split minus 24 months: four six-month rolling-origin
// windows (for SCMS: 2011-01-01 .. 2012-12-31).
func DefaultValFrom(split time.Time) time.Time { return split.AddDate(0, -selMonths, 0) }
