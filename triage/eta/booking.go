package eta

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// FeatureKind says how a booking feature turns a record into a level.
type FeatureKind uint8

// Feature kinds.
const (
	KindCat     FeatureKind = iota + 1 // one categorical column or an interaction of several
	KindNum                            // a numeric slot, binned at training-row quantiles
	KindMonth                          // calendar month of the promised date
	KindWeekday                        // weekday of the promised date
)

// FeatureSpec defines one candidate booking-time feature.
type FeatureSpec struct {
	Name  string      `json:"name"`
	Kind  FeatureKind `json:"kind"`
	Cols  []int       `json:"cols,omitempty"`  // KindCat: indexes into Record.Cat
	Slot  int         `json:"slot,omitempty"`  // KindNum: index into Record.Num
	Edges []float64   `json:"edges,omitempty"` // KindNum: upper bin edges
}

// missingLevel is the level of a missing value; missingness is a level of
// its own because it is often informative (a date "not captured").
const missingLevel = "∅"

// level returns the feature's value for a record as a string key.
func (f *FeatureSpec) level(r *Record) string {
	switch f.Kind {
	case KindCat:
		for _, c := range f.Cols {
			if c < 0 || c >= len(r.Cat) {
				return missingLevel
			}
		}
		if len(f.Cols) == 1 {
			if v := r.Cat[f.Cols[0]]; v != "" {
				return v
			}
			return missingLevel
		}
		var b strings.Builder
		for i, c := range f.Cols {
			if i > 0 {
				b.WriteByte('\x1f')
			}
			v := r.Cat[c]
			if v == "" {
				v = missingLevel
			}
			b.WriteString(v)
		}
		return b.String()
	case KindNum:
		if f.Slot < 0 || f.Slot >= len(r.Num) {
			return missingLevel
		}
		v := r.Num[f.Slot]
		if math.IsNaN(v) {
			return missingLevel
		}
		return "b" + strconv.Itoa(sort.SearchFloat64s(f.Edges, v))
	case KindMonth:
		return strconv.Itoa(int(r.Promised.Month()))
	case KindWeekday:
		return strconv.Itoa(int(r.Promised.Weekday()))
	}
	return missingLevel
}

// describe renders a level for people: interaction parts joined with " / ",
// numeric bins as ranges.
func (f *FeatureSpec) describe(level string) string {
	switch f.Kind {
	case KindCat:
		return strings.ReplaceAll(level, "\x1f", " / ")
	case KindNum:
		i, err := strconv.Atoi(strings.TrimPrefix(level, "b"))
		if err != nil || !strings.HasPrefix(level, "b") {
			return level
		}
		switch {
		case len(f.Edges) == 0:
			return "any"
		case i == 0:
			return "≤ " + strconv.FormatFloat(f.Edges[0], 'g', 4, 64)
		case i >= len(f.Edges):
			return "> " + strconv.FormatFloat(f.Edges[len(f.Edges)-1], 'g', 4, 64)
		default:
			return strconv.FormatFloat(f.Edges[i-1], 'g', 4, 64) + "–" + strconv.FormatFloat(f.Edges[i], 'g', 4, 64)
		}
	case KindMonth:
		if m, err := strconv.Atoi(level); err == nil && m >= 1 && m <= 12 {
			return time.Month(m).String()
		}
	case KindWeekday:
		if d, err := strconv.Atoi(level); err == nil && d >= 0 && d <= 6 {
			return time.Weekday(d).String()
		}
	}
	return level
}

// CandidateFeatures lists every booking feature the mapping offers. Numeric
// bins are cut at quantiles of the given training records only.
func CandidateFeatures(h *History, train []Record) []FeatureSpec {
	m := h.Mapping
	var out []FeatureSpec
	for i, c := range m.Categorical {
		if c == m.Stratify {
			continue // constant within a stratum
		}
		out = append(out, FeatureSpec{Name: c, Kind: KindCat, Cols: []int{i}})
	}
	col := map[string]int{}
	for i, c := range m.Categorical {
		col[c] = i
	}
	for _, in := range m.Interactions {
		cols := make([]int, 0, len(in))
		var names []string
		for _, c := range in {
			if c == m.Stratify {
				continue
			}
			cols = append(cols, col[c])
			names = append(names, c)
		}
		if len(cols) < 2 && len(in) >= 2 && len(cols) < len(in) {
			continue // reduces to a single column (or nothing) within a stratum
		}
		out = append(out, FeatureSpec{Name: strings.Join(names, " × "), Kind: KindCat, Cols: cols})
	}
	for slot, name := range h.NumNames {
		out = append(out, FeatureSpec{Name: name, Kind: KindNum, Slot: slot, Edges: quantileEdges(train, slot, 8)})
	}
	out = append(out, FeatureSpec{Name: "promised month", Kind: KindMonth}, FeatureSpec{Name: "promised weekday", Kind: KindWeekday})
	return out
}

