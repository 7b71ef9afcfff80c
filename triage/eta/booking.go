package eta

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strconv"
	"strings"
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

// level returns the feature's value for a record as a string key; "∅" is
// missing, which is a level of its own (missingness is often informative).
func (f *FeatureSpec) level(r *Record) string {
	switch f.Kind {
	case KindCat:
		for _, c := range f.Cols {
			if c >= len(r.Cat) {
				return "∅"
			}
		}
		if len(f.Cols) == 1 {
			if v := r.Cat[f.Cols[0]]; v != "" {
				return v
			}
			return "∅"
		}
		var b strings.Builder
		for i, c := range f.Cols {
			if i > 0 {
				b.WriteByte('\x1f')
			}
			v := r.Cat[c]
			if v == "" {
				v = "∅"
			}
			b.WriteString(v)
		}
		return b.String()
	case KindNum:
		if f.Slot >= len(r.Num) {
			return "∅"
		}
		v := r.Num[f.Slot]
		if math.IsNaN(v) {
			return "∅"
		}
		i := sort.SearchFloat64s(f.Edges, v)
		return "b" + strconv.Itoa(i)
	case KindMonth:
		return strconv.Itoa(int(r.Promised.Month()))
	case KindWeekday:
		return strconv.Itoa(int(r.Promised.Weekday()))
	}
	return "∅"
}

// parent is the backoff feature of an interaction: the same columns less the
// last one. Single features back off to the global rate.
func (f *FeatureSpec) parentCols() []int {
	if f.Kind != KindCat || len(f.Cols) < 2 {
		return nil
	}
	return f.Cols[:len(f.Cols)-1]
}