func quantileEdges(rs []Record, slot, bins int) []float64 {
	var v []float64
	for i := range rs {
		if slot < len(rs[i].Num) {
			if x := rs[i].Num[slot]; !math.IsNaN(x) {
				v = append(v, x)
			}
		}
	}
	if len(v) == 0 {
		return nil
	}
	sort.Float64s(v)
	var edges []float64
	for b := 1; b < bins; b++ {
		e := v[b*len(v)/bins]
		if len(edges) == 0 || e > edges[len(edges)-1] {
			edges = append(edges, e)
		}
	}
	return edges
}

// BookingSettings are the knobs chosen on the validation periods.
type BookingSettings struct {
	// HalfLifeDays is the age at which a training row counts half when the
	// coefficients and stratum intercepts are fitted; 0 means no decay.
	HalfLifeDays float64 `json:"half_life_days"`
	// L2 is the ridge penalty on the coefficients (in rows: a level needs
	// about this much weighted evidence before its coefficient moves far).
	L2 float64 `json:"l2"`
	// LevelHalfLifeDays, when positive, re-centres all predictions so that
	// their recency-weighted mean over the training rows equals the
	// recency-weighted late rate with this (usually shorter) half-life: the
	// overall level drifts faster than the effects. 0 leaves the level as
	// fitted.
	LevelHalfLifeDays float64 `json:"level_half_life_days"`
	// Platt, when set, maps the score through a logistic recalibration
	// fitted on the most recent validation window.
	Platt bool `json:"platt"`
	// Features are the chosen feature names per stratum, in selection order.
	Features map[string][]string `json:"features"`
}

// restStratum is the stratum of rows whose stratifying value has too few
// training rows (or when there is no stratifying column: every row).
const restStratum = "*"

// minStratumRows is the number of training rows a stratifying value needs
// to get its own model.
const minStratumRows = 100

// stratumModel is an L2-regularised logistic regression on one-hot levels
// for the rows of one stratum.
type stratumModel struct {
	Name      string
	Specs     []FeatureSpec
	Intercept float64
	// Coef[s] maps a level of Specs[s] to its coefficient (log-odds). A level
	// not seen in training contributes 0, the average level.
	Coef []map[string]float64
	Rows int     // training rows
	Rate float64 // recency-weighted late rate of the training rows
}

// BookingModel scores booking-time late risk: per stratum, an intercept plus
// one shrunk coefficient per feature level (a logistic regression on one-hot
// levels with a ridge penalty, fitted with recency weights), then an optional
// level re-centring and Platt recalibration. Every prediction decomposes into
// the stratum's base rate and one term per feature, which is its explanation.
type BookingModel struct {
	Settings BookingSettings
	// StratCol is the Record.Cat index of the stratifying column; -1 none.
	StratCol int
	// StratName is the stratifying column's name ("" none).
	StratName string
	Strata    []stratumModel
	// Shift is added to every log-odds score (level re-centring).
	Shift float64
	// PlattA and PlattB recalibrate: p = σ(A·z + B); A = 1, B = 0 when off.
	PlattA, PlattB float64
	// Cutoff is the decay origin (normally the end of the training range).
	Cutoff  time.Time
	Trained int
}

// decayWeight is the recency weight of a row promised at t for a model
// trained at cutoff.
func decayWeight(t, cutoff time.Time, halfLife float64) float64 {
	if halfLife <= 0 {
		return 1
	}
	age := cutoff.Sub(t).Hours() / 24
	if age < 0 {
		age = 0
	}
	return math.Exp2(-age / halfLife)
}

func logit(p float64) float64 {
	p = math.Min(math.Max(p, 1e-6), 1-1e-6)
	return math.Log(p / (1 - p))
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// ErrNoTrainingData is returned when a model is asked to learn from nothing.
var ErrNoTrainingData = errors.New("no training rows")

// design is the one-hot coding of some rows for a list of specs: for each
// spec and row, the column of the row's level (-1 for a level the
// vocabulary does not know).
type design struct {
	cols   [][]int32 // [spec][row]
	ncol   int
	vocab  []map[string]int32 // [spec] level → column
	ranges [][2]int           // [spec] its columns [lo, hi)
}

// newDesign builds the vocabulary from rows (the training rows) and codes
// them.
func newDesign(rows []Record, specs []FeatureSpec) *design {
	d := &design{cols: make([][]int32, len(specs)), vocab: make([]map[string]int32, len(specs)), ranges: make([][2]int, len(specs))}
	for s := range specs {
		d.ranges[s][0] = d.ncol
		v := map[string]int32{}
		c := make([]int32, len(rows))
		for i := range rows {
			lv := specs[s].level(&rows[i])
			id, ok := v[lv]
			if !ok {
				id = int32(d.ncol)
				v[lv] = id
				d.ncol++
			}
			c[i] = id
		}
		d.cols[s], d.vocab[s] = c, v
		d.ranges[s][1] = d.ncol
	}
	return d
}

// code codes other rows (validation rows) with the design's vocabulary.
func (d *design) code(rows []Record, specs []FeatureSpec) [][]int32 {
	out := make([][]int32, len(specs))
	for s := range specs {
		c := make([]int32, len(rows))
		for i := range rows {
			if id, ok := d.vocab[s][specs[s].level(&rows[i])]; ok {
				c[i] = id
			} else {
				c[i] = -1
			}
		}
		out[s] = c
	}
	return out
}

// fitRidgeLogistic fits an intercept (unpenalised) and one coefficient per
// column (penalty l2/2·β²) to weighted labels by Newton's method with step
// halving. The design is one-hot, so each row touches one column per spec
// and the Hessian is accumulated in O(rows·specs²); it is solved densely
// (a few hundred columns at most for booking features). It returns the
// intercept, the coefficients and the fitted log-odds of every row.
//
// warm, when not empty, is a starting point: the intercept followed by the
// coefficients of the first len(warm)-1 columns (the rest start at 0).
func fitRidgeLogistic(ctx context.Context, d *design, y []bool, w []float64, l2 float64, warm []float64) (float64, []float64, []float64, error) {
	np := d.ncol + 1 // θ[0] intercept, θ[1+c] column c
	theta := make([]float64, np)
	var W, K float64
	for i := range y {
		W += w[i]
		if y[i] {
			K += w[i]
		}
	}
	theta[0] = logit((K + 0.5) / (W + 1))
	if len(warm) > 0 && len(warm) <= np {
		copy(theta, warm)
	}
	n := len(y)
	z := make([]float64, n)
	idx := make([]int, len(d.cols)+1)
	active := func(i int) []int {
		k := 1
		idx[0] = 0
		for _, c := range d.cols {
			if c[i] >= 0 {
				idx[k] = 1 + int(c[i])
				k++
			}
		}
		return idx[:k]
	}
	scores := func(th []float64) {
		for i := range z {
			v := 0.0
			for _, a := range active(i) {
				v += th[a]
			}
			z[i] = v
		}
	}
	objective := func(th []float64) float64 {
		scores(th)
		o := 0.0
		for i := range z {
			// log(1+e^z) − y·z, computed stably.
			lz := math.Max(z[i], 0) + math.Log1p(math.Exp(-math.Abs(z[i])))
			if y[i] {
				lz -= z[i]
			}
			o += w[i] * lz
		}
		for a := 1; a < np; a++ {
			o += l2 / 2 * th[a] * th[a]
		}
		return o
	}
	H := make([]float64, np*np)
	g := make([]float64, np)
	next := make([]float64, np)
	obj := objective(theta)
	for iter := 0; iter < 50; iter++ {
		if err := ctx.Err(); err != nil {
			return 0, nil, nil, err
		}
		clear(H)
		clear(g)
		for i := range z {
			p := sigmoid(z[i])
			v := w[i] * p * (1 - p)
			r := p
			if y[i] {
				r--
			}
			r *= w[i]
			act := active(i)
			for x, a := range act {
				g[a] += r
				row := H[a*np:]
				for _, b := range act[x:] {
					row[b] += v
				}
			}
		}
		for a := 1; a < np; a++ {
			g[a] += l2 * theta[a]
			H[a*np+a] += l2
		}
		H[0] += 1e-9
		// Accumulated above the diagonal only when a ≤ b in column order;
		// active indexes are increasing, so mirror to the lower triangle.
		for a := 0; a < np; a++ {
			for b := a + 1; b < np; b++ {
				H[b*np+a] = H[a*np+b]
			}
		}
		step, ok := cholSolve(H, g, np)
		if !ok {
			return 0, nil, nil, errors.New("fit: singular Hessian")
		}
		t, maxStep := 1.0, 0.0
		for _, s := range step {
			maxStep = math.Max(maxStep, math.Abs(s))
		}
		for {
			for a := range theta {
				next[a] = theta[a] - t*step[a]
			}
			if o := objective(next); o <= obj+1e-12*math.Abs(obj) || t < 1e-6 {
				obj = o
				break
			}
			t /= 2
		}
		copy(theta, next)
		if maxStep*t < 1e-8 {
			break
		}
	}
	scores(theta)
	return theta[0], slices.Clone(theta[1:]), z, nil
}

// cholSolve solves A x = b for a symmetric positive definite A (row-major,
// n×n) by Cholesky factorisation; A is overwritten.
func cholSolve(A, b []float64, n int) ([]float64, bool) {
	for j := 0; j < n; j++ {
		s := A[j*n+j]
		for k := 0; k < j; k++ {
			s -= A[j*n+k] * A[j*n+k]
		}
		if s <= 0 {
			return nil, false
		}
		ljj := math.Sqrt(s)
		A[j*n+j] = ljj
		for i := j + 1; i < n; i++ {
			s := A[i*n+j]
			ri, rj := A[i*n:i*n+j], A[j*n:j*n+j]
			for k := range rj {
				s -= ri[k] * rj[k]
			}
			A[i*n+j] = s / ljj
		}
	}
	x := make([]float64, n)
	for i := 0; i < n; i++ {
		s := b[i]
		for k := 0; k < i; k++ {
			s -= A[i*n+k] * x[k]
		}
		x[i] = s / A[i*n+i]
	}
	for i := n - 1; i >= 0; i-- {
		s := x[i]
		for k := i + 1; k < n; k++ {
			s -= A[k*n+i] * x[k]
		}
		x[i] = s / A[i*n+i]
	}
	return x, true
}

// weights returns the recency weights and labels of rows.
func weights(rows []Record, cutoff time.Time, halfLife float64) ([]float64, []bool) {
	w := make([]float64, len(rows))
	y := make([]bool, len(rows))
	for i := range rows {
		w[i] = decayWeight(rows[i].Promised, cutoff, halfLife)
		y[i] = rows[i].Late()
	}
	return w, y
}

// trainStratum fits one stratum's regression.
func trainStratum(ctx context.Context, name string, rows []Record, specs []FeatureSpec, set BookingSettings, cutoff time.Time) (stratumModel, []float64, error) {
	w, y := weights(rows, cutoff, set.HalfLifeDays)
	var W, K float64
	for i := range rows {
		W += w[i]
		if y[i] {
			K += w[i]
		}
	}
	sm := stratumModel{Name: name, Specs: specs, Rows: len(rows), Rate: (K + 0.5) / (W + 1)}
	d := newDesign(rows, specs)
	b0, beta, z, err := fitRidgeLogistic(ctx, d, y, w, set.L2, nil)
	if err != nil {
		return sm, nil, err
	}
	sm.Intercept = b0
	sm.Coef = make([]map[string]float64, len(specs))
	for s := range specs {
		m := make(map[string]float64, len(d.vocab[s]))
		for lv, id := range d.vocab[s] {
			m[lv] = beta[id]
		}
		sm.Coef[s] = m
	}
	return sm, z, nil
}

// levelShift returns the log-odds shift that makes the weighted mean of
// σ(z+shift) equal the weighted late rate (weights: recency with the level
// half-life). Bisection: the mean is monotone in the shift.
func levelShift(z []float64, rows []Record, cutoff time.Time, halfLife float64) float64 {
	w, y := weights(rows, cutoff, halfLife)
	var W, K float64
	for i := range w {
		W += w[i]
		if y[i] {
			K += w[i]
		}
	}
	if W == 0 {
		return 0
	}
	target := (K + 0.5) / (W + 1)
	lo, hi := -15.0, 15.0
	for range 80 {
		mid := (lo + hi) / 2
		var s float64
		for i := range z {
			s += w[i] * sigmoid(z[i]+mid)
		}
		if s/W < target {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// fitPlatt fits p = σ(a·z + b) to labels by Newton's method with a tiny
// ridge (keeps it finite on separable data).
func fitPlatt(z []float64, y []bool) (a, b float64) {
	a, b = 1, 0
	for range 50 {
		var ga, gb, haa, hab, hbb float64
		for i := range z {
			p := sigmoid(a*z[i] + b)
			yi := 0.0
			if y[i] {
				yi = 1
			}
			r := p - yi
			v := p * (1 - p)
			ga += r * z[i]
			gb += r
			haa += v * z[i] * z[i]
			hab += v * z[i]
			hbb += v
		}
		const ridge = 1e-3
		ga += ridge * (a - 1)
		haa += ridge
		hbb += ridge
		det := haa*hbb - hab*hab
		if det <= 0 {
			break
		}
		da := -(hbb*ga - hab*gb) / det
		db := -(haa*gb - hab*ga) / det
		a += da
		b += db
		if math.Abs(da)+math.Abs(db) < 1e-9 {
			break
		}
	}
	return a, b
}

// stratumOf returns the stratum key of a record for a model whose strata
// are names.
func stratumKey(r *Record, col int, known map[string]bool) string {
	if col < 0 || col >= len(r.Cat) {
		return restStratum
	}
	if v := r.Cat[col]; known[v] {
		return v
	}
	return restStratum
}

// strataOf lists the stratifying values with at least minStratumRows rows,
// sorted; the rest stratum is implied.
func strataOf(rows []Record, col int) []string {
	if col < 0 {
		return nil
	}
	n := map[string]int{}
	for i := range rows {
		if col < len(rows[i].Cat) {
			n[rows[i].Cat[col]]++
		}
	}
	var out []string
	for v, c := range n {
		if c >= minStratumRows && v != "" {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

// TrainBooking fits a booking model on rows. cands are the candidate
// features (CandidateFeatures on these rows); set.Features names, per
// stratum, the ones to use. stratCol is the Record.Cat index of the
// stratifying column (-1 for none); cutoff is the decay origin. Platt
// recalibration is not fitted here (it needs a later window): see
// SelectBooking.
func TrainBooking(ctx context.Context, rows []Record, stratCol int, stratName string, cands []FeatureSpec, set BookingSettings, cutoff time.Time) (*BookingModel, error) {
	bm, _, err := trainBooking(ctx, rows, stratCol, stratName, cands, set, cutoff)
	return bm, err
}

// trainBooking also returns the fitted log-odds of every training row
// (before the level shift).
func trainBooking(ctx context.Context, rows []Record, stratCol int, stratName string, cands []FeatureSpec, set BookingSettings, cutoff time.Time) (*BookingModel, []float64, error) {
	if len(rows) == 0 {
		return nil, nil, ErrNoTrainingData
	}
	if set.L2 <= 0 {
		return nil, nil, fmt.Errorf("train booking model: l2 must be positive, got %v", set.L2)
	}
	byName := map[string]FeatureSpec{}
	for _, c := range cands {
		byName[c.Name] = c
	}
	names := append(strataOf(rows, stratCol), restStratum)
	known := map[string]bool{}
	for _, n := range names {
		known[n] = n != restStratum
	}
	part := map[string][]int{}
	for i := range rows {
		k := stratumKey(&rows[i], stratCol, known)
		part[k] = append(part[k], i)
	}
	bm := &BookingModel{Settings: set, StratCol: stratCol, StratName: stratName, PlattA: 1, Cutoff: cutoff, Trained: len(rows)}
	z := make([]float64, len(rows))
	for _, name := range names {
		idx := part[name]
		var specs []FeatureSpec
		for _, fn := range set.Features[name] {
			sp, ok := byName[fn]
			if !ok {
				return nil, nil, fmt.Errorf("train booking model: stratum %q: unknown feature %q", name, fn)
			}
			specs = append(specs, sp)
		}
		sub := make([]Record, len(idx))
		for j, i := range idx {
			sub[j] = rows[i]
		}
		if len(sub) == 0 {
			// No rest rows: unknown strata get the overall rate.
			w, y := weights(rows, cutoff, set.HalfLifeDays)
			var W, K float64
			for i := range w {
				W += w[i]
				if y[i] {
					K += w[i]
				}
			}
			r := (K + 0.5) / (W + 1)
			bm.Strata = append(bm.Strata, stratumModel{Name: name, Intercept: logit(r), Rate: r})
			continue
		}
		if len(specs) > 0 && len(sub) < minStratumRows {
			specs = nil // too thin to learn effects
		}
		sm, zs, err := trainStratum(ctx, name, sub, specs, set, cutoff)
		if err != nil {
			return nil, nil, fmt.Errorf("train booking model: stratum %q: %w", name, err)
		}
		for j, i := range idx {
			z[i] = zs[j]
		}
		bm.Strata = append(bm.Strata, sm)
	}
	if set.LevelHalfLifeDays > 0 {
		bm.Shift = levelShift(z, rows, cutoff, set.LevelHalfLifeDays)
	}
	return bm, z, nil
}

// stratum returns the model of a record's stratum.
func (bm *BookingModel) stratum(r *Record) *stratumModel {
	if bm.StratCol >= 0 && bm.StratCol < len(r.Cat) {
		v := r.Cat[bm.StratCol]
		for i := range bm.Strata {
			if bm.Strata[i].Name == v && v != restStratum {
				return &bm.Strata[i]
			}
		}
	}
	for i := range bm.Strata {
		if bm.Strata[i].Name == restStratum {
			return &bm.Strata[i]
		}
	}
	return &bm.Strata[len(bm.Strata)-1]
}

// logOdds is the uncalibrated score (before Platt) of a record.
func (bm *BookingModel) logOdds(r *Record) float64 {
	sm := bm.stratum(r)
	z := sm.Intercept + bm.Shift
	for s := range sm.Specs {
		z += sm.Coef[s][sm.Specs[s].level(r)]
	}
	return z
}

// Score returns the probability that the record is delivered late.
func (bm *BookingModel) Score(r *Record) float64 {
	return sigmoid(bm.PlattA*bm.logOdds(r) + bm.PlattB)
}

// BookingFactor is one term of a booking prediction.
type BookingFactor struct {
	Feature string  `json:"feature"`
	Level   string  `json:"level"`
	LogOdds float64 `json:"log_odds"` // the term's coefficient
	// Effect is how much this term moves the probability: P − P without it.
	Effect float64 `json:"effect"`
}

// BookingExplanation is a prediction with its decomposition.
type BookingExplanation struct {
	P       float64         `json:"p"`
	Stratum string          `json:"stratum"`
	Base    float64         `json:"base"` // the stratum's probability with every feature at its average level
	Factors []BookingFactor `json:"factors"`
}

// Explain scores a record and lists its terms, largest effect first.
func (bm *BookingModel) Explain(r *Record) BookingExplanation {
	sm := bm.stratum(r)
	z := bm.logOdds(r)
	p := func(z float64) float64 { return sigmoid(bm.PlattA*z + bm.PlattB) }
	ex := BookingExplanation{P: p(z), Stratum: sm.Name, Base: p(sm.Intercept + bm.Shift)}
	if bm.StratName != "" && sm.Name != restStratum {
		ex.Stratum = bm.StratName + " = " + sm.Name
	}
	for s := range sm.Specs {
		lv := sm.Specs[s].level(r)
		c := sm.Coef[s][lv]
		ex.Factors = append(ex.Factors, BookingFactor{Feature: sm.Specs[s].Name, Level: sm.Specs[s].describe(lv), LogOdds: c, Effect: ex.P - p(z-c)})
	}
	slices.SortStableFunc(ex.Factors, func(a, b BookingFactor) int { return cmpFloat(math.Abs(b.Effect), math.Abs(a.Effect)) })
	return ex
}

var SweepCount, FitCount, NcolSum, NcolMax atomic.Int64