// CandidateFeatures lists every booking feature the mapping offers. Numeric
// bins are cut at quantiles of the given training records only.
func CandidateFeatures(h *History, train []Record) []FeatureSpec {
	m := h.Mapping
	var out []FeatureSpec
	for i, c := range m.Categorical {
		out = append(out, FeatureSpec{Name: c, Kind: KindCat, Cols: []int{i}})
	}
	col := map[string]int{}
	for i, c := range m.Categorical {
		col[c] = i
	}
	for _, in := range m.Interactions {
		cols := make([]int, len(in))
		for i, c := range in {
			cols[i] = col[c]
		}
		out = append(out, FeatureSpec{Name: strings.Join(in, " × "), Kind: KindCat, Cols: cols})
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
		if x := rs[i].Num[slot]; !math.IsNaN(x) {
			v = append(v, x)
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

// BookingSettings are the knobs chosen on the validation period.
type BookingSettings struct {
	// HalfLifeDays is the age at which a training row counts half; 0 means
	// no decay.
	HalfLifeDays float64 `json:"half_life_days"`
	// M is the m-estimate smoothing strength (pseudo-rows of the prior).
	M float64 `json:"m"`
	// L2 is the ridge penalty of the combiner.
	L2 float64 `json:"l2"`
	// Features are the names of the chosen features, in selection order.
	Features []string `json:"features"`
}

// levelStat is a time-decayed count of rows and late rows for one level.
type levelStat struct{ W, K float64 }

// BookingModel scores booking-time late risk. It is a logistic combination
// of smoothed, time-decayed late rates per feature level, each backing off to
// a broader group (interaction → its prefix → global) when its data is thin.
type BookingModel struct {
	Settings  BookingSettings        `json:"settings"`
	Specs     []FeatureSpec          `json:"specs"`
	Tables    []map[string]levelStat `json:"-"`
	Parents   []map[string]levelStat `json:"-"` // per spec: stats of the backoff prefix level (nil for singles)
	Beta      []float64              `json:"beta"`
	Intercept float64                `json:"intercept"`
	Prior     float64                `json:"prior"`   // decayed global late rate
	Cutoff    time.Time              `json:"cutoff"`  // training reference time (decay origin)
	Trained   int                    `json:"trained"` // rows used
	Names     map[string]int         `json:"-"`
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

// encoder holds per-level statistics for a set of specs.
type encoder struct {
	specs   []FeatureSpec
	tables  []map[string]levelStat
	parents []map[string]levelStat
	prior   float64
	m       float64
}

func buildEncoder(rows []Record, w []float64, specs []FeatureSpec, m float64) *encoder {
	e := &encoder{specs: specs, m: m, tables: make([]map[string]levelStat, len(specs)), parents: make([]map[string]levelStat, len(specs))}
	var W, K float64
	for i := range rows {
		W += w[i]
		if rows[i].Late() {
			K += w[i]
		}
	}
	e.prior = (K + 1) / (W + 2)
	for s := range specs {
		t := map[string]levelStat{}
		var pt map[string]levelStat
		pc := specs[s].parentCols()
		if pc != nil {
			pt = map[string]levelStat{}
		}
		par := FeatureSpec{Kind: KindCat, Cols: pc}
		for i := range rows {
			k := 0.0
			if rows[i].Late() {
				k = w[i]
			}
			lv := specs[s].level(&rows[i])
			st := t[lv]
			st.W += w[i]
			st.K += k
			t[lv] = st
			if pt != nil {
				pl := par.level(&rows[i])
				ps := pt[pl]
				ps.W += w[i]
				ps.K += k
				pt[pl] = ps
			}
		}
		e.tables[s] = t
		e.parents[s] = pt
	}
	return e
}

// rate is the smoothed late rate of a record's level of spec s: the level's
// decayed counts shrunk towards its backoff parent, which is itself shrunk
// towards the global prior.
func (e *encoder) rate(s int, r *Record) float64 {
	prior := e.prior
	if pt := e.parents[s]; pt != nil {
		par := FeatureSpec{Kind: KindCat, Cols: e.specs[s].parentCols()}
		ps := pt[par.level(r)]
		prior = (ps.K + e.m*prior) / (ps.W + e.m)
	}
	st := e.tables[s][e.specs[s].level(r)]
	return (st.K + e.m*prior) / (st.W + e.m)
}

func (e *encoder) features(r *Record, x []float64) {
	lp := logit(e.prior)
	for s := range e.specs {
		x[s] = logit(e.rate(s, r)) - lp
	}
}

// fitLogistic fits intercept and coefficients by Newton's method with a ridge
// penalty on the coefficients (not on the intercept).
func fitLogistic(X [][]float64, y []bool, w []float64, l2 float64) (float64, []float64) {
	d := 0
	if len(X) > 0 {
		d = len(X[0])
	}
	p := d + 1
	theta := make([]float64, p)
	var W, K float64
	for i := range y {
		W += w[i]
		if y[i] {
			K += w[i]
		}
	}
	theta[0] = logit((K + 1) / (W + 2))
	H := make([][]float64, p)
	for i := range H {
		H[i] = make([]float64, p)
	}
	g := make([]float64, p)
	xi := make([]float64, p)
	for iter := 0; iter < 30; iter++ {
		for i := range H {
			clear(H[i])
		}
		clear(g)
		for i := range X {
			xi[0] = 1
			copy(xi[1:], X[i])
			z := 0.0
			for j := range xi {
				z += theta[j] * xi[j]
			}
			pr := sigmoid(z)
			yi := 0.0
			if y[i] {
				yi = 1
			}
			r := w[i] * (yi - pr)
			h := w[i] * pr * (1 - pr)
			for a := range xi {
				g[a] += r * xi[a]
				for b := a; b < p; b++ {
					H[a][b] += h * xi[a] * xi[b]
				}
			}
		}
		for a := 1; a < p; a++ {
			g[a] -= l2 * theta[a]
			H[a][a] += l2
		}
		for a := range H {
			for b := 0; b < a; b++ {
				H[a][b] = H[b][a]
			}
			H[a][a] += 1e-9
		}
		step := solve(H, g)
		maxStep := 0.0
		for j := range theta {
			theta[j] += step[j]
			maxStep = math.Max(maxStep, math.Abs(step[j]))
		}
		if maxStep < 1e-7 {
			break
		}
	}
	return theta[0], theta[1:]
}

// solve solves A x = b by Gaussian elimination with partial pivoting; A is
// small (one row per feature) and positive definite here.
func solve(A [][]float64, b []float64) []float64 {
	n := len(b)
	M := make([][]float64, n)
	for i := range M {
		M[i] = append(append([]float64{}, A[i]...), b[i])
	}
	for c := 0; c < n; c++ {
		piv := c
		for r := c + 1; r < n; r++ {
			if math.Abs(M[r][c]) > math.Abs(M[piv][c]) {
				piv = r
			}
		}
		M[c], M[piv] = M[piv], M[c]
		if math.Abs(M[c][c]) < 1e-12 {
			continue
		}
		for r := c + 1; r < n; r++ {
			f := M[r][c] / M[c][c]
			for k := c; k <= n; k++ {
				M[r][k] -= f * M[c][k]
			}
		}
	}
	x := make([]float64, n)
	for r := n - 1; r >= 0; r-- {
		if math.Abs(M[r][r]) < 1e-12 {
			continue
		}
		s := M[r][n]
		for k := r + 1; k < n; k++ {
			s -= M[r][k] * x[k]
		}
		x[r] = s / M[r][r]
	}
	return x
}

// foldOf assigns a row to one of k folds by hashing its group key (or ID),
// so lines of one order never sit on both sides of an out-of-fold encoding.
func foldOf(r *Record, k int) int {
	h := fnv.New32a()
	if r.Group != "" {
		_, _ = h.Write([]byte(r.Group))
	} else {
		_, _ = h.Write([]byte(r.ID))
	}
	return int(h.Sum32() % uint32(k))
}

// ErrNoTrainingData is returned when a model is asked to learn from nothing.
var ErrNoTrainingData = errors.New("no training rows")

// TrainBooking fits a booking model on rows with the given settings and
// chosen features. cutoff is the decay origin (normally the end of the
// training range). The combiner is fitted on 5-fold out-of-fold encodings so
// that its coefficients do not reward a feature for memorising its own rows.
func TrainBooking(ctx context.Context, rows []Record, specs []FeatureSpec, set BookingSettings, cutoff time.Time) (*BookingModel, error) {
	if len(rows) == 0 {
		return nil, ErrNoTrainingData
	}
	if len(specs) == 0 {
		return nil, errors.New("train booking model: no features")
	}
	w := make([]float64, len(rows))
	y := make([]bool, len(rows))
	for i := range rows {
		w[i] = decayWeight(rows[i].Promised, cutoff, set.HalfLifeDays)
		y[i] = rows[i].Late()
	}
	const k = 5
	X := make([][]float64, len(rows))
	flat := make([]float64, len(rows)*len(specs))
	for i := range X {
		X[i] = flat[i*len(specs) : (i+1)*len(specs)]
	}
	for f := 0; f < k; f++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("train booking model: %w", err)
		}
		var in []Record
		var inW []float64
		for i := range rows {
			if foldOf(&rows[i], k) != f {
				in = append(in, rows[i])
				inW = append(inW, w[i])
			}
		}
		enc := buildEncoder(in, inW, specs, set.M)
		for i := range rows {
			if foldOf(&rows[i], k) == f {
				enc.features(&rows[i], X[i])
			}
		}
	}
	a, beta := fitLogistic(X, y, w, set.L2)
	enc := buildEncoder(rows, w, specs, set.M)
	set.Features = make([]string, len(specs))
	for i, s := range specs {
		set.Features[i] = s.Name
	}
	return &BookingModel{
		Settings: set, Specs: specs, Tables: enc.tables, Parents: enc.parents,
		Beta: beta, Intercept: a, Prior: enc.prior, Cutoff: cutoff, Trained: len(rows),
	}, nil
}

func (bm *BookingModel) encoder() *encoder {
	return &encoder{specs: bm.Specs, tables: bm.Tables, parents: bm.Parents, prior: bm.Prior, m: bm.Settings.M}
}

// Score returns the probability that the record is delivered late.
func (bm *BookingModel) Score(r *Record) float64 {
	enc := bm.encoder()
	z := bm.Intercept
	lp := logit(bm.Prior)
	for s := range bm.Specs {
		z += bm.Beta[s] * (logit(enc.rate(s, r)) - lp)
	}
	return sigmoid(z)
}
